"""Reports to share (``xkd report``): one self-contained HTML file per run or sweep.

- the run report of a fake finished run holds the config, the per-language intervals as the
  Accuracy page writes them, the reproduce command, and no network reference; hostile names are
  escaped;
- the sweep report of a real tiny sweep (a kd ablation, trained once per module) holds the
  question, the members, the per-language gains with intervals, the best member's config and the
  reproduce commands;
- in headless Chromium with every request blocked, both open without a request, a console
  error or a page error, and their charts draw;
- ``xkd report`` writes the file and prints its path; a missing run exits 2 with a message.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import pytest

from xkd.app import accuracy as A
from xkd.report import run_report_html, sweep_report_html
from xkd.report.html import esc
from xkd.runs import load_run
from xkd.testing.runs import write_sample_run

HOSTILE = "<script>alert(1)</script>"
NETWORK = ("<script src=", '<link href="http', "@import url(http", "<link rel=")


def _no_network_references(html: str) -> None:
    for pattern in NETWORK:
        assert pattern not in html, pattern


@pytest.fixture
def sample_run(tmp_path) -> Path:
    return write_sample_run(tmp_path / "runs")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_teacher_dir, tiny_csv):
    """A finished kd ablation (KD, KD without parallel pairs; the baseline is shared)."""
    from tests.test_experiment import _config
    from xkd.sweep import ablation, run_sweep

    runs = tmp_path_factory.mktemp("sweep-runs")
    base = _config(tiny_teacher_dir, tiny_csv, **{"train.mixed_precision": "no"})
    old = signal.getsignal(signal.SIGTERM)
    try:
        result = run_sweep(ablation("kd", base), runs_dir=runs)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert result.state == "finished"
    return result.folder


# --------------------------------------------------------------------------------- run


def test_run_report_holds_config_intervals_and_the_reproduce_command(sample_run):
    run = load_run(sample_run)
    html = run_report_html(sample_run)
    assert html.startswith("<!DOCTYPE html>") and html.count("<script") >= 2
    assert html.count("* plotly.js v") == 1 and "Plotly.newPlot" in html  # plotly.js, once
    # the config, as saved
    config = run.folder.config_path.read_text()
    assert esc(config.strip()) in html
    # the Accuracy page's cells: accuracy [low, high], KD gain [low, high], significance
    shown = A.accuracy_display(A.accuracy_table(run.eval, None))
    for _, row in shown.iterrows():
        for cell in (row["KD student"], row["no-KD baseline"], row["KD gain"]):
            assert "[" in cell and esc(cell) in html, cell
        assert esc(row["gain significant (95 %)"]) in html
    head = run.headline
    assert f"[{100 * head.kd_gain_low:+.1f}, {100 * head.kd_gain_high:+.1f}] pts" in html
    # what to type
    assert "xkd train config.yaml" in html and f"xkd eval {run.run_id}" in html
    for section in ("Alignment map", "Loss curves", "Environment", "Reproduce"):
        assert section in html
    _no_network_references(html)


def test_run_report_quotes_hostile_names_and_values(tmp_path):
    path = write_sample_run(tmp_path / "runs", name=HOSTILE)
    html = run_report_html(path)
    assert load_run(path).name == HOSTILE
    assert HOSTILE not in html and "alert(1)" in html
    assert esc(HOSTILE) in html  # shown as text, in the title and the config


def test_run_report_of_a_run_without_results(tmp_path):
    import os

    path = write_sample_run(tmp_path / "runs", state="running", pid=os.getpid())
    html = run_report_html(path)
    assert "no evaluation yet" in html and "no eval.json yet" in html
    assert "xkd train config.yaml" in html


# ------------------------------------------------------------------------------- sweep


def test_sweep_report_holds_members_gains_best_member_and_commands(sweep):
    from xkd.sweep.summary import best_member, language_rows, member_rows

    manifest = sweep.read_manifest()
    html = sweep_report_html(sweep)
    assert esc(manifest.question) in html
    for member in manifest.members:
        assert member.name in html and member.run_id in html
    langs = language_rows(sweep, manifest)
    assert not langs.empty
    target = langs[langs["role"] == "target"].iloc[0]
    gain = f"{100 * target['kd_gain']:+.1f} pts [{100 * target['gain low']:+.1f}, "
    assert gain in html
    best = best_member(member_rows(sweep, manifest))
    assert best is not None
    config = (sweep.runs_dir / best["run"] / "config.yaml").read_text()
    assert esc(config.strip()) in html
    assert "xkd sweep sweep.yaml" in html and f"xkd sweep --resume {sweep.sweep_id}" in html
    assert esc(sweep.spec_path.read_text().strip()) in html
    assert "does not vary train.seed" in html  # a kd ablation has one seed
    _no_network_references(html)
    print(f"sweep report: {len(html.encode())} bytes")


# ------------------------------------------------------------------------------ browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def offline_page_check(path: Path) -> dict:
    """Open ``path`` from file:// in headless Chromium with every other request aborted;
    what was requested, the console errors, the page errors, and the charts drawn."""
    if not CHROMIUM.exists():
        pytest.skip("needs Chromium at /usr/bin/chromium (`make browser`)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    url = path.resolve().as_uri()
    found: dict = {"requests": [], "console_errors": [], "page_errors": []}

    def route(r):
        if r.request.url == url:
            r.continue_()
        else:
            found["requests"].append(r.request.url)
            r.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(offline=True)  # no network at all, and routed too
            page = context.new_page()
            page.route("**/*", route)
            page.on("request", lambda r: r.url != url and found["requests"].append(r.url))
            page.on(
                "console", lambda m: m.type == "error" and found["console_errors"].append(m.text)
            )
            page.on("pageerror", lambda e: found["page_errors"].append(str(e)))
            page.goto(url, wait_until="load")
            drawn = (
                "[...document.querySelectorAll('.plotly-graph-div')]"
                ".filter(d => d.querySelector('svg.main-svg')).length"
            )
            found["charts"] = page.locator(".plotly-graph-div").count()
            with contextlib.suppress(sync_api.TimeoutError):  # the test compares the counts
                page.wait_for_function(f"{drawn} === {found['charts']}", timeout=15_000)
            page.wait_for_timeout(300)
            found["drawn"] = page.evaluate(drawn)
        finally:
            browser.close()
    found["requests"] = sorted(set(found["requests"]))
    return found


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["run", "sweep"])
def test_report_opens_offline_in_a_browser(kind, tmp_path, request):
    if kind == "run":
        html = run_report_html(write_sample_run(tmp_path / "runs"))
    else:
        html = sweep_report_html(request.getfixturevalue("sweep"))
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    result = offline_page_check(path)
    assert result["requests"] == [], result["requests"]
    assert result["console_errors"] == [] and result["page_errors"] == [], result
    assert result["charts"] >= (3 if kind == "run" else 1)
    assert result["drawn"] == result["charts"]  # every chart div holds plotly's svg


@pytest.mark.browser
def test_the_offline_check_catches_a_remote_reference(tmp_path):
    """The check above would see a page that fetches something (a web font, an image)."""
    path = tmp_path / "remote.html"
    path.write_text(
        '<html><head><link rel="stylesheet" href="https://fonts.example.com/css"></head>'
        '<body><img src="https://example.com/x.png"><img src="local.png"></body></html>'
    )
    found = offline_page_check(path)
    assert "https://example.com/x.png" in found["requests"]
    assert "https://fonts.example.com/css" in found["requests"]
    assert any(r.endswith("/local.png") for r in found["requests"])


# ---------------------------------------------------------------------------------- app


@pytest.mark.app
def test_accuracy_page_offers_the_report(tmp_path, monkeypatch):
    """The button builds the report only when clicked (deferred data), so the page does not
    inline plotly.js on every rerun."""
    from streamlit.testing.v1 import AppTest

    runs = tmp_path / "runs"
    write_sample_run(runs)
    monkeypatch.setenv("XKD_RUNS_DIR", str(runs))
    monkeypatch.delenv("XKD_APP_DEMO", raising=False)
    at = AppTest.from_file(
        str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60
    )
    at.run()
    at.switch_page("pages/accuracy.py").run()
    assert not at.exception, [e.message for e in at.exception]
    (button,) = [b for b in at.get("download_button") if b.proto.id.endswith("-acc_report")]
    assert button.proto.label == "Download report (HTML)"
    assert not button.proto.url  # nothing built before the click


# ---------------------------------------------------------------------------------- CLI


def test_cli_report_writes_the_file_and_prints_its_path(sample_run, tmp_path, capsys):
    from xkd.cli import main

    runs = sample_run.parent
    assert main(["report", sample_run.name, "--runs-dir", str(runs)]) == 0
    out = sample_run / "report.html"
    assert capsys.readouterr().out.strip() == str(out)
    assert out.is_file() and "xkd train config.yaml" in out.read_text()
    other = tmp_path / "shared" / "mine.html"
    assert main(["report", str(sample_run), "-o", str(other)]) == 0  # a folder, elsewhere
    assert other.is_file()


def test_cli_report_of_a_missing_run_exits_2(tmp_path, capsys):
    from xkd.cli import main

    (tmp_path / "runs").mkdir()
    rc = main(["report", "20250101-000000-nothing-abcd", "--runs-dir", str(tmp_path / "runs")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "no run or sweep '20250101-000000-nothing-abcd'" in err and "xkd runs" in err


def test_cli_report_of_a_sweep(sweep, capsys):
    from xkd.cli import main

    assert main(["report", sweep.sweep_id, "--runs-dir", str(sweep.runs_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(sweep.path / "report.html")
    assert "xkd sweep report" in (sweep.path / "report.html").read_text()
