"""Headless Chromium for the HTML report: screenshot and the DOM after rendering."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_binary() -> str:
    """The chromium executable; skip without one unless TIERGATE_REQUIRE_CHROMIUM=1 (CI)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("TIERGATE_REQUIRE_CHROMIUM") == "1":
        pytest.fail("chromium is required (TIERGATE_REQUIRE_CHROMIUM=1) but is not installed")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def run_chromium(
    binary: str, page: Path, work: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    profile = work / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def screenshot(binary: str, page: Path, work: Path, out: Path, window: str = "1280,2000") -> None:
    done = run_chromium(binary, page, work, f"--screenshot={out}", f"--window-size={window}")
    assert out.is_file() and out.stat().st_size > 0, done.stderr[-2000:]


def dump_dom(binary: str, page: Path, work: Path) -> str:
    done = run_chromium(binary, page, work, "--dump-dom")
    assert done.returncode == 0 and "<svg" in done.stdout, done.stderr[-2000:]
    return done.stdout
