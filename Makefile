# Two entry points: `make demo` and `make test`. Both install from the hash-pinned lock first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: install demo test lint lock clean train-classifier

$(STAMP): requirements-dev.lock requirements-pip.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-pip.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tiergate demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check gateway tests bench training
	$(BIN)/mypy

# Rebuild gateway/classify/learned/flagship_model.json from training/classifier (seeded: the
# same pins give the same file). Training-only packages go into the same venv.
train-classifier: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r training/requirements.txt
	$(BIN)/python training/classifier/train.py

# Regenerate the locks after changing dependencies in pyproject.toml (needs uv).
lock:
	uv lock
	uv export --frozen --no-emit-project --format requirements-txt -o requirements.lock
	uv export --frozen --extra dev --no-emit-project --format requirements-txt -o requirements-dev.lock

clean:
	rm -rf $(VENV)
