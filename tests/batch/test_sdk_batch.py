"""The official SDK runs a batch end to end: files, batches, output and error files."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import openai
import pytest

from tests.batch.conftest import Deployment, jsonl, request_line

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PNG = b"\x89PNG\r\n\x1a\n"

VALID = [
    request_line("hero", "A photorealistic portrait of a lighthouse keeper at dawn, 85mm"),
    request_line("banner", 'A banner with the headline "Summer Sale"'),
    request_line("icon", "a flat icon of a paper plane", quality="low"),
    request_line("anime", "anime girl with a katana under cherry blossoms"),
]
INVALID = {
    "no-prompt": request_line("no-prompt", "x") | {"body": {"model": "auto"}},
    "bad-size": request_line("bad-size", "a cat", size="999x999"),
    "too-many": request_line("too-many", "a cat", n=50),
    "extra-arg": request_line("extra-arg", "a cat", colour="red"),
    "bad-url": request_line("bad-url", "a cat") | {"url": "/v1/chat/completions"},
}


def sync_error(deployment: Deployment, body: dict) -> dict:  # type: ignore[type-arg]
    """What POST /v1/images/generations answers for the same body."""
    with deployment.http() as http:
        response = http.post("/v1/images/generations", json=body)
    assert response.status_code == 400, response.text
    return response.json()  # type: ignore[no-any-return]


def test_sdk_batch_of_mixed_lines(deploy: Callable[..., Deployment]) -> None:
    deployment = deploy(workers=1, alpha={"budgets": [{"period": "day", "limit_usd": 100}]})
    client = deployment.client()
    rows: list = [*VALID, *INVALID.values(), "{not json", VALID[0]]  # type: ignore[type-arg]
    uploaded = client.files.create(file=("mixed.jsonl", jsonl(rows)), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes > 0
    assert client.files.retrieve(uploaded.id).id == uploaded.id

    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/images/generations",
        completion_window="24h",
        metadata={"campaign": "summer"},
    )
    assert batch.status == "validating"
    assert batch.metadata == {"campaign": "summer"}
    done = deployment.wait(batch.id)

    assert done.status == "completed"
    counts = done.request_counts
    assert counts is not None
    assert (counts.total, counts.completed, counts.failed) == (len(rows), len(VALID), 7)
    assert done.output_file_id and done.error_file_id
    assert done.completed_at and done.in_progress_at and done.finalizing_at

    output = [json.loads(x) for x in client.files.content(done.output_file_id).text.splitlines()]
    assert [line["custom_id"] for line in output] == [r["custom_id"] for r in VALID]
    total_cost = Decimal(0)
    for line in output:
        assert line["error"] is None
        assert line["response"]["status_code"] == 200
        image = base64.b64decode(line["response"]["body"]["data"][0]["b64_json"])
        assert image.startswith(PNG)
        total_cost += Decimal(line["tiergate"]["cost_usd"])
    tiers = {line["custom_id"]: line["tiergate"]["tier"] for line in output}
    assert tiers["hero"] == "flagship" and tiers["icon"] == "efficient"
    # Batch items are verified like live calls: the headline was read back.
    verified = {line["custom_id"]: line["tiergate"].get("verify") for line in output}
    assert verified["banner"] == "text;similarity=1.00" and verified["icon"] is None

    errors = {
        (json.loads(x)["custom_id"] or "?"): json.loads(x)
        for x in client.files.content(done.error_file_id).text.splitlines()
    }
    assert len(errors) == 7
    assert errors["hero"]["response"]["body"]["error"]["code"] == "duplicate_custom_id"
    for custom_id, row in INVALID.items():
        response = errors[custom_id]["response"]
        assert response["status_code"] == 400
        if custom_id != "bad-url":
            # The same error body as the synchronous endpoint gives for the same body.
            assert response["body"] == sync_error(deployment, row["body"]), custom_id
    assert errors["?"]["response"]["body"]["error"]["code"] == "invalid_json"

    blobs = Path(deployment.env["TIERGATE_BLOB_STORE"].removeprefix("file://"))
    items = blobs / "alpha" / "batches" / done.id / "items"
    for _ in range(50):  # removed just after the batch is marked completed
        if not any(p.is_file() for p in items.rglob("*")):
            break
        time.sleep(0.1)
    assert not any(p.is_file() for p in items.rglob("*"))  # the results are in the files now
    assert (blobs / "alpha" / "files" / done.output_file_id).exists()
    with deployment.http() as http:
        (window,) = http.get("/v1/budget").json()["windows"]
    assert Decimal(window["spent_micros"]) / 1_000_000 == total_cost
    assert window["reserved_micros"] == 0
    assert Decimal(done.model_extra["spend_usd"]) == total_cost  # type: ignore[index]


def test_batch_listing_pages_like_openai(deploy: Callable[..., Deployment]) -> None:
    deployment = deploy(workers=0)
    client = deployment.client()
    uploaded = client.files.create(file=("one.jsonl", jsonl([VALID[2]])), purpose="batch")
    ids = [
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
        ).id
        for _ in range(3)
    ]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2]
    assert first.has_more
    rest = client.batches.list(limit=2, after=first.data[-1].id)
    assert [b.id for b in rest.data] == [ids[0]] and not rest.has_more
    assert [b.id for b in client.batches.list(limit=1)] == ids[::-1]  # the SDK pages on


def test_files_and_batches_are_the_teams_own(deploy: Callable[..., Deployment]) -> None:
    deployment = deploy(workers=0)
    alpha, beta = deployment.client("alpha"), deployment.client("demo")
    uploaded = alpha.files.create(file=("a.jsonl", jsonl([VALID[2]])), purpose="batch")
    batch = alpha.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
    )
    for call in (
        lambda: beta.files.retrieve(uploaded.id),
        lambda: beta.files.content(uploaded.id),
        lambda: beta.files.delete(uploaded.id),
        lambda: beta.batches.retrieve(batch.id),
        lambda: beta.batches.cancel(batch.id),
        lambda: beta.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
        ),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert [b.id for b in beta.batches.list().data] == []
    assert alpha.files.retrieve(uploaded.id).id == uploaded.id  # untouched
    assert alpha.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        alpha.files.retrieve(uploaded.id)


def test_upload_limits_are_clear_400s(deploy: Callable[..., Deployment]) -> None:
    deployment = deploy(
        workers=0,
        env={"TIERGATE_BATCH_MAX_FILE_BYTES": "4096", "TIERGATE_BATCH_MAX_FILE_LINES": "3"},
    )
    client = deployment.client()
    cases = {
        "too_many_requests_in_file": jsonl([VALID[2]] * 4),
        "file_too_large": jsonl([request_line("big", "a cat " * 2000)]),
        "empty_file": b"\n\n",
    }
    for code, content in cases.items():
        with pytest.raises(openai.BadRequestError) as refused:
            client.files.create(file=("f.jsonl", content), purpose="batch")
        assert refused.value.code == code
    with pytest.raises(openai.BadRequestError) as refused:
        client.files.create(file=("f.jsonl", jsonl([VALID[2]])), purpose="fine-tune")
    assert refused.value.param == "purpose"
    uploaded = client.files.create(file=("f.jsonl", jsonl([VALID[2]])), purpose="batch")
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    assert refused.value.param == "endpoint"


def test_reports_split_batch_from_live_and_metrics_show_the_queue(
    deploy: Callable[..., Deployment],
) -> None:
    deployment = deploy(workers=1)
    with deployment.http() as http:
        live = http.post("/v1/images/generations", json={"prompt": "a flat icon of a kite"})
        assert live.status_code == 200
    rows = [request_line(f"r-{i}", f"a flat icon of a paper plane {i}") for i in range(3)]
    client = deployment.client()
    uploaded = client.files.create(file=("r.jsonl", jsonl(rows)), purpose="batch")
    done = deployment.wait(
        client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/images/generations", completion_window="24h"
        ).id
    )
    with deployment.http() as http:
        report = http.get("/v1/reports/teams/alpha").json()
        csv_text = http.get("/v1/reports/teams/alpha", params={"format": "csv"}).text
        markdown = http.get("/v1/reports/teams/alpha", params={"format": "md"}).text
    totals = report["totals"]
    assert totals["batch"]["images"] == 3 and totals["live"]["images"] == 1
    assert Decimal(str(totals["batch"]["cost"]["usd"])) == Decimal(done.model_extra["spend_usd"])  # type: ignore[index]
    assert (
        totals["batch"]["cost"]["micros"] + totals["live"]["cost"]["micros"]
        == totals["cost"]["micros"]
    )
    assert "batch_cost_usd" in csv_text.splitlines()[0]
    assert "## Live and batch" in markdown

    import httpx

    from tests.conftest import ADMIN_KEY

    scrape = httpx.get(
        deployment.workers[0].url + "/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"}
    ).text
    assert 'tiergate_batch_jobs_total{outcome="completed"} 3.0' in scrape
    assert "tiergate_batch_item_seconds_bucket" in scrape
    gateway_scrape = httpx.get(
        deployment.gateway.url + "/metrics", headers={"authorization": f"Bearer {ADMIN_KEY}"}
    ).text
    assert 'tiergate_batch_queue_jobs{state="waiting"}' in gateway_scrape
