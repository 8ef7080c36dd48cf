"""The HTML report: self-contained, and its SVG charts survive rendering in headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.reports import TeamReport, render_reports
from gateway.reports.html import _usd
from tests.reports.chromium import chromium_binary, dump_dom, screenshot
from tests.reports.png import distinct_colours
from tests.reports.sample import sample_report


@pytest.fixture
async def report() -> TeamReport:
    return await sample_report()


def attrs(tag: str) -> dict[str, str]:
    return dict(re.findall(r"""([\w-]+)=["']([^"']*)["']""", tag))


def test_page_is_self_contained_with_headline_numbers(report: TeamReport) -> None:
    html = render_reports([report], "html", single=True).decode()
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html and "@font-face" not in html
    assert "<title>tiergate report — demo</title>" in html
    assert "01 Mar 2026 to 21 Mar 2026" in html
    assert f"exact: ${report.totals.cost.usd}" in html
    assert f"{report.totals.images:,}" in html
    assert f"{report.totals.savings_percent:.1f}%" in html
    for chart in (
        "chart-daily-spend",
        "chart-tier-mix",
        "chart-category-mix",
        "chart-escalation-rate",
    ):
        assert f"id='{chart}'" in html
    v = report.verification
    assert f"{v.requests} requests verified, {v.escalations} escalated" in html


def test_charts_render_in_headless_chromium(report: TeamReport, tmp_path: Path) -> None:
    binary = chromium_binary()
    page = tmp_path / "report.html"
    page.write_bytes(render_reports([report], "html", single=True))

    dom = dump_dom(binary, page, tmp_path)
    charts = dict(re.findall(r'<svg[^>]*id="(chart-[\w-]+)"[^>]*>(.*?)</svg>', dom, re.S))
    assert set(charts) == {
        "chart-daily-spend",
        "chart-tier-mix",
        "chart-category-mix",
        "chart-escalation-rate",
    }
    escalation_bars = re.findall(r'<rect class="bar"[^>]*>', charts["chart-escalation-rate"])
    assert len(escalation_bars) == sum(1 for d in report.daily if d.verified)
    rates = [d.escalations / d.verified for d in report.daily if d.verified]
    heights = [float(attrs(t)["height"]) for t in escalation_bars]
    # Taller bar, higher rate: the chart shows the days' escalation rates in order.
    assert sorted(range(len(rates)), key=rates.__getitem__) == sorted(
        range(len(heights)), key=lambda i: (heights[i], rates[i])
    )
    bars = [attrs(t) for t in re.findall(r'<rect class="bar"[^>]*>', charts["chart-daily-spend"])]
    assert len(bars) >= len(report.daily)  # a stack per day with spend
    assert all(float(b["width"]) > 0 and float(b["height"]) > 0 for b in bars)
    budget_line = re.search(r'<path class="budget-line"[^>]*>', charts["chart-daily-spend"])
    assert budget_line and attrs(budget_line.group())["d"].startswith("M")
    slices = [attrs(t) for t in re.findall(r'<path class="slice"[^>]*>', charts["chart-tier-mix"])]
    assert len(slices) == 2 and all(" A" in s["d"] for s in slices)
    categories = re.findall(r'<rect class="bar"[^>]*>', charts["chart-category-mix"])
    assert len(categories) == len(report.categories)
    assert all(float(attrs(t)["width"]) > 0 for t in categories)

    png = tmp_path / "report.png"
    screenshot(binary, page, tmp_path, png)
    assert distinct_colours(png.read_bytes()) > 20  # text, bars, slices: not a blank page


@pytest.mark.parametrize(
    ("usd", "shown"),
    [("0", "$0.00"), ("12.3", "$12.30"), ("1234.567", "$1,234.57"), ("-0.014858", "-$0.01")],
)
def test_money_is_rounded_to_cents_and_keeps_its_sign(usd: str, shown: str) -> None:
    # A late correction is negative on its day; "$0.01" would read as a charge.
    assert _usd(usd) == shown
