"""Bootstrap intervals (xkd.evaluate.intervals) against hand-computed cases, and in eval.json."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xkd.evaluate import intervals as I


def test_the_accuracy_interval_is_the_binomial_bootstrap_by_hand():
    # 3 of 4 right: a resample's accuracy is Binomial(4, 0.75) / 4, with
    # P(0)=1/256, P(1/4)=12/256, P(1/2)=54/256, P(3/4)=108/256, P(1)=81/256;
    # the CDF first reaches 2.5 % at 1/4 (13/256 = 5.1 %) and 97.5 % at 1 (175/256 < 97.5 %).
    assert I.accuracy_interval([1, 1, 1, 0], resamples=20_000) == (0.25, 1.0)
    # all right: no resample can be wrong
    assert I.accuracy_interval([True] * 7) == (1.0, 1.0)
    assert all(math.isnan(v) for v in I.accuracy_interval([]))


def test_the_accuracy_interval_matches_the_exact_binomial_quantiles():
    correct = [1] * 33 + [0] * 17  # n=50, accuracy 0.66
    lo, hi = I.accuracy_interval(correct, resamples=200_000)
    exact = stats.binom.ppf([0.025, 0.975], 50, 0.66) / 50  # inverted-CDF quantiles
    assert lo == pytest.approx(exact[0], abs=1 / 50 + 1e-9)
    assert hi == pytest.approx(exact[1], abs=1 / 50 + 1e-9)
    assert lo < 0.66 < hi


def test_counts_resampling_equals_resampling_items():
    """Drawing the outcome counts is the item bootstrap: compare with resampling indexes."""
    rng = np.random.default_rng(1)
    a = rng.random(40) < 0.7
    b = rng.random(40) < 0.5
    idx = rng.integers(0, 40, size=(40_000, 40))
    naive = (a[idx].astype(float) - b[idx]).mean(axis=1)
    gain = I.paired_gain(a, b, resamples=40_000)
    naive_lo, naive_hi = np.quantile(naive, [0.025, 0.975], method="inverted_cdf")
    assert gain.low == pytest.approx(naive_lo, abs=1 / 40 + 1e-9)
    assert gain.high == pytest.approx(naive_hi, abs=1 / 40 + 1e-9)


def test_the_paired_gain_by_hand():
    # student right on items 1, 2, 4; baseline right on item 2: d = [1, 0, 0, 1], gain 0.5.
    # A resample's gain is Binomial(4, 0.5) / 4: P(0) = 1/16, so the 2.5 % quantile is 0 and
    # the interval [0, 1] includes 0: not significant; p = 2 * P(gain* <= 0) = 2/16.
    g = I.paired_gain([1, 1, 0, 1], [0, 1, 0, 0], resamples=40_000)
    assert g.gain == 0.5 and (g.low, g.high) == (0.0, 1.0) and g.n == 4
    assert not g.significant
    assert g.p == pytest.approx(2 / 16, abs=0.01)
    # 30 items where the student wins 20 and never loses: significant
    strong = I.paired_gain([1] * 30, [1] * 10 + [0] * 20)
    assert strong.significant and strong.low > 0 and strong.p < 0.001
    # equal models: gain 0, p = 1
    tie = I.paired_gain([1, 0, 1], [1, 0, 1])
    assert (tie.gain, tie.low, tie.high, tie.p, tie.significant) == (0, 0, 0, 1.0, False)


def test_the_paired_gain_refuses_unpaired_or_non_binary_input():
    with pytest.raises(ValueError, match="differ in number"):
        I.paired_gain([1, 0], [1])
    with pytest.raises(ValueError, match="0/1"):
        I.accuracy_interval([0.5, 1])
    assert I.paired_gain([], []) is None


def test_the_mean_gain_resamples_each_language_on_its_own():
    # one language with a sure gain of +1 (every item), one with a sure 0: mean 0.5, no spread
    g = I.mean_gain({"de": ([1] * 5, [0] * 5), "fr": ([1, 0], [1, 0])})
    assert (g.gain, g.low, g.high, g.n) == (0.5, 0.5, 0.5, 2)
    assert g.significant


def test_the_seed_interval_is_student_t():
    s = I.seed_interval([0.5, 0.6, 0.7])
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)  # sd = 0.1
    assert s["mean"] == pytest.approx(0.6) and s["sd"] == pytest.approx(0.1)
    assert (s["low"], s["high"]) == pytest.approx((0.6 - half, 0.6 + half))
    one = I.seed_interval([0.4])
    assert one["mean"] == 0.4 and math.isnan(one["low"]) and one["n"] == 1


def test_prediction_intervals_of_a_predictions_frame():
    logits = {"right": np.array([2.0, 0.0]), "wrong": np.array([0.0, 2.0])}
    rows = []
    # en: student right 4/4, baseline 2/4; de: student 3/4, baseline 1/4; one unlabelled row
    for lang, s, b in (("en", "rrrr", "rrww"), ("de", "rrrw", "rwww")):
        for i, (si, bi) in enumerate(zip(s, b, strict=True)):
            rows.append(
                {
                    "language": lang,
                    "label": "a",
                    "pair_id": f"p{i}",
                    "teacher_logits": logits["right"],
                    "student_logits": logits["right" if si == "r" else "wrong"],
                    "baseline_logits": logits["right" if bi == "r" else "wrong"],
                }
            )
    rows.append({**rows[0], "label": None, "language": "de"})
    out = I.prediction_intervals(pd.DataFrame(rows), labels=["a", "b"], source_language="en")
    de = out["languages"]["de"]
    assert de["kd_gain"]["gain"] == 0.5 and de["kd_gain"]["n"] == 4
    assert de["teacher"] == [1.0, 1.0]
    assert de["student"] == list(I.accuracy_interval([1, 1, 1, 0]))
    # the headline's mean gain is over target languages only (de), not the source
    assert out["kd_gain"]["gain"] == 0.5 and out["kd_gain"]["n"] == 1


def test_the_docstring_example_runs():
    result = doctest.testmod(I, verbose=False)
    assert result.attempted >= 2 and result.failed == 0


def test_a_run_writes_an_interval_for_every_accuracy_and_gain(tiny_teacher_dir, tiny_csv, tmp_path):
    import xkd
    from tests.test_experiment import _config
    from xkd.runs import RunFolder

    cfg = _config(tiny_teacher_dir, tiny_csv, **{"train.mixed_precision": "no"})
    result = xkd.distill(cfg, runs_dir=tmp_path / "runs")
    saved = RunFolder(result.run_dir).read_eval()
    preds = pd.read_parquet(RunFolder(result.run_dir).predictions_path)
    for lang, entry in saved["languages"].items():
        for model in ("teacher", "student", "baseline"):
            lo, hi = entry[model]["accuracy_ci"]
            assert lo <= entry[model]["accuracy"] <= hi
        gain = entry["kd_gain"]
        assert gain["gain"] == pytest.approx(
            entry["student"]["accuracy"] - entry["baseline"]["accuracy"]
        )
        assert gain["low"] <= gain["gain"] <= gain["high"] and gain["n"] == entry["n"]
        # the same numbers as the predictions table gives
        again = I.prediction_intervals(preds, labels=saved["labels"], source_language="en")
        assert again["languages"][lang]["kd_gain"] == gain
    h = saved["headline"]
    assert h["kd_gain_low"] <= h["kd_gain"] <= h["kd_gain_high"]
    assert h["kd_gain_significant"] == (h["kd_gain_low"] > 0 or h["kd_gain_high"] < 0)
