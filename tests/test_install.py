"""Packaging: `xkd app` runs from an installed wheel, without the source checkout.

The app stays at the top of the repository (``app.py``, ``pages/``, ``.streamlit/``) and ships
as the package ``xkd_ui`` (``package-dir`` in pyproject.toml). The slow test builds the wheel
from a copy of the working tree, installs it into a temporary ``--target`` folder, starts
``xkd app`` from a folder outside the repository with only that folder and the environment's
site-packages importable, and runs every page through a websocket session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from xkd.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="reading TOML needs tomli on Python 3.10")
    return tomllib.loads(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- fast checks


def test_pyproject_ships_every_package_and_the_app():
    from setuptools import find_packages

    tool = _toml(ROOT / "pyproject.toml")["tool"]["setuptools"]
    listed = set(tool["packages"])
    found = set(find_packages(str(ROOT), include=["xkd", "xkd.*"]))
    assert found - listed == set(), "add these packages to [tool.setuptools] packages"
    assert listed - found == {"xkd_ui", "xkd_ui.pages"}
    assert tool["package-dir"] == {"xkd_ui": "."}
    assert tool["package-data"]["xkd_ui"] == [".streamlit/config.toml"]
    # xkd_ui is the repository's top folder: every top-level module would ship inside it
    assert sorted(p.name for p in ROOT.glob("*.py")) == ["app.py"]


def _fake_installed_app(tmp_path: Path, monkeypatch) -> Path:
    site = tmp_path / "site"
    app = site / "xkd_ui" / "app.py"
    app.parent.mkdir(parents=True)
    app.write_text("# the installed app\n", encoding="utf-8")
    for name in [m for m in sys.modules if m == "xkd_ui" or m.startswith("xkd_ui.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(site))
    return app


def test_xkd_app_runs_the_installed_app_from_the_callers_folder(tmp_path, monkeypatch):
    app = _fake_installed_app(tmp_path, monkeypatch)
    calls: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, **kw: calls.append((cmd, kw)) or 0)
    monkeypatch.chdir(tmp_path)
    assert main(["app", "--runs-dir", "my-runs"]) == 0
    cmd, kw = calls[-1]
    assert cmd[cmd.index("run") + 1] == str(app.resolve())
    assert "cwd" not in kw  # relative paths typed in the Lab resolve in the caller's folder
    assert kw["env"]["XKD_RUNS_DIR"] == str((tmp_path / "my-runs").resolve())


def test_xkd_app_without_the_app_extra_says_what_to_install(tmp_path, monkeypatch, capsys):
    import importlib.util

    _fake_installed_app(tmp_path, monkeypatch)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "streamlit" else real(name, *a),
    )
    monkeypatch.setattr(subprocess, "call", lambda *a, **kw: pytest.fail("must not start"))
    assert main(["app"]) == 2
    err = capsys.readouterr().err
    assert "needs streamlit" in err and "pip install 'xkd[app]'" in err


# ------------------------------------------------------------------ the wheel, installed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_working_tree(dest: Path) -> None:
    """The files git would put in an sdist's source: tracked and untracked, not ignored."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("copying the working tree needs git and a git checkout")
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    for rel in filter(None, out.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():  # tracked files deleted in the working tree are left out
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _run(cmd: list[str], **kw) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"


def _stop(proc: subprocess.Popen) -> None:
    """Stop ``xkd app`` and its Streamlit child (one process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        proc.poll()
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


async def _session(port: int) -> list[dict]:
    """Run the default page, then every page of the navigation, in one websocket session."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    url = f"ws://127.0.0.1:{port}/_stcore/stream"
    async with websockets.connect(url, subprotocols=["streamlit"], max_size=None) as ws:

        async def run(page_hash: str) -> dict:
            msg = BackMsg()
            msg.rerun_script.query_string = ""
            msg.rerun_script.page_script_hash = page_hash
            await ws.send(msg.SerializeToString())
            seen: dict = {"exceptions": [], "new_session": None, "navigation": None}
            async for raw in ws:
                fm = ForwardMsg()
                fm.ParseFromString(raw)
                kind = fm.WhichOneof("type")
                if kind in ("new_session", "navigation"):
                    seen[kind] = getattr(fm, kind)
                elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                    element = fm.delta.new_element
                    if element.WhichOneof("type") == "exception":
                        seen["exceptions"].append(element.exception.message)
                elif kind == "script_finished":
                    return seen
            raise AssertionError("the websocket closed before the script finished")

        first = await run("")
        pages = [
            (p.page_name, await run(p.page_script_hash)) for p in first["navigation"].app_pages
        ]
        return [{"page_name": "(default)", **first}] + [{"page_name": n, **r} for n, r in pages]


@pytest.mark.slow
def test_xkd_app_from_a_non_editable_install(tmp_path):
    pytest.importorskip("streamlit", reason="the app extra (streamlit) is not installed")
    pytest.importorskip("websockets", reason="the websocket check needs websockets (uvicorn's)")
    src, wheels, site, outside = (tmp_path / n for n in ("src", "wheels", "site", "elsewhere"))
    for folder in (src, wheels, site, outside):
        folder.mkdir()
    _copy_working_tree(src)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)], cwd=src)
    (wheel,) = wheels.glob("xkd-*.whl")
    _run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)])
    shipped = site / "xkd_ui"
    app_files = [
        "app.py",
        ".streamlit/config.toml",
        *(f"pages/{p.name}" for p in src.glob("pages/*.py")),
    ]
    for rel in app_files:  # the app files of the tree the wheel was built from
        assert (shipped / rel).read_bytes() == (src / rel).read_bytes(), rel

    env = {k: v for k, v in os.environ.items() if not k.startswith(("XKD_", "STREAMLIT_"))}
    # the installed wheel and the environment's dependencies; not the checkout
    env["PYTHONPATH"] = os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])
    env.update(PYTHONNOUSERSITE="1", XKD_RUNS_DIR=str(tmp_path / "runs"), HF_HUB_OFFLINE="1")
    where = subprocess.run(
        [sys.executable, "-c", "import xkd; print(xkd.__file__)"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(site), where  # what the Streamlit child imports

    port = _free_port()
    log_path = tmp_path / "app.log"
    with open(log_path, "wb") as log:
        # -S: site-packages only through PYTHONPATH, so an editable install cannot be reached
        cmd = [sys.executable, "-S", "-m", "xkd.cli", "app", "--port", str(port)]
        proc = subprocess.Popen(
            [*cmd, "--address", "127.0.0.1"],
            cwd=outside,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        healthy = False
        while time.time() < deadline and proc.poll() is None and not healthy:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    healthy = r.read().strip() == b"ok"
            time.sleep(0.3)
        assert healthy, f"xkd app did not start:\n{log_path.read_text(errors='replace')}"
        with urllib.request.urlopen(base + "/", timeout=10) as r:
            assert r.status == 200
        runs = asyncio.run(asyncio.wait_for(_session(port), timeout=120))
    finally:
        _stop(proc)

    new_session = runs[0]["new_session"]
    assert Path(new_session.main_script_path) == (shipped / "app.py").resolve()
    # the shipped .streamlit/config.toml applies although Streamlit runs in another folder
    settings = _toml(shipped / ".streamlit" / "config.toml")
    client = new_session.config
    mode = type(client).ToolbarMode.Name(client.toolbar_mode)
    assert mode.lower() == settings["client"]["toolbarMode"] != "auto"
    assert settings["theme"]["light"]["primaryColor"] in str(new_session.custom_theme)
    names = [r["page_name"] for r in runs]
    assert {"Overview", "Lab", "Runs", "Accuracy", "Loss lab"} <= set(names), names
    failed = {r["page_name"]: r["exceptions"] for r in runs if r["exceptions"]}
    assert not failed, failed
