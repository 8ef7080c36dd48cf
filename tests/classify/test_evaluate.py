"""Eval metrics on a 7-row CSV whose expected numbers are worked out by hand below.

Predictions of the shipped classifier (flagship iff typography/photorealism/anime fires):
  t1 photo of a cat          gold photorealism/flagship   pred photorealism/flagship  ok
  t2 sign that says 'OPEN'   gold headline/efficient      pred headline/efficient     ok
  t3 logo for a bakery       gold mockup/efficient        pred mockup/efficient       ok
  t4 a red car               gold general/efficient       pred general/efficient      ok
  t5 a cute dog              gold anime/flagship          pred general/efficient      miss
  t6 painting, realistic     gold photo/flagship (ambig.) pred general/efficient      miss
  t7 studio portrait photo   gold general/efficient       pred photorealism/flagship  false alarm
Unambiguous rows: t1-t5, t7 (6).
  tier_accuracy 4/6; tier_accuracy_all 4/7; flagship_recall 1/2 (t1 of t1,t5);
  flagship_precision 1/2 (t1 of t1,t7); efficient_recall 3/4 (t2,t3,t4 of t2,t3,t4,t7);
  flagship_recall_all 1/3 (t1 of t1,t5,t6).
  photorealism tp1 fp1 fn0 -> P .5 R 1 F1 2/3; headline, mockup 1/1/1; anime 0/0/0;
  general tp1 (t4) fp1 (t5) fn1 (t7) -> .5/.5/.5; typography has no support (left out).
  macro_f1 = (2/3 + 1 + 1 + 0 + .5) / 5 = 0.6333
Cost with image prices flagship 100, efficient 60 and free text:
  all flagship 700; routed 2x100 + 5x60 = 500 -> saving 2/7; oracle 3x100 + 4x60 = 540 -> 16/70.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from gateway.classify import Category, Classifier
from gateway.classify.evaluate import (
    add_eval_arguments,
    eval_command,
    evaluate,
    format_table,
    load_dataset,
)

TINY = Path(__file__).parent / "data" / "tiny.csv"
FREE_TEXT = {"flagship": 0.0, "efficient": 0.0}
PRICES = {"flagship": 100.0, "efficient": 60.0}


def test_metrics_match_hand_computed_values(classifier: Classifier) -> None:
    report = evaluate(
        load_dataset(TINY),
        classifier,
        price_per_tier_micros=PRICES,
        text_micros_per_token=FREE_TEXT,
    )
    assert (report.n, report.n_unambiguous) == (7, 6)
    assert report.tier_accuracy == pytest.approx(4 / 6)
    assert report.tier_accuracy_all == pytest.approx(4 / 7)
    assert report.flagship_recall == pytest.approx(1 / 2)
    assert report.flagship_precision == pytest.approx(1 / 2)
    assert report.efficient_recall == pytest.approx(3 / 4)
    assert report.flagship_recall_all == pytest.approx(1 / 3)
    photo = report.per_category[Category.PHOTOREALISM]
    assert (photo.precision, photo.recall, photo.f1, photo.support) == pytest.approx(
        (0.5, 1.0, 2 / 3, 1)
    )
    general = report.per_category[Category.GENERAL]
    assert (general.precision, general.recall, general.f1, general.support) == pytest.approx(
        (0.5, 0.5, 0.5, 2)
    )
    assert report.per_category[Category.ANIME].f1 == 0.0
    assert report.per_category[Category.TYPOGRAPHY].support == 0
    assert report.macro_f1 == pytest.approx((2 / 3 + 1 + 1 + 0 + 0.5) / 5)
    assert report.cost_saving_vs_all_flagship == pytest.approx(2 / 7)
    assert report.oracle_cost_saving == pytest.approx(16 / 70)
    assert 0 < report.classify_us_p50 <= report.classify_us_p99


def test_custom_tier_function_is_used(classifier: Classifier) -> None:
    report = evaluate(load_dataset(TINY), classifier, tier_of=lambda _c: "flagship")
    assert report.flagship_recall_all == 1.0
    assert report.efficient_recall == 0.0
    assert report.cost_saving_vs_all_flagship == 0.0


def test_json_output_has_exactly_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_eval_arguments(parser)
    assert eval_command(parser.parse_args(["--dataset", str(TINY), "--json"])) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {
        "n", "n_unambiguous", "tier_accuracy", "tier_accuracy_all", "flagship_recall",
        "flagship_precision", "efficient_recall", "flagship_recall_all", "per_category",
        "macro_f1", "cost_saving_vs_all_flagship", "oracle_cost_saving", "classify_us_p50",
        "classify_us_p99",
    }  # fmt: skip
    assert set(payload["per_category"]["photorealism"]) == {"precision", "recall", "f1", "support"}
    assert payload["tier_accuracy"] == pytest.approx(4 / 6, abs=1e-4)


def test_table_output_is_readable(classifier: Classifier) -> None:
    table = format_table(evaluate(load_dataset(TINY), classifier))
    assert "tier accuracy" in table and "| photorealism |" in table


def test_bad_dataset_rows_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,prompt,source,source_label,categories,tier,ambiguous\nx,p,s,l,photo,flagship,no\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad\.csv:2"):
        load_dataset(bad)
