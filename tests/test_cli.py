"""The CLI answers an operator's mistakes with one line and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main

DAY = "2026-11-27"


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["explain", "a cat", "--model", "bogus"], {}, "The model 'bogus' does not exist"),
        (
            ["report", "--team", "demo", "--from", DAY, "--to", DAY],
            {"TIERGATE_STORE": "redis://127.0.0.1:1/0"},
            "budget store unavailable",
        ),
        (["export", "--since", DAY], {"TIERGATE_STORE": "bogus://"}, "unsupported budget store"),
        (["export", "--since", DAY], {"TIERGATE_PORT": "abc"}, "port"),
        (
            ["report", "--team", "demo", "--from", DAY, "--to", DAY, "--out", "/nonexistent/r"],
            {},
            "No such file or directory",
        ),
        (["keys", "new", "--team", "a b"], {}, "invalid team 'a b'"),
        (["keys", "new", "--team", "ok", "--id", "Not OK"], {}, "invalid key id 'Not OK'"),
    ],
)
def test_operator_mistakes_are_one_line_and_exit_2(
    argv: list[str],
    env: dict[str, str],
    says: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert main(argv) == 2

    captured = capsys.readouterr()
    assert says in captured.err
    assert "Traceback" not in captured.err
    assert "key: " not in captured.out  # keys new printed no key it would then reject


def test_a_policy_that_is_not_utf8_is_a_policy_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(b"tiers: \xff\xfe")

    assert main(["policy", "check", str(policy)]) == 1
    assert "not UTF-8 text" in capsys.readouterr().out


def test_report_warns_that_a_memory_store_holds_no_gateway_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIERGATE_STORE", "memory://")

    assert main(["report", "--team", "demo", "--from", DAY, "--to", DAY]) == 0
    assert "memory://" in capsys.readouterr().err  # an all-zero report is not the real one
