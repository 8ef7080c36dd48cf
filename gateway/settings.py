"""Runtime settings: one pydantic-settings class, every field overridable as ``TIERGATE_<NAME>``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERGATE_", extra="forbid", frozen=True)

    policy: Path | None = Field(
        default=None, description="Policy YAML file; the embedded demo policy when unset."
    )
    policy_watch_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How often the policy file is checked for a change to reload (0: never).",
    )
    policy_reload_on_sighup: bool = Field(
        default=True, description="Reload the policy file on SIGHUP."
    )
    store: str = Field(default="memory://", description="Budget store URL: memory:// or redis://…")
    store_key_prefix: str = Field(
        default="tg", pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="Prefix of every store key."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    reaper_interval_seconds: float = Field(default=5.0, gt=0)
    reservation_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Added to the tier timeout to form a reservation's deadline.",
    )
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    body_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Longest a client may take to send the request body."
    )
    max_in_flight: int = Field(
        default=6000,
        gt=0,
        description="Most image requests one worker process holds at once (the adaptive "
        "limit stays below it). Past the limit, a new one is answered 503 server_overloaded "
        "with Retry-After at once, never queued (docs/operations.md).",
    )
    adaptive_in_flight: bool = Field(
        default=True,
        description="Lower the in-flight limit to what this worker's CPU can carry, measured "
        "as it runs (Little's law: target_cpu_utilisation x time held / CPU per request).",
    )
    target_cpu_utilisation: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of one core the adaptive in-flight limit aims to keep busy.",
    )
    min_in_flight: int = Field(
        default=512,
        gt=0,
        description="The adaptive in-flight limit never goes below this.",
    )
    max_loop_lag_ms: float = Field(
        default=250.0,
        gt=0,
        description="Event-loop lag past which a worker refuses new image requests with 503 "
        "server_overloaded: the sign that its CPU cannot carry more.",
    )
    overload_retry_after_seconds: int = Field(
        default=5,
        ge=1,
        le=60,
        description="Retry-After of a 503 server_overloaded; with the adaptive limit, the "
        "shortest: it grows (to 60) while refusals outnumber answers.",
    )
    upstream_max_connections: int | None = Field(
        default=None,
        gt=0,
        description="Connections the direct upstream path may open per worker; default "
        "max_in_flight (a request holds at most one).",
    )
    listen_backlog: int = Field(
        default=8192,
        gt=0,
        description="The listening socket's accept queue (the kernel caps it at "
        "net.core.somaxconn).",
    )
    journal_dir: Path = Field(
        default=Path(".tiergate/journal"),
        description="Where spend that could not reach the store waits for replay.",
    )
    ledger_maxlen: int = Field(
        default=100_000, gt=0, description="Approximate cap of each team's ledger stream."
    )
    aggregates_retention_days: int = Field(
        default=400, gt=0, description="How long each team's daily aggregates are kept."
    )
    drain_seconds: float = Field(default=30.0, ge=0, description="Graceful shutdown budget.")
    upstream: Literal["auto", "litellm"] = Field(
        default="auto",
        description="auto: a direct httpx call for openai/… and azure_ai/MAI-… tiers with an "
        "api_base, litellm for every other provider; litellm: litellm for every tier.",
    )
    upstream_transport: Literal["aiohttp", "httpx"] = Field(
        default="aiohttp",
        description="HTTP client under the direct path: aiohttp (C-accelerated HTTP/1.1, ~0.35 ms "
        "less CPU per call) or httpx's own httpcore stack.",
    )
    blob_store: str = Field(
        default="file://.tiergate/blobs",
        description="Where batch files and results are kept: file://DIR (workers on one host "
        "share it) or s3://BUCKET/PREFIX?endpoint=URL&region=R (credentials from AWS_*).",
    )
    url_signing_key: SecretStr | None = Field(
        default=None,
        description="Key that signs image URLs (response_format=url). Set the same value on "
        "every replica; unset, each process makes a random one and its links work only there "
        "and until it restarts.",
    )
    image_url_ttl_seconds: int = Field(
        default=3600, gt=0, le=7 * 86_400, description="How long an image URL works."
    )
    image_retention_seconds: int = Field(
        default=3600,
        gt=0,
        description="How long an image answered as a URL is kept (at least its URL's life).",
    )
    image_sweep_interval_seconds: float = Field(
        default=300, gt=0, description="How often images past their retention are removed."
    )
    public_base_url: str | None = Field(
        default=None,
        description="Base of the image URLs handed out (https://images.example.com); "
        "default: the scheme and Host of the request.",
    )
    edit_max_image_bytes: int = Field(
        default=25 * 1024 * 1024,
        gt=0,
        description="Largest image or mask file in an edit request (bytes), as OpenAI's 25 MB.",
    )
    batch_max_file_bytes: int = Field(
        default=100 * 1024 * 1024, gt=0, description="Largest batch input file (bytes)."
    )
    batch_max_file_lines: int = Field(
        default=50_000, gt=0, description="Most requests in one batch input file (as OpenAI)."
    )
    batch_visibility_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A batch job whose worker stopped renewing it this long ago (it died) is "
        "claimed by another worker.",
    )
    batch_worker_concurrency: int = Field(
        default=256, gt=0, description="Batch jobs one worker process runs at once."
    )
    batch_in_process_worker: bool | None = Field(
        default=None,
        description="Run a batch worker inside each gateway process; default: only with the "
        "memory:// store, where no other process can see the batches.",
    )
    verify_ocr_threads: int = Field(
        default=2,
        gt=0,
        description="Threads that read verified images (OCR) per worker process; requests "
        "beyond them wait for a thread, never the event loop.",
    )
    verify_ocr_max_side: int = Field(
        default=1024,
        ge=64,
        description="Images are scaled to at most this many pixels on their longest side "
        "before OCR (fewer pixels read faster).",
    )
