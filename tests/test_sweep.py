"""Sweeps: members from a spec, the teacher paid once, baselines shared by fingerprint,
stop and resume, the CLI."""

from __future__ import annotations

import json

import pytest

from tests.test_experiment import _config
from xkd.errors import ConfigError
from xkd.runs import RunFolder
from xkd.sweep import ablation, load_sweep, resume_sweep, run_sweep, start_sweep
from xkd.sweep.summary import language_rows, member_rows, seed_summary
from xkd.train.callbacks import Callback


def _base(tiny_teacher_dir, tiny_csv) -> dict:
    return _config(tiny_teacher_dir, tiny_csv, **{"train.mixed_precision": "no"})


def test_members_are_variants_crossed_with_the_grid():
    spec = load_sweep(
        {
            "name": "tx",
            "base": {"preset": "demo", "set": {"train.epochs": 1}},
            "variants": [{"name": "kd"}, {"name": "np", "set": {"data.parallel": False}}],
            "grid": {"distill.temperature": [1.0, 4.0]},
        }
    )
    members = spec.members()
    assert [m.name for m in members] == ["kd-T=1", "kd-T=4", "np-T=1", "np-T=4"]
    assert members[3].config.data.parallel is False and members[3].config.distill.temperature == 4
    assert all(m.config.train.epochs == 1 for m in members)
    assert spec.varied_keys() == ["data.parallel", "distill.temperature"]


def test_a_bad_member_fails_the_sweep_before_anything_runs(tmp_path):
    raw = {
        "name": "bad",
        "base": {"preset": "demo"},
        "variants": [{"name": "ok"}, {"name": "hot", "set": {"distill.temperature": -1}}],
    }
    with pytest.raises(ConfigError, match="member 'hot'.*temperature"):
        start_sweep(raw, runs_dir=tmp_path)
    assert not (tmp_path / "sweeps").exists() or not any((tmp_path / "sweeps").iterdir())
    with pytest.raises(ConfigError, match="unknown key"):
        load_sweep({"name": "x", "base": {"preset": "demo"}, "grids": {}})
    with pytest.raises(ConfigError, match="train.nope"):
        load_sweep(
            {"base": {"preset": "demo"}, "variants": [{"name": "a", "set": {"train.nope": 1}}]}
        ).members()


def test_the_ablations_say_what_they_test():
    from xkd.presets import preset

    demo = preset("demo")
    spec = ablation("ablation", demo)
    names = [m.name for m in spec.members()]
    assert names == [
        "kd",
        "kd-no-parallel",
        "without-parallel_mse",
        "without-kl",
        "kd-seed1",
        "kd-seed2",
    ]
    assert "parallel data" in spec.question
    grid = ablation("temperature-alpha", demo).members()
    assert len(grid) == 6 and {m.config.distill.alpha for m in grid} == {0.0, 0.5}
    budget = ablation("budget", demo).members()
    assert [m.config.data.max_pairs_per_language for m in budget] == [4, 8, 16, 32, None]
    shares = ablation("balance", demo).members()
    assert [m.name for m in shares] == ["s=1", "s=0.3", "s=0"]
    assert [m.config.train.sampling_exponent for m in shares] == [1.0, 0.3, 0.0]
    one_term = dict(demo, distill={"losses": [{"name": "kl"}], "alpha": 0.0})
    with pytest.raises(ConfigError, match="one loss term"):
        ablation("losses", one_term)


class Encoded(Callback):
    pass


@pytest.fixture(scope="module")
def ablation_sweep(tiny_teacher_dir, tiny_csv, tmp_path_factory):
    """The demo ablation on tiny models, run once for the tests below."""
    runs = tmp_path_factory.mktemp("sweep-runs")
    spec = ablation("ablation", _base(tiny_teacher_dir, tiny_csv))
    result = run_sweep(spec, runs_dir=runs)
    return runs, result


def _evals(result) -> dict:
    out = {}
    for m in result.manifest.members:
        out[m.name] = RunFolder(result.folder.runs_dir / m.run_id).read_eval()
    return out


def test_the_teacher_encoder_runs_once_per_sweep(ablation_sweep):
    _, result = ablation_sweep
    assert result.state == "finished"
    assert [m.state for m in result.manifest.members] == ["finished"] * 6
    evals = _evals(result)
    encoded = {n: e["teacher_info"]["teacher_texts_encoded"] for n, e in evals.items()}
    assert encoded["kd"] > 0
    assert all(encoded[n] == 0 for n in encoded if n != "kd"), encoded
    assert all(evals[n]["teacher_info"]["cache_shared"] > 0 for n in evals if n != "kd")
    # one head per seed: kd-seed1 and kd-seed2 fit their own, the seed-0 members share kd's
    assert all(
        evals[n]["teacher_info"].get("head_shared")
        for n in ("kd-no-parallel", "without-parallel_mse", "without-kl")
    )
    assert not evals["kd-seed1"]["teacher_info"].get("head_shared")


def test_the_baseline_is_trained_once_per_seed(ablation_sweep):
    _, result = ablation_sweep
    evals = _evals(result)
    runs = {m.name: m.run_id for m in result.manifest.members}
    shared = {n: e["teacher_info"].get("baseline_shared_from") for n, e in evals.items()}
    assert shared["kd"] is None and shared["kd-seed1"] is None and shared["kd-seed2"] is None
    for name in ("kd-no-parallel", "without-parallel_mse", "without-kl"):
        assert shared[name] == runs["kd"]
        for lang, entry in evals[name]["languages"].items():
            assert entry["baseline"] == evals["kd"]["languages"][lang]["baseline"]
        folder = RunFolder(result.folder.runs_dir / runs[name])
        phases = {r.get("phase") for r in folder.read_metrics()}
        assert "baseline" in phases  # its training records were copied
        assert (folder.baseline_dir / "config.json").is_file()


def test_a_shared_baseline_and_head_equal_training_them(
    ablation_sweep, tiny_teacher_dir, tiny_csv, tmp_path
):
    """Sharing must not change a result: the no-parallel member run on its own (nothing
    shared) gives the same baseline and teacher numbers as in the sweep."""
    import xkd

    _, result = ablation_sweep
    cfg = _base(tiny_teacher_dir, tiny_csv)
    cfg["data"]["parallel"] = False
    alone = xkd.distill(cfg, runs_dir=tmp_path / "alone")
    mine = alone.eval["languages"]
    swept = _evals(result)["kd-no-parallel"]["languages"]
    for lang in mine:
        assert mine[lang]["baseline"]["accuracy"] == swept[lang]["baseline"]["accuracy"]
        assert mine[lang]["teacher"]["accuracy"] == swept[lang]["teacher"]["accuracy"]
        assert mine[lang]["student"]["accuracy"] == pytest.approx(
            swept[lang]["student"]["accuracy"]
        )


def test_the_sweep_tables(ablation_sweep):
    _, result = ablation_sweep
    members = member_rows(result.folder)
    assert list(members["member"])[:2] == ["kd", "kd-no-parallel"]
    assert members["kd_gain"].notna().all() and members["kd_gain_low"].notna().all()
    langs = language_rows(result.folder)
    assert set(langs["member"]) == set(members["member"])
    assert (langs["gain low"] <= langs["kd_gain"]).all()
    seeds = seed_summary(langs, result.manifest.varied)
    kd = seeds[seeds["seeds"] == 3]
    assert len(kd) == langs["language"].nunique()
    manifest = json.loads(result.folder.manifest_path.read_text())
    assert manifest["state"] == "finished" and len(manifest["members"]) == 6


class StopAt(Callback):
    """Requests a stop once the given phase starts in the n-th experiment it sees."""

    def __init__(self, n: int) -> None:
        self.n, self.seen, self.requested = n, 0, False

    def on_phase(self, phase, total_steps):
        if phase == "data":
            self.seen += 1
        if self.seen == self.n and phase == "student":
            self.requested = True

    def should_stop(self) -> bool:
        return self.requested


def test_a_stopped_sweep_resumes_where_it_stopped(tiny_teacher_dir, tiny_csv, tmp_path):
    base = _base(tiny_teacher_dir, tiny_csv)
    spec = ablation("kd", base)
    stop = StopAt(2)
    first = run_sweep(spec, runs_dir=tmp_path, callbacks=[stop])
    assert first.state == "stopped"
    states = [m.state for m in first.manifest.members]
    assert states == ["finished", "stopped"]
    done = RunFolder(tmp_path / first.manifest.members[0].run_id)
    before = done.eval_path.stat().st_mtime_ns
    again = resume_sweep(first.folder)
    assert again.state == "finished"
    assert [m.run_id for m in again.manifest.members] == [m.run_id for m in first.manifest.members]
    assert done.eval_path.stat().st_mtime_ns == before  # the finished member was not run again
    assert [m.state for m in again.manifest.members] == ["finished", "finished"]


def test_the_cli_runs_an_ablation_and_shows_it(tiny_teacher_dir, tiny_csv, tmp_path, capsys):
    from tests.conftest import tiny_overrides
    from xkd.cli import main

    sets = []
    for s in tiny_overrides(tiny_teacher_dir, tiny_csv, **{"train.mixed_precision": "no"}):
        sets += ["--set", s]
    rc = main(
        [
            "sweep",
            "--ablation",
            "kd",
            "--preset",
            "demo",
            *sets,
            "--quiet",
            "--runs-dir",
            str(tmp_path),
        ]
    )
    assert rc == 0
    err = capsys.readouterr().err
    assert "kd-no-parallel" in err and "per target language" in err
    sweep_id = next((tmp_path / "sweeps").iterdir()).name
    assert main(["sweep", "--show", sweep_id, "--runs-dir", str(tmp_path)]) == 0
    assert "KD gain" in capsys.readouterr().err
    assert main(["sweep", "--runs-dir", str(tmp_path)]) == 2


def test_curve_bands_use_one_members_bootstrap_or_the_spread_over_seeds():
    import pandas as pd
    from scipy import stats

    from xkd.app.sweeps import curve_bands

    rows = [
        {
            "language": "de",
            "role": "target",
            "budget": "4",
            "student": 0.5,
            "student low": 0.3,
            "student high": 0.7,
        },
        {
            "language": "en",
            "role": "source",
            "budget": "4",
            "student": 0.9,
            "student low": 0.8,
            "student high": 1.0,
        },
    ]
    rows += [
        {
            "language": "de",
            "role": "target",
            "budget": "all",
            "student": a,
            "student low": 0.0,
            "student high": 1.0,
        }
        for a in (0.6, 0.7, 0.8)
    ]
    band = curve_bands(pd.DataFrame(rows), "budget").set_index("value")
    assert list(band.index) == ["4", "all"]  # targets only, in the sweep's order
    assert tuple(band.loc["4", ["accuracy", "low", "high", "members"]]) == (0.5, 0.3, 0.7, 1)
    half = stats.t.ppf(0.975, 2) * 0.1 / 3**0.5
    assert band.loc["all", "accuracy"] == pytest.approx(0.7)
    assert band.loc["all", "low"] == pytest.approx(0.7 - half)
    assert band.loc["all", "members"] == 3


def test_a_killed_sweep_reads_interrupted_and_resumes(tiny_teacher_dir, tiny_csv, tmp_path):
    """SIGKILL leaves the manifest and the member saying "running" with a dead pid."""
    import subprocess
    import sys

    from xkd.sweep.summary import member_rows

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    first = run_sweep(
        ablation("kd", _base(tiny_teacher_dir, tiny_csv)), runs_dir=tmp_path, callbacks=[StopAt(2)]
    )
    manifest = first.folder.read_manifest()
    member = manifest.members[1]
    manifest.state, manifest.current, manifest.pid = "running", member.name, dead.pid
    member.state = "running"
    first.folder.write_manifest(manifest)
    run = RunFolder(tmp_path / member.run_id)
    run.write_status("running", pid=dead.pid)
    again = first.folder.read_manifest()
    assert not again.active and again.shown_state() == "interrupted"
    assert run.read_status()["state"] == "interrupted"
    done = resume_sweep(first.folder)
    assert done.state == "finished"
    assert [m.state for m in done.manifest.members] == ["finished", "finished"]
    assert done.manifest.members[1].run_id == member.run_id  # the same run folder, resumed
    assert member_rows(first.folder)["kd_gain"].notna().all()
