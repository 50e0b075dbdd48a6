"""Security: the app binds to localhost, paths from user text stay inside their folders, remote
code and pickles never load by default, and secrets never reach run folders or logs."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from tests.conftest import tiny_overrides
from xkd.cli import build_parser, main
from xkd.errors import ConfigError
from xkd.runs import create_run_folder, delete_run, is_valid_run_id, safe_run_path, slugify

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "xkd"
STREAMLIT_CONFIG = ROOT / ".streamlit" / "config.toml"


@pytest.fixture(autouse=True)
def log_dir(tmp_path, monkeypatch):
    path = tmp_path / "xkd-logs"
    monkeypatch.setenv("XKD_LOG_DIR", str(path))
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------------------- the app server


def test_streamlit_config_binds_localhost_with_xsrf_and_an_upload_limit():
    if not STREAMLIT_CONFIG.exists():
        pytest.skip(".streamlit/config.toml is not written yet (the app engineer adds it)")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    server = tomllib.loads(STREAMLIT_CONFIG.read_text(encoding="utf-8")).get("server", {})
    assert server.get("address") in ("localhost", "127.0.0.1"), server
    assert server.get("enableXsrfProtection", True) is True
    assert server.get("enableCORS", True) is True
    limit = server.get("maxUploadSize")
    assert isinstance(limit, int) and 1 <= limit <= 1024, limit
    # every upload the app accepts is read whole, so each problem names its exact line
    from xkd.data import stream

    assert limit * 2**20 <= stream.WHOLE_FILE_BYTES


def test_xkd_app_defaults_to_localhost(monkeypatch):
    import subprocess

    args = build_parser().parse_args(["app"])
    assert args.address == "localhost"
    if not (ROOT / "app.py").exists():
        pytest.skip("app.py is not written yet")
    seen: list[list[str]] = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, **kw: seen.append(cmd) or 0)
    assert main(["app"]) == 0
    cmd = seen[-1]
    assert cmd[cmd.index("--server.address") + 1] == "localhost"
    assert main(["app", "--address", "0.0.0.0"]) == 0  # exposing it is a deliberate choice
    assert seen[-1][seen[-1].index("--server.address") + 1] == "0.0.0.0"


# ------------------------------------------------------------------------ names and paths

HOSTILE_NAMES = [
    "../../etc/passwd",
    "/etc/passwd",
    "..",
    "a/../../b",
    "C:\\Windows\\system32",
    "~root/.ssh",
    "name\x00with-nul",
    "%2e%2e%2fescape",
    "ünïcödé 名前 ☃",
    "x" * 500,
    "",
    "   ",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_run_names_become_safe_slugs(name, tmp_path):
    slug = slugify(name)
    assert slug and len(slug) <= 40
    assert set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    run_id, path = create_run_folder(tmp_path / "runs", name)
    assert is_valid_run_id(run_id)
    assert path.parent == (tmp_path / "runs").resolve() and path.is_dir()


@pytest.mark.parametrize(
    "run_id",
    [
        "..",
        "../x",
        "../../etc",
        "/etc",
        "/tmp",
        "a/b",
        "a\\b",
        "~",
        ".",
        "20250101-000000-x-abcd/..",
    ],
)
def test_unsafe_run_ids_are_refused(run_id, tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    with pytest.raises(ConfigError):
        safe_run_path(runs, run_id)
    with pytest.raises(ConfigError):
        delete_run(runs, run_id)
    for args in (
        ["eval", run_id],
        ["export", run_id, tmp_path / "out"],
        ["train", "--resume", run_id],
    ):
        rc, _, err = cli(capsys, *args, "--runs-dir", runs)
        assert rc == 2 and "Traceback" not in err, (args, err)
        assert "invalid run id" in err or "not found" in err or "run id" in err
    assert not (tmp_path / "out").exists()


def test_symlinked_run_folder_cannot_escape(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    link = runs / "20250101-000000-link-abcd"
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError, match="outside"):
        safe_run_path(runs, link.name)


def test_run_name_from_config_stays_inside_the_runs_folder(tmp_path, capsys, tiny_teacher_dir):
    runs = tmp_path / "runs"
    missing = tmp_path / "missing.csv"  # fails right after the run folder is created
    args = ["train", "--runs-dir", runs, "--quiet"]
    for s in tiny_overrides(tiny_teacher_dir, missing, name="../../../escape"):
        args += ["--set", s]
    rc, _, _ = cli(capsys, *args)
    assert rc == 2
    (run,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    assert is_valid_run_id(run.name) and "-escape-" in run.name
    assert not (tmp_path / "escape").exists() and not list(tmp_path.parent.glob("*escape*"))


def test_export_never_overwrites(tmp_path, capsys):
    runs = tmp_path / "runs"
    run_id, run = create_run_folder(runs, "done")
    (run / "config.yaml").write_text("name: done\n")
    (run / "student").mkdir()
    (run / "student" / "model.safetensors").write_bytes(b"weights")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "precious.txt").write_text("keep me")
    rc, _, err = cli(capsys, "export", run_id, dest, "--runs-dir", runs)
    assert rc == 2 and "not empty" in err
    assert (dest / "precious.txt").read_text() == "keep me"
    assert not (dest / "model.safetensors").exists()


@pytest.mark.parametrize(
    "filename",
    ["../../evil.csv", "/etc/cron.d/x.csv", "..\\..\\win.csv", ".hidden.tsv", "a b;rm -rf.jsonl"],
)
def test_app_uploads_are_stored_inside_the_uploads_folder(filename, tmp_path):
    """The Lab page stores uploads with ``xkd.app.files.save_upload`` (name from the browser)."""
    from xkd.app.files import save_upload

    runs = tmp_path / "runs"
    path = save_upload(runs, filename, b"text,language\nhello,en\n")
    assert path.parent == (runs / "uploads").resolve()
    assert path.name[0] not in "./" and "/" not in path.name and ".." not in path.name
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == [path]


def test_app_upload_with_another_suffix_is_refused(tmp_path):
    from xkd.app.files import save_upload

    with pytest.raises(ConfigError, match="csv"):
        save_upload(tmp_path, "model.pkl", b"\x80\x04junk")
    assert not list(tmp_path.rglob("*.pkl"))


# ------------------------------------------------------------------------ remote code, pickles


def test_trust_remote_code_is_off_by_default():
    from xkd.config import RunConfig
    from xkd.models import XKDModel, build_student, load_model
    from xkd.models.hf import load_hf_encoder
    from xkd.presets import PRESETS, preset

    assert RunConfig().model.trust_remote_code is False
    for name in PRESETS:
        assert preset(name).get("model", {}).get("trust_remote_code", False) is False, name
    for fn in (load_model, build_student, load_hf_encoder, XKDModel.from_pretrained):
        param = inspect.signature(fn).parameters["trust_remote_code"]
        assert param.default is False, fn.__qualname__


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = ""
            if isinstance(func, ast.Attribute):
                base = func.value.id if isinstance(func.value, ast.Name) else "?"
                name = f"{base}.{func.attr}"
            elif isinstance(func, ast.Name):
                name = func.id
            yield name, node


def _kw(node: ast.Call, key: str):
    for kw in node.keywords:
        if kw.arg == key:
            return kw.value
    return None


def _sources():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    for path in files:
        text = path.read_text(encoding="utf-8")
        yield path.relative_to(ROOT), ast.parse(text), text


SAFE_YAML_LOADERS = ("SafeLoader", "BaseLoader", "CSafeLoader", "CBaseLoader")


def _safe_yaml_loader(node: ast.Call, tree: ast.AST, text: str) -> bool:
    """``yaml.load(..., Loader=X)`` with X a safe loader, or a name assigned one in the file."""
    loader = _kw(node, "Loader")
    if loader is None:
        return False
    source = ast.get_source_segment(text, loader) or ""
    if isinstance(loader, ast.Name):
        for other in ast.walk(tree):
            if isinstance(other, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == loader.id for t in other.targets
            ):
                source += ast.get_source_segment(text, other.value) or ""
    words = source
    for ch in ",().\"'":
        words = words.replace(ch, " ")
    return bool(source) and all(
        w in SAFE_YAML_LOADERS for w in words.split() if w.endswith("Loader")
    )


def test_no_unsafe_deserialisation_in_the_package():
    """Weights load from safetensors; every ``torch.load`` passes ``weights_only=True``; no
    pickle, ``yaml.load``, ``eval``/``exec``, ``allow_pickle=True`` or ``trust_remote_code=True``
    literal anywhere in ``xkd/``."""
    problems = []
    for rel, tree, text in _sources():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(
                    n.split(".")[0] in ("pickle", "dill", "cloudpickle", "joblib") for n in names
                ):
                    problems.append(f"{rel}:{node.lineno}: imports a pickle module")
        for name, node in _calls(tree):
            where = f"{rel}:{node.lineno}: {name}"
            if name == "torch.load":
                value = _kw(node, "weights_only")
                if not (isinstance(value, ast.Constant) and value.value is True):
                    problems.append(f"{where} without weights_only=True")
            if name in ("pd.read_pickle", "pandas.read_pickle", "yaml.unsafe_load", "eval", "exec"):
                problems.append(where)
            if name == "yaml.load" and not _safe_yaml_loader(node, tree, text):
                problems.append(f"{where} (use yaml.safe_load)")
            allow = _kw(node, "allow_pickle")
            if isinstance(allow, ast.Constant) and allow.value is True:
                problems.append(f"{where} with allow_pickle=True")
            trust = _kw(node, "trust_remote_code")
            if isinstance(trust, ast.Constant) and trust.value is True:
                problems.append(f"{where} with trust_remote_code=True")
    assert not problems, "\n".join(problems)


def test_a_pickle_in_a_checkpoint_is_not_executed(tmp_path):
    """Checkpoints are read with ``weights_only=True``: a planted pickle payload does not run."""
    import torch

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.write_text, (marker, "code ran"))

    from safetensors.torch import save_file

    from xkd.train.checkpoints import load_checkpoint

    ckpt = tmp_path / "student"
    ckpt.mkdir()
    model = torch.nn.Linear(1, 1)
    save_file(model.state_dict(), str(ckpt / "objective.safetensors"))
    torch.save({"optimizer": Payload()}, ckpt / "trainer.pt")
    with pytest.raises(Exception, match="(?i)weights.only|unpickl"):
        load_checkpoint(ckpt, model, None, None)
    assert not marker.exists()
    torch.load(ckpt / "trainer.pt", weights_only=False)  # the payload is live: it would run
    assert marker.exists()


# ------------------------------------------------------------------------------------ secrets

SECRET = "hf_secret123TOKENvalue"


def _grep(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(str(path))
    return hits


def test_tokens_never_reach_run_folders_or_logs(
    tmp_path, capsys, monkeypatch, log_dir, tiny_teacher_dir, tiny_csv
):
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "XKD_API_KEY", "WANDB_API_KEY"):
        monkeypatch.setenv(var, SECRET)
    runs = tmp_path / "runs"
    args = ["train", "--runs-dir", runs, "--quiet"]
    for s in tiny_overrides(tiny_teacher_dir, tiny_csv, **{"train.epochs": 1}):
        args += ["--set", s]
    rc, out, err = cli(capsys, *args)
    assert rc == 0, err
    # a failing run writes tracebacks to logs/run.log and to the log folder
    rc, _, _ = cli(capsys, *args, "--set", f"data.path={tmp_path / 'missing.csv'}")
    assert rc == 2
    runs_listing = [p for p in runs.iterdir() if not p.name.startswith(".")]
    assert len(runs_listing) == 2
    env = json.loads((runs_listing[0] / "env.json").read_text())
    assert "HF_TOKEN" not in json.dumps(env) and env["environment"]  # other HF_/XKD_ vars kept
    assert (log_dir / "xkd.log").exists()
    for root in (runs, log_dir):
        assert _grep(root, SECRET.encode()) == [], f"secret written under {root}"
    assert SECRET not in out + err
