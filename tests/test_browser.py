"""End to end in a real browser: start the app, launch a tiny run from the Lab, watch it finish,
open every page, and save a screenshot of each to ``test-artifacts/screenshots/<page>.png``.

Needs Chromium at /usr/bin/chromium (``make browser`` installs it) and the Playwright Python
package; skipped otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# url path -> screenshot name
PAGES = {
    "": "home",
    "lab": "lab",
    "runs": "runs",
    "sweeps": "sweeps",
    "accuracy": "accuracy",
    "alignment": "alignment",
    "distributions": "distributions",
    "loss_lab": "loss_lab",
}

if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Chromium at /usr/bin/chromium (run `make browser`, i.e. "
        "apt-get install chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    port = _free_port()
    env = dict(os.environ)
    env.update(
        XKD_RUNS_DIR=str(runs),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    env.pop("XKD_APP_DEMO", None)
    log = open(tmp_path / "streamlit.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    break
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()}")
    yield url, runs
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()


@pytest.fixture
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        context.close()
        browser.close()


def settle(pg, timeout: float = 90_000) -> None:
    """Wait until the app is idle: the router drew the sidebar and no script run is going on
    (checked twice, 0.5 s apart, because one user action may trigger several reruns)."""
    pg.wait_for_selector('[data-testid="stSidebar"] >> text=Device:', timeout=timeout)
    deadline = time.time() + timeout / 1000
    quiet = 0
    while quiet < 2:
        running = pg.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet = 0 if running else quiet + 1
        if time.time() > deadline:
            raise TimeoutError("the app kept running")
        pg.wait_for_timeout(500)


def no_exception_box(pg, where: str) -> None:
    boxes = pg.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{where}: {boxes.first.inner_text()[:2000]}"


def pick(pg, label: str, value: str) -> None:
    """Choose (or type, for selectboxes that accept new options) ``value`` in a selectbox."""
    box = pg.get_by_role("combobox", name=label, exact=True)
    box.click()
    box.fill(value)
    pg.keyboard.press("Enter")
    settle(pg)


def shoot(pg, name: str) -> None:
    """Screenshot the whole page: the viewport is stretched to the app's scroll height first
    (Streamlit scrolls inside its own container, so a plain full-page shot is one screen)."""
    height = pg.evaluate(
        """() => Math.max(1000, ...[...document.querySelectorAll(
            '[data-testid="stMain"], [data-testid="stAppViewContainer"]')].map(e => e.scrollHeight))"""
    )
    pg.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 9000)})
    pg.wait_for_timeout(800)
    pg.screenshot(path=str(SHOTS / f"{name}.png"))
    pg.set_viewport_size({"width": 1400, "height": 1000})


def lasso_everything(pg) -> None:
    """Drag a lasso around the whole embedding map (the chart's default drag mode)."""
    chart = pg.locator('.st-key-align_chart [data-testid="stPlotlyChart"]').first
    chart.locator(".nsewdrag").first.wait_for(timeout=180_000)  # drawn once UMAP has run
    chart.scroll_into_view_if_needed()  # below the "Over training" section: mouse needs it on screen
    box = chart.locator(".nsewdrag").first.bounding_box()
    x0, y0, w, h = box["x"], box["y"], box["width"], box["height"]
    pg.mouse.move(x0 + 0.01 * w, y0 + 0.01 * h)
    pg.mouse.down()
    for fx, fy in [(0.99, 0.01), (0.99, 0.99), (0.01, 0.99), (0.01, 0.02)]:
        pg.mouse.move(x0 + fx * w, y0 + fy * h, steps=8)
    pg.mouse.up()
    settle(pg, timeout=120_000)


def fill(pg, label: str, value: str) -> None:
    field = pg.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")
    settle(pg)


def test_launch_from_the_lab_and_visit_every_page(server, page, tiny_teacher_dir, tiny_csv):
    url, runs = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{url}/lab")
    settle(page)
    no_exception_box(page, "lab (empty)")
    assert page.get_by_text("No runs yet").first.is_visible()
    shoot(page, "lab-empty")

    # configure a seconds-long run on the tiny models
    page.get_by_text("local path", exact=True).click()
    settle(page)
    fill(page, "File or folder", str(tiny_csv))
    pick(page, "Teacher", str(tiny_teacher_dir))
    pick(page, "Student", "from-teacher:1")
    fill(page, "Max tokens per text", "16")
    fill(page, "Epochs", "1")
    fill(page, "Batch size", "8")
    pick(page, "Device", "cpu")
    fill(page, "Run name (optional)", "browser")
    no_exception_box(page, "lab (form)")
    assert page.get_by_text("Peak memory").is_visible()
    assert page.locator("code").filter(has_text="train.epochs=1.0").count() >= 1
    shoot(page, "lab-form")

    page.get_by_role("button", name="Launch").click()
    with contextlib.suppress(sync_api.Error):  # the tiny run may finish before we look
        page.get_by_text("Training:").first.wait_for(timeout=20_000)
        shoot(page, "lab-live")
    # the live view polls the run folder and turns into the final summary by itself
    page.get_by_text(re.compile(r"^(Finished\.|Run failed|Run interrupted)")).first.wait_for(
        timeout=180_000
    )
    settle(page)
    no_exception_box(page, "lab (done)")
    (run,) = [p for p in runs.iterdir() if "browser" in p.name]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished", status
    assert (run / "eval.json").is_file()
    shoot(page, "lab-finished")

    timings: dict[str, float] = {}
    for path, name in PAGES.items():
        start = time.perf_counter()
        page.goto(f"{url}/{path}")
        settle(page, timeout=180_000)
        timings[name] = round(time.perf_counter() - start, 2)
        no_exception_box(page, name)
        assert page.locator('[data-testid="stSidebar"]').get_by_text("Device:").is_visible()
        shoot(page, name)
        if name == "alignment":
            start = time.perf_counter()  # the same page again, in the same app process
            page.reload()
            settle(page, timeout=180_000)
            timings["alignment (again)"] = round(time.perf_counter() - start, 2)
            lasso_everything(page)
            no_exception_box(page, "alignment (selection)")
            assert page.get_by_text("Neighbours per text").is_visible()
            shoot(page, "alignment-selected")
    # the timing output (not asserted: machines differ; benchmarks/demo.py measures the ratio):
    # the first Alignment page of a finished run, in this app process, against the same page
    # drawn again
    (SHOTS.parent / "page-timings.json").write_text(json.dumps(timings, indent=2))
    print(f"page draw seconds (first visit, then alignment again): {timings}", file=sys.stderr)


def test_a_one_click_ablation_runs_live_and_ends_in_the_sweep_view(
    server, page, tiny_teacher_dir, tiny_csv
):
    from tests.conftest import tiny_overrides
    from xkd.cli import main

    url, runs = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    sets = []
    for s in tiny_overrides(tiny_teacher_dir, tiny_csv, **{"train.mixed_precision": "no"}):
        sets += ["--set", s]
    assert main(["train", "--runs-dir", str(runs), "--quiet", *sets]) == 0
    page.goto(f"{url}/sweeps")
    settle(page)
    no_exception_box(page, "sweeps (a finished run)")
    page.get_by_text("KD vs no-KD vs KD without parallel data", exact=False).first.click()
    settle(page)
    assert page.get_by_text("Does the parallel data do the transferring?").first.is_visible()
    page.get_by_role("button", name="Start the ablation").click()
    # live progress of the whole sweep, then the sweep view by itself
    page.get_by_text(re.compile(r"running: [01] of 2 runs done")).first.wait_for(timeout=60_000)
    shoot(page, "sweeps-live")
    page.get_by_text("finished: 2 of 2 runs done").first.wait_for(timeout=300_000)
    page.get_by_text("Best member").first.wait_for(timeout=60_000)
    settle(page)
    no_exception_box(page, "sweeps (finished)")
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1  # the members
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2  # coordinates, gains
    (sweep,) = (runs / "sweeps").iterdir()
    manifest = json.loads((sweep / "manifest.json").read_text())
    assert manifest["state"] == "finished"
    assert [m["state"] for m in manifest["members"]] == ["finished", "finished"]
    shoot(page, "sweeps")
