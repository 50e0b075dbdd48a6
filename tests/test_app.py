"""AppTest tests of the Streamlit app: every page with no run, a finished run and a running run,
and the main widgets of each page (no exception may escape to the page).

The finished run is a real tiny run trained once per session with ``xkd train`` on a random
2-layer teacher; the running run is a fabricated folder (``xkd.testing.runs``) whose status names a
live dummy process, with partial metrics and no eval.json.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from xkd.app import labels, rundata
from xkd.runs import is_valid_run_id, load_run
from xkd.testing import runs as samples

pytestmark = pytest.mark.app

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
PAGES = {
    "home": "pages/home.py",
    "lab": "pages/lab.py",
    "runs": "pages/runs.py",
    "sweeps": "pages/sweeps.py",
    "accuracy": "pages/accuracy.py",
    "alignment": "pages/alignment.py",
    "distributions": "pages/distributions.py",
    "loss_lab": "pages/loss_lab.py",
}
RESULT_PAGES = ("accuracy", "alignment", "distributions")


def tiny_sets(teacher_dir, data_path, **extra) -> list[str]:
    sets = {
        "name": "tiny",
        "teacher": str(teacher_dir),
        "student": "from-teacher:1",
        "data.path": str(data_path),
        "data.max_length": 16,
        "train.epochs": 1,
        "train.batch_size": 8,
        "train.lr": 1e-3,
        "train.log_every": 1,
        "train.device": "cpu",
        "model.teacher_epochs": 3,
    }
    sets.update(extra)
    out = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


@pytest.fixture(scope="session")
def real_run(tmp_path_factory, tiny_teacher_dir, tiny_csv) -> Path:
    """A finished run produced by the real CLI (a few seconds on tiny models)."""
    from xkd.cli import main

    runs = tmp_path_factory.mktemp("real-runs")
    old = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.MonkeyPatch.context() as mp:  # alignment maps at every point of a short run
            mp.setattr("xkd.experiment.probes.MIN_STEPS_PER_POINT", 1)
            rc = main(
                [
                    "train",
                    "--runs-dir",
                    str(runs),
                    "--quiet",
                    *tiny_sets(tiny_teacher_dir, tiny_csv),
                ]
            )
    finally:
        signal.signal(signal.SIGTERM, old)
    assert rc == 0
    (run,) = [p for p in runs.iterdir() if is_valid_run_id(p.name)]
    assert (run / "eval.json").is_file()
    return run


@pytest.fixture
def live_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    monkeypatch.setenv("XKD_RUNS_DIR", str(path))
    monkeypatch.delenv("XKD_APP_DEMO", raising=False)
    return path


def add_real_run(runs_dir: Path, real_run: Path) -> Path:
    dest = runs_dir / real_run.name
    shutil.copytree(real_run, dest)
    return dest


@pytest.fixture(params=["empty", "finished", "running"])
def state(request, runs_dir, real_run, live_process):
    if request.param == "finished":
        add_real_run(runs_dir, real_run)
    elif request.param == "running":
        samples.write_sample_run(runs_dir, state="running", pid=live_process.pid)
    return request.param


def new_app(**session) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in session.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(PAGES[page]).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


# ------------------------------------------------------------------------------ every page


def test_every_page_in_every_state(state, runs_dir):
    at = new_app(align_pca=True)
    if state != "empty":
        newest = rundata.all_runs(runs_dir)[0].run_id
        assert at.session_state["run_id"] == newest
        assert at.sidebar.selectbox(key="sidebar_run").value == newest
    else:
        assert "No runs yet" in texts(at.sidebar.info)
    for page in PAGES:
        goto(at, page)
        markdown = texts(at.markdown)
        if state == "empty" and page not in ("loss_lab", "lab"):
            assert "No runs yet" in markdown, page
        if state == "running" and page in RESULT_PAGES:
            assert "still running" in texts(at.info), page
        if state == "finished" and page == "accuracy":
            assert len(at.get("plotly_chart")) >= 2  # bars and the heatmap
            assert any(m.label == labels.STUDENT_TARGETS for m in at.metric)
            assert "None" not in texts(at.metric) and "nan" not in texts(at.metric)
    # (AppTest drops sidebar elements after switch_page, so the sidebar is checked above)


def test_lab_on_a_running_run_shows_live_view_and_refuses_a_second_launch(runs_dir, live_process):
    samples.write_sample_run(runs_dir, state="running", pid=live_process.pid)
    at = goto(new_app(), "lab")
    assert any(s.value.startswith("Training:") for s in at.subheader)
    assert at.button(key="lab_stop")
    assert "one run per device" in texts(at.warning)
    assert at.button(key="lab_launch").disabled
    assert len(at.get("progress")) >= 1


def test_stop_button_leaves_a_stopped_run(runs_dir, live_process):
    path = samples.write_sample_run(runs_dir, state="running", pid=live_process.pid)
    at = goto(new_app(), "lab")
    at.button(key="lab_stop").click().run()
    no_exception(at)
    assert load_run(path).state == "stopped"
    assert live_process.wait(timeout=10) is not None
    assert "stopped" in texts(at.info) + texts(at.warning)
    assert not at.button(key="lab_launch").disabled


# ----------------------------------------------------------------------------------- pages


def test_distributions_widgets(runs_dir, real_run):
    add_real_run(runs_dir, real_run)
    at = goto(new_app(), "distributions")
    at.slider(key="dist_T").set_value(4.0).run()
    no_exception(at)
    assert any("T = 4" in m.label for m in at.metric)
    at.multiselect(key="dist_lang").set_value(["it"]).run()
    no_exception(at)
    at.selectbox(key="dist_correct").set_value("student wrong").run()
    at.selectbox(key="dist_agree").set_value("agree").run()
    no_exception(at)
    at.text_input(key="dist_text").set_value("no such text anywhere").run()
    no_exception(at)
    assert "No example matches" in texts(at.info)


def test_alignment_widgets(runs_dir, real_run):
    add_real_run(runs_dir, real_run)
    at = goto(new_app(align_pca=True), "alignment")
    assert at.toggle(key="align_pca").value is True
    at.toggle(key="align_center").set_value(True).run()
    no_exception(at)
    at.radio(key="align_color").set_value("label").run()
    no_exception(at)
    at.multiselect(key="align_models").set_value(["teacher", "student", "baseline"]).run()
    at.multiselect(key="align_langs").set_value(["it"]).run()
    at.toggle(key="align_lines").set_value(False).run()
    no_exception(at)
    assert len(at.get("plotly_chart")) >= 1
    cache = next(runs_dir.iterdir()) / "cache"
    assert list(cache.glob("*pca*.parquet"))


def test_alignment_with_umap(runs_dir, real_run):
    add_real_run(runs_dir, real_run)
    at = goto(new_app(), "alignment")
    assert at.toggle(key="align_pca").value is False
    cache = next(runs_dir.iterdir()) / "cache"
    assert list(cache.glob("*umap*.parquet"))


def test_accuracy_widgets(runs_dir, real_run, tmp_path):
    add_real_run(runs_dir, real_run)
    samples.write_sample_run(runs_dir)
    at = goto(new_app(), "accuracy")
    at.toggle(key="acc_all_cols").set_value(True).run()
    no_exception(at)
    for metric in ("transfer ratio (%)", "KD gain (points)", f"{labels.BASELINE} accuracy"):
        at.selectbox(key="acc_heat_metric").set_value(metric).run()
        no_exception(at)
        assert len(at.get("download_button")) == 3, (
            metric
        )  # the per-language CSV, the report, the heatmap CSV
    table = at.dataframe[0].value  # the per-language table
    assert labels.TRANSFER_RATIO in table.columns and labels.TEACHER_KEPT in table.columns
    assert "None" not in table.to_string() and "nan" not in table.to_string()
    assert labels.TRANSFER_RATIO in texts(at.caption)


def test_loss_lab_worked_example_and_sliders(runs_dir):
    at = goto(new_app(), "loss_lab")
    assert len(at.latex) >= 6
    at.button(key="ll_worked_button").click().run()
    no_exception(at)
    total = next(m for m in at.metric if m.label == "Total loss")
    assert float(total.value) == pytest.approx(0.554, abs=1e-3)
    assert "0.554" in texts(at.success)
    at.slider(key="ll_T").set_value(4.0).run()
    at.slider(key="ll_alpha").set_value(0.2).run()
    at.selectbox(key="ll_soft").set_value("focal_kd").run()
    at.slider(key="ll_gamma").set_value(1.0).run()
    no_exception(at)
    at.text_input(key="ll_student").set_value("1, two").run()
    no_exception(at)
    assert "numbers" in texts(at.error)
    at.button(key="ll_reset").click().run()
    no_exception(at)
    assert not at.error


def test_lab_form_fields_and_bad_values(runs_dir, real_run):
    add_real_run(runs_dir, real_run)
    at = goto(new_app(), "lab")
    assert not at.error
    assert any("xkd train --preset demo" in c.value for c in at.code)
    at.multiselect(key="lab_target_languages").set_value(["it", "de"]).run()
    at.number_input(key="lab_epochs").set_value(1.0).run()
    at.slider(key="lab_temperature").set_value(2.0).run()
    at.slider(key="lab_alpha").set_value(0.5).run()
    at.text_input(key="lab_name").set_value("my run").run()
    no_exception(at)
    cmd = texts(at.code)
    assert "data.target_languages=it,de" in cmd and "train.epochs=1.0" in cmd
    assert "distill.alpha=0.5" in cmd
    assert "model.student_head" not in cmd  # the default (linear) is not repeated
    at.selectbox(key="lab_student_head").set_value("native").run()
    no_exception(at)
    assert "model.student_head=native" in texts(at.code)
    at.selectbox(key="lab_student_head").set_value("linear").run()
    assert any(m.label == "Time" for m in at.metric)
    # a bad value is an error message, not an exception
    at.text_input(key="lab_freeze").set_value("sideways").run()
    no_exception(at)
    assert "train.freeze" in texts(at.error)
    at.text_input(key="lab_freeze").set_value("full").run()
    no_exception(at)
    assert not at.error
    # a preset with two loss terms, one of them hidden_mse: each term is one editor row
    at.selectbox(key="lab_preset").set_value("compress").run()
    at.button(key="lab_load_preset").click().run()
    no_exception(at)
    assert "Loaded the compress preset" in texts(at.info)
    assert "hidden_mse" in texts(at.code) and "distill.alpha=0.5" in texts(at.code)
    at.selectbox(key="lab_preset").set_value("demo").run()
    # other data sources
    at.radio(key="lab_data_kind").set_value("local path").run()
    at.text_input(key="lab_local_path").set_value(str(runs_dir / "missing.csv")).run()
    no_exception(at)
    assert "missing.csv" in texts(at.warning) + texts(at.error)
    at.radio(key="lab_data_kind").set_value("Hugging Face").run()
    at.text_input(key="lab_hf_path").set_value("hf:someone/dataset").run()
    no_exception(at)
    assert at.text_input(key="lab_source_text").value == "en"
    at.radio(key="lab_data_kind").set_value("upload").run()
    no_exception(at)
    csv = b"text,label,language,pair_id\nhello,a,en,1\nciao,a,it,1\nbye,b,en,2\naddio,b,it,2\n"
    at.file_uploader(key="lab_upload").upload("My data.csv", csv, "text/csv")
    at.run()
    no_exception(at)
    saved = list((runs_dir / "uploads").glob("My-data-*.csv"))
    assert len(saved) == 1
    assert at.selectbox(key="lab_source_language").value == "en"
    at.button(key="lab_load_preset").click().run()
    no_exception(at)
    assert at.radio(key="lab_data_kind").value == "demo"


def test_runs_page_compare_export_clone_delete(runs_dir, real_run):
    real = add_real_run(runs_dir, real_run)
    other = samples.write_sample_run(runs_dir, name="other")
    at = goto(new_app(), "runs")
    at.multiselect(key="runs_compare").set_value([real.name, other.name]).run()
    no_exception(at)
    assert any(df.value.shape[1] == 3 for df in at.dataframe)  # key + two runs
    # loss terms come from train records only; dev accuracy has its own chart
    terms = at.selectbox(key="runs_term").options
    assert "loss" in terms and not any("accuracy" in t or t in ("it", "de") for t in terms)
    assert len(at.get("plotly_chart")) == 2  # loss curves, dev accuracy
    at.toggle(key="runs_diff_all").set_value(True).run()
    at.selectbox(key="runs_target").set_value(real.name).run()
    at.button(key="runs_export").click().run()
    no_exception(at)
    assert at.get("download_button")
    at.button(key="runs_make_current").click().run()
    assert at.session_state["run_id"] == real.name
    # clone: the Lab opens with the run's settings
    at.button(key="runs_clone").click().run()
    no_exception(at)
    assert at.selectbox(key="lab_teacher").value == str(load_run(real).config["teacher"])
    assert "Cloned" in texts(at.info)
    # delete, with confirmation
    goto(at, "runs")
    at.selectbox(key="runs_target").set_value(other.name).run()
    assert at.button(key="runs_delete").disabled
    at.checkbox(key="runs_delete_sure").check().run()
    at.button(key="runs_delete").click().run()
    no_exception(at)
    assert not other.exists() and real.exists()


def test_demo_flag_launches_the_demo_once(runs_dir, monkeypatch):
    import xkd.runs.launch as RL

    calls = []

    def fake_launch(cfg, base):
        calls.append(cfg.name)
        path = samples.write_sample_run(base, name="demo")
        return RL.Launched(path.name, path, 0)

    monkeypatch.setattr(RL, "launch", fake_launch)
    monkeypatch.setenv("XKD_APP_DEMO", "1")
    at = new_app()
    assert calls == ["demo"]
    assert at.session_state["run_id"].endswith(tuple("0123456789abcdef"))
    at.run()
    new_app()
    assert calls == ["demo"]


@pytest.mark.slow
def test_launch_from_the_lab_trains_and_finishes(runs_dir, real_run):
    config = load_run(real_run).config
    at = goto(new_app(lab_clone=("tiny", config)), "lab")
    at.text_input(key="lab_name").set_value("from lab").run()
    at.button(key="lab_launch").click().run()
    no_exception(at)
    new = [p for p in runs_dir.iterdir() if "from-lab" in p.name]
    assert len(new) == 1
    deadline = time.time() + 120
    while time.time() < deadline and load_run(new[0]).active:
        time.sleep(0.5)
    assert load_run(new[0]).state == "finished", rundata.log_tail(new[0])
    at.run()
    no_exception(at)
    assert "Finished" in texts(at.success)
    goto(at, "accuracy")
    assert not at.info


def test_every_page_opens_a_run_folder_of_the_previous_format(runs_dir):
    """A real demo run written before the typed run contract (tests/data/format1-runs)."""
    src = Path(__file__).parent / "data" / "format1-runs"
    shutil.copytree(src, runs_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    at = new_app(align_pca=True)
    assert at.session_state["run_id"] == "20261202-143120-demo-4563"
    for page in PAGES:
        goto(at, page)
        if page == "accuracy":
            values = texts(at.metric)
            assert "60.2%" in values and "+52.0 pts" in values, values
            assert "None" not in values and "nan" not in values


def test_alignment_replays_the_map_over_training_steps(runs_dir, real_run):
    from xkd.app.health import map_steps

    run = add_real_run(runs_dir, real_run)
    steps = map_steps(run)
    assert len(steps) >= 3 and steps[0] == 0
    at = goto(new_app(), "alignment")
    assert "Over training" in texts(at.subheader)
    assert at.select_slider(key="align_step").value == steps[-1]
    charts = len(at.get("plotly_chart"))
    at.select_slider(key="align_step").set_value(steps[0]).run()
    no_exception(at)
    assert "at step 0" in texts(at.markdown)
    at.toggle(key="align_contours").set_value(False).run()
    at.multiselect(key="align_replay_models").set_value(["teacher", "baseline"]).run()
    no_exception(at)
    assert len(at.get("plotly_chart")) == charts
    (table,) = [d.value for d in at.dataframe if "CKA with teacher" in d.value.columns]
    assert "pair cosine" in table.columns and len(table) >= 2


def test_lab_layer_assistant_suggests_and_fills_hidden_mse(runs_dir, real_run):
    config = load_run(real_run).config
    at = goto(new_app(lab_clone=("tiny", config)), "lab")
    at.button(key="lab_layers_run").click().run()
    no_exception(at)
    assert "Suggested: `1:" in texts(at.markdown)
    at.button(key="lab_layers_use").click().run()
    no_exception(at)
    saved = at.session_state["lab_saved"]
    (row,) = [r for r in saved.losses if r.name == "hidden_mse"]
    assert row.layer_map.startswith("1:")
    assert "hidden_mse now maps the layers" in texts(at.info)


def test_alignment_compares_the_layers_before_and_after_training(runs_dir, real_run):
    run = add_real_run(runs_dir, real_run)
    at = goto(new_app(), "alignment")
    at.button(key="align_layers_run").click().run()
    no_exception(at)
    assert "Suggested layer_map before" in texts(at.caption)
    saved = json.loads((run / "cache" / "layers.json").read_text())
    assert set(saved) == {"n_texts", "before", "after"} and saved["after"]["suggested"]
    at = goto(new_app(), "alignment")  # read back, not recomputed
    assert "Suggested layer_map before" in texts(at.caption)


def test_accuracy_attributes_the_transfer_gaps(runs_dir, real_run):
    add_real_run(runs_dir, real_run)
    at = goto(new_app(), "accuracy")
    assert "Transfer gaps and their likely causes" in texts(at.subheader)
    (table,) = [d.value for d in at.dataframe if "tokens per word" in d.value.columns]
    assert len(table) >= 1 and "falls short" in table.columns
    assert texts(at.warning) or texts(at.success)


# ------------------------------------------------------------------ no cold waits (issue 12)
def test_a_finished_run_holds_its_first_map_and_the_page_fits_nothing(
    runs_dir, real_run, monkeypatch
):
    """The run fitted the Alignment page's first view (UMAP of teacher and student): the first
    visit reads it from the run's cache and never runs a projection."""
    dest = add_real_run(runs_dir, real_run)
    assert (dest / "cache" / "map-default.json").is_file()
    assert list((dest / "cache").glob("student-teacher-*umap*.parquet"))
    calls = []

    def no_fit(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the page fitted a projection")

    monkeypatch.setattr("xkd.evaluate.projection.project", no_fit)
    at = goto(new_app(), "alignment")
    assert not calls and not at.error, [e.value for e in at.error]
    assert at.toggle(key="align_pca").value is False
    # another view is fitted on the visit (and would fail here): the cache is what saved it
    at.toggle(key="align_center").set_value(True).run()
    assert calls


def test_the_app_fits_the_first_maps_that_older_runs_lack(runs_dir, real_run):
    from xkd.app import warm

    dest = add_real_run(runs_dir, real_run)
    for path in (dest / "cache").glob("*umap*.parquet"):
        path.unlink()
    (dest / "cache" / "map-default.json").unlink()
    assert [f.run_id for f in warm.missing_maps(runs_dir)] == [dest.name]
    done = warm.warm(runs_dir)
    assert done == {"maps": [dest.name], "failed": [], "umap": True}
    assert list((dest / "cache").glob("student-teacher-*umap*.parquet"))
    assert warm.missing_maps(runs_dir) == []

    def broken(folder):
        raise ValueError("degenerate vectors")

    (dest / "cache" / "map-default.json").unlink()
    assert warm.warm(runs_dir, fit=broken)["failed"] == [dest.name]  # logged, not raised


# ------------------------------------------------------------------------------ sweeps


@pytest.fixture(scope="session")
def real_sweep(tmp_path_factory, tiny_teacher_dir, tiny_csv) -> Path:
    """A finished two-member sweep ("KD vs no-KD vs no parallel") of tiny runs."""
    from tests.test_experiment import _config
    from xkd.sweep import ablation, run_sweep

    runs = tmp_path_factory.mktemp("sweep-runs")
    base = _config(tiny_teacher_dir, tiny_csv, **{"train.mixed_precision": "no"})
    result = run_sweep(ablation("kd", base), runs_dir=runs)
    assert result.state == "finished"
    return runs


def test_the_sweep_view_shows_members_gains_and_the_best(runs_dir, real_sweep):
    from xkd.sweep import find_sweep, list_sweeps

    for entry in real_sweep.iterdir():
        shutil.copytree(entry, runs_dir / entry.name)
    at = goto(new_app(), "sweeps")
    frames = [d.value for d in at.dataframe]
    members = next(f for f in frames if "member" in f.columns and "state" in f.columns)
    assert list(members["member"]) == ["kd", "kd-no-parallel"]
    assert all(v.startswith("[") for v in members[labels.KD_GAIN_INTERVAL])
    assert len(at.get("plotly_chart")) >= 2  # parallel coordinates and the gains
    assert "Best member" in texts(at.success)
    assert [b.proto.label for b in at.get("download_button")] == [
        "Download the sweep report (HTML)"
    ]
    best = next(
        m.run_id
        for m in find_sweep(runs_dir, next(iter(list_sweeps(runs_dir))).sweep_id)
        .read_manifest()
        .members
        if f"**{m.name}**" in texts(at.success)
    )
    at.button(key="sweep_clone").click().run()  # the Lab opens with the best member's config
    no_exception(at)
    assert "Cloned" in texts(at.info)
    assert at.selectbox(key="lab_teacher").value == str(
        load_run(real_sweep / best).config["teacher"]
    )


def test_an_ablation_starts_from_the_current_run(runs_dir, real_run, monkeypatch):
    from xkd.sweep import start_sweep

    add_real_run(runs_dir, real_run)
    launched = []

    def fake_launch(spec, base):  # the sweep folder, without the background process
        folder = start_sweep(spec, runs_dir=base)
        launched.append(folder)
        return folder, 0

    monkeypatch.setattr("xkd.sweep.launch.launch_sweep", fake_launch)
    at = goto(new_app(), "sweeps")
    at.radio(key="sweep_ablation").set_value("seeds").run()
    assert "seeds" in texts(at.caption)
    at.button(key="sweep_start").click().run()
    no_exception(at)
    (folder,) = launched
    manifest = folder.read_manifest()
    assert [m.name for m in manifest.members] == ["seed=0", "seed=1", "seed=2"]
    assert at.session_state["sweep_id"] == folder.sweep_id
    assert "0 of 3 runs done" in "\n".join(str(p.text) for p in at.get("progress"))


def test_a_sweep_file_from_the_page_is_checked_then_started(runs_dir, real_run, monkeypatch):
    from xkd.sweep import start_sweep

    add_real_run(runs_dir, real_run)
    launched = []

    def fake_launch(spec, base):
        folder = start_sweep(spec, runs_dir=base)
        launched.append(folder)
        return folder, 0

    monkeypatch.setattr("xkd.sweep.launch.launch_sweep", fake_launch)
    at = goto(new_app(), "sweeps")
    example = at.text_area(key="sweep_yaml").value
    assert "distill.temperature" in example and str(load_run(real_run).config["teacher"]) in example
    bad = example.replace("distill.temperature: [1.0, 3.0, 8.0]", "distill.temprature: [1.0]")
    bad = bad.replace("- 1.0\n  - 3.0\n  - 8.0", "- 1.0")
    at.text_area(key="sweep_yaml").set_value(
        bad.replace("distill.temperature", "distill.temprature")
    ).run()
    at.button(key="sweep_file_start").click().run()
    assert "temprature" in texts(at.error) and not launched
    at.text_area(key="sweep_yaml").set_value(example).run()
    at.button(key="sweep_file_start").click().run()
    no_exception(at)
    (folder,) = launched
    assert len(folder.read_manifest().members) == 6
