"""Unit tests of the benchmark helpers (timing, ratios, figures, result files) and of the
``python -m benchmarks`` entry point with tiny models. No timing is asserted: these run in
seconds on any machine and only check the plumbing.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from benchmarks import common
from benchmarks.common import Figure


def test_median_and_ratio_helpers():
    assert common.median([3.0, 1.0, 2.0]) == 2.0
    assert common.median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert common.median([float("nan"), 1.0, 3.0]) == 2.0
    assert math.isnan(common.median([]))
    assert common.ratio(3.0, 2.0) == 1.5
    assert math.isnan(common.ratio(1.0, 0.0))
    assert math.isnan(common.ratio(None, 1.0))
    assert common.paired_ratios([2.0, 3.0], [1.0, 3.0]) == [2.0, 1.0]
    q = common.quantiles([4.0, 1.0, 3.0, 2.0])
    assert q["n"] == 4 and q["min"] == 1.0 and q["max"] == 4.0 and q["median"] == 2.5
    assert common.quantiles([5.0])["median"] == 5.0
    assert common.quantiles([]) == {"n": 0}


def test_padding_ratio_and_random_batches():
    assert common.padding_ratio([1, 2, 3, 4], [[0, 3], [1, 2]]) == pytest.approx(1.4)
    assert common.padding_ratio([5, 5], [[0, 1]]) == 1.0
    batches = common.random_batches(5, 2, seed=0, epochs=2)
    assert [len(b) for b in batches] == [2, 2, 1, 2, 2, 1]
    assert sorted(i for b in batches[:3] for i in b) == list(range(5))  # each epoch: all rows once
    assert batches == common.random_batches(5, 2, seed=0, epochs=2)  # deterministic


def test_recording_adamw_gives_the_reference_side_the_same_settings():
    import torch

    params = [torch.nn.Parameter(torch.zeros(3))]
    seen: dict = {}
    with common.recording_adamw(seen):
        opt = torch.optim.AdamW(params, lr=0.1, weight_decay=0.5, foreach=False)
    assert isinstance(opt, torch.optim.AdamW)
    assert torch.optim.AdamW.__name__ == "AdamW"  # restored after the block
    assert seen == {"lr": 0.1, "weight_decay": 0.5, "foreach": False}
    ref = common.same_adamw(params, seen, lr=0.2, weight_decay=0.0)
    group = ref.param_groups[0]
    assert group["lr"] == 0.2 and group["weight_decay"] == 0.5 and group["foreach"] is False
    default = common.same_adamw(params, {}, lr=0.2, weight_decay=0.01)
    assert default.param_groups[0]["weight_decay"] == 0.01


def test_abba_order_alternates():
    assert common.abba_order(["a", "b"], 0) == ["a", "b"]
    assert common.abba_order(["a", "b"], 1) == ["b", "a"]
    assert common.abba_order(["a", "b"], 2) == ["a", "b"]


def test_interleaved_alternates_and_collects_samples():
    calls = []
    fake_time = iter(range(1000))

    def make(name, returns=None):
        def fn(rep):
            calls.append((name, rep))
            return returns

        return fn

    samples = common.interleaved(
        {"a": make("a"), "b": make("b", returns=[0.5, 0.25]), "c": make("c", returns=0.125)},
        repeats=2,
        warmup=1,
        clock=lambda: float(next(fake_time)),
    )
    # warm-up round (rep -1) first, then ABBA order, same repetition index for every side
    assert calls[:3] == [("c", -1), ("b", -1), ("a", -1)]
    assert calls[3:6] == [("a", 0), ("b", 0), ("c", 0)]
    assert calls[6:] == [("c", 1), ("b", 1), ("a", 1)]
    assert samples["a"] == [1.0, 1.0]  # wall time from the (fake) clock
    assert samples["b"] == [0.5, 0.25, 0.5, 0.25]  # a list: several samples
    assert samples["c"] == [0.125, 0.125]  # a float: the time the function measured itself


def test_compare_reports_ratio_of_medians_and_paired():
    cmp = common.compare({"kd": [2.0, 4.0, 3.0], "bare": [1.0, 2.0, 2.0]}, "kd", "bare")
    assert cmp["ratio_of_medians"] == pytest.approx(1.5)
    assert cmp["median_of_paired_ratios"] == pytest.approx(2.0)
    assert cmp["kd"]["median"] == 3.0 and cmp["bare"]["n"] == 3


@pytest.mark.parametrize(
    ("value", "target", "op", "verdict"),
    [
        (1.05, 1.10, "<=", "PASS"),
        (1.20, 1.10, "<=", "FAIL"),
        (2.5, 2.0, ">=", "PASS"),
        (1.5, 2.0, ">=", "FAIL"),
        (float("nan"), 2.0, ">=", "FAIL"),
        (None, 1.0, "<=", "FAIL"),
        (3.0, None, "info", "INFO"),
    ],
)
def test_figure_verdicts(value, target, op, verdict):
    assert Figure("x", value, target, op).verdict == verdict


def test_figure_extra_conditions_and_status():
    fig = Figure("x", 2.5, 2.0, ">=", extra_pass={"accuracies agree": False})
    assert fig.verdict == "FAIL"
    assert common.skipped("x", "folder missing").verdict == "SKIP"
    assert common.errored("x", ValueError("boom")).verdict == "ERROR"
    with pytest.raises(ValueError):
        Figure("x", 1.0, 1.0, "<")


def test_figure_line_ends_with_name_value():
    line = Figure("kd_step_overhead", 1.0432, 1.10, "<=", summary="KD/bare", quick=True).line()
    assert line.startswith("PASS")
    assert "[quick]" in line and "(target <= 1.100)" in line
    assert line.endswith("kd_step_overhead=1.043")
    skip = common.skipped("sib200_kd_gain", "SIB-200 subset not found").line()
    assert skip.startswith("SKIP") and "not found" in skip and skip.endswith("sib200_kd_gain=nan")
    assert re.search(r"\S+=\S+$", Figure("big", 1234.5).line())


def test_fmt():
    assert common.fmt(None) == "nan"
    assert common.fmt(float("inf")) == "nan"
    assert common.fmt(3) == "3"
    assert common.fmt(1234.56) == "1234.6"
    assert common.fmt(1.23456) == "1.235"
    assert common.fmt(0.0123456) == "0.01235"


def test_write_results_json(tmp_path):
    figures = [
        Figure("a", 1.0, 1.1, "<=", details={"nan": float("nan"), "path": tmp_path}),
        Figure("b", 0.5, 2.0, ">="),
        common.skipped("c", "missing"),
    ]
    info = {"cpu_model": "test cpu", "usable_cores": 2}
    p1 = common.write_results(
        figures, tmp_path, quick=True, argv=["x"], machine_info=info, stamp="s"
    )
    p2 = common.write_results(
        figures, tmp_path, quick=True, argv=["x"], machine_info=info, stamp="s"
    )
    assert p1 != p2 and p1.name == "s-quick.json"  # never overwrites
    doc = json.loads(p1.read_text())
    assert doc["quick"] is True and doc["machine"]["cpu_model"] == "test cpu"
    a = doc["figures"]["a"]
    assert a["value"] == 1.0 and a["target"] == 1.1 and a["pass"] is True
    assert a["details"]["nan"] is None  # NaN is not valid JSON: written as null
    assert doc["figures"]["b"]["pass"] is False
    assert doc["figures"]["c"]["verdict"] == "SKIP"
    assert doc["summary"]["PASS"] == ["a"] and doc["summary"]["FAIL"] == ["b"]
    assert not list(tmp_path.glob("*.tmp"))


def test_machine_description():
    info = common.machine()
    for key in ("cpu_model", "logical_cores", "usable_cores", "ram_gb", "gpu", "versions"):
        assert key in info
    assert info["versions"]["torch"]
    assert info["versions"]["xkd"]


def test_run_measured_reports_wall_and_peak(tmp_path):
    import sys

    code = "x = bytearray(50 * 2**20); import time; time.sleep(0.3); print('done')"
    stats = common.run_measured([sys.executable, "-c", code])
    assert stats.returncode == 0 and "done" in stats.stdout
    assert stats.wall_s > 0
    assert stats.peak_rss_mb > 40  # the 50 MiB buffer is resident


def test_select_modules_by_module_or_figure_name():
    from benchmarks.__main__ import BENCHMARKS, all_figures, select

    assert select(None) == list(BENCHMARKS)
    assert select("kd_step_overhead") == ["kd_step"]
    assert select("demo_peak_rss_mb,projection") == ["projection", "demo"]
    with pytest.raises(SystemExit):
        select("nope")
    names = all_figures()
    assert len(names) == len(set(names))
    for required in (
        "kd_step_overhead",
        "vs_sentence_transformers",
        "vs_textbrewer",
        "demo_wall_s",
        "demo_peak_rss_mb",
        "demo_vs_teacher_pass",
        "first_map_ratio",
        "projection_pca_s",
        "projection_umap_warm_s",
        "projection_umap_cold_s",
        "student_vs_teacher_throughput",
        "sib200_kd_gain",
    ):
        assert required in names


def test_only_with_tiny_models_prints_name_value_and_writes_json(tmp_path, capsys):
    from benchmarks.__main__ import main

    argv = ["--only", "kd_step_overhead", "--tiny", "--quick", "--threads", "1"]
    code = main([*argv, "--out", str(tmp_path)])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert len(out) == 1
    assert re.search(r"\[quick\] .*kd_step_overhead=[0-9.]+$", out[0]), out[0]
    files = list(tmp_path.glob("*-quick.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())
    fig = doc["figures"]["kd_step_overhead"]
    assert fig["target"] == 1.1 and fig["op"] == "<=" and fig["quick"] is True
    assert fig["value"] > 0 and fig["pass"] in (True, False)
    assert fig["details"]["comparison"]["kd"]["n"] > 0


def test_list_exits_cleanly(capsys):
    from benchmarks.__main__ import main

    assert main(["--list"]) == 0
    assert "kd_step: kd_step_overhead" in capsys.readouterr().out
