"""The Lab's plumbing: form values <-> configs, uploads, launching a run, exporting a model.

A run is launched as a subprocess (``python -m xkd.cli train <config.yaml> --run-dir <dir>``)
through :func:`xkd.runs.launch_run`; everything the app later shows is read back from the run
folder. One run per device: :func:`busy_reason` says why a launch must wait.
"""

from __future__ import annotations

import copy
import hashlib
import io
import os
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xkd.errors import ConfigError

UPLOAD_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
DEMO_ENV = "XKD_APP_DEMO"

#: Student choices offered by the Lab (free text is accepted too).
STUDENT_PRESETS = ("from-teacher:3", "from-teacher:2", "from-teacher:1", "scratch")
TEACHER_PRESETS = ("minilm",)
DATA_KINDS = ("demo", "upload", "local path", "Hugging Face")


# --------------------------------------------------------------------------- form <-> config


def parse_mapping(text: str, what: str) -> dict:
    """A YAML/JSON mapping typed in the form (``""`` -> ``{}``); ConfigError otherwise."""
    import yaml

    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: not valid YAML/JSON ({str(exc).splitlines()[0]})") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{what}: expected a mapping like {{gamma: 2}}, got {text!r}")
    return value


def parse_layer_map(text: str) -> str | list[list[int]]:
    """``auto`` | ``last`` | ``1:4, 2:8`` (student:teacher pairs) -> a loss ``layer_map`` value."""
    text = (text or "").strip()
    if text in ("", "auto"):
        return "auto"
    if text == "last":
        return "last"
    pairs = []
    for part in re.split(r"[,;\s]+", text):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*[:\-]\s*(\d+)", part)
        if not m:
            raise ConfigError(
                f"layer mapping {text!r}: write auto, last, or student:teacher pairs like 1:4, 2:8"
            )
        pairs.append([int(m.group(1)), int(m.group(2))])
    return pairs


def layer_map_text(value: Any) -> str:
    """Inverse of :func:`parse_layer_map` for showing a config in the form."""
    if isinstance(value, list):
        return ", ".join(f"{s}:{t}" for s, t in value)
    return str(value or "auto")


def loss_rows(config: dict) -> list[dict]:
    """Loss rows for the form's table: ``name``, ``weight``, ``params`` (YAML text)."""
    import yaml

    rows = []
    for loss in (config.get("distill") or {}).get("losses") or []:
        if isinstance(loss, str):
            name, _, weight = loss.partition(":")
            loss = {"name": name, "weight": float(weight or 1.0)}
        params = dict(loss.get("params") or {})
        for key in ("lambda", "layer_map"):  # edited through their own inputs
            params.pop(key, None)
        text = yaml.safe_dump(params, default_flow_style=True).strip() if params else ""
        rows.append(
            {
                "name": loss.get("name", ""),
                "weight": float(loss.get("weight", 1.0)),
                "params": text,
            }
        )
    return rows


def losses_from_rows(
    rows: list[dict], *, lambda_: float | None = None, layer_map: str = "auto"
) -> list[dict]:
    """Config ``distill.losses`` from form rows; λ and the layer mapping go to the losses that
    take them (``hidden_mse``: ``lambda`` and ``layer_map``; ``attention_kl``: ``layer_map``).
    """
    from xkd.losses import LOSSES, build_loss, loss_params

    out = []
    for i, row in enumerate(rows):
        name = str(row.get("name") or "").strip()
        if not name:
            continue
        if name not in LOSSES:
            raise ConfigError(
                f"loss row {i + 1}: unknown loss {name!r}; use one of {', '.join(LOSSES)}"
            )
        try:
            weight = float(row.get("weight", 1.0))
        except (TypeError, ValueError):
            raise ConfigError(f"loss row {i + 1} ({name}): weight must be a number") from None
        params = parse_mapping(str(row.get("params") or ""), f"loss row {i + 1} ({name}) params")
        accepted = loss_params(name)
        # only when they differ from the loss's own default, so configs stay minimal
        if lambda_ is not None and "lambda" in accepted and "lambda" not in params:
            if float(lambda_) != accepted["lambda"]:
                params["lambda"] = float(lambda_)
        if "layer_map" in accepted and "layer_map" not in params:
            lm = parse_layer_map(layer_map)
            if lm != accepted["layer_map"]:
                params["layer_map"] = lm
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise ConfigError(
                f"loss {name!r}: unknown parameter(s) {', '.join(unknown)}; valid: "
                f"{', '.join(accepted) or 'none'}"
            )
        try:
            build_loss(name, **params)  # checks every parameter's value now, not at launch
        except ConfigError as exc:
            raise ConfigError(f"loss row {i + 1}: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"loss row {i + 1} ({name}): {exc}") from None
        out.append({"name": name, "weight": weight, "params": params})
    if not out:
        raise ConfigError("add at least one loss (e.g. kl with weight 1)")
    return out


def form_values(config: dict) -> dict[str, Any]:
    """Widget values for the Lab form from a config dict (defaults, a preset or a clone)."""
    from xkd.config import RunConfig, from_dict, merge

    try:
        full = from_dict(config).to_dict()
    except ConfigError:
        full = merge(RunConfig().to_dict(), config)
    data, train, distill, model = full["data"], full["train"], full["distill"], full["model"]
    path = str(data.get("path") or "demo")
    if path == "demo":
        kind = "demo"
    elif path.startswith("hf:"):
        kind = "Hugging Face"
    else:
        kind = "local path"
    lam, layer_map = 1.0, "auto"
    for loss in distill.get("losses") or []:
        params = loss.get("params") or {} if isinstance(loss, dict) else {}
        lam = float(params.get("lambda", lam))
        layer_map = layer_map_text(params.get("layer_map", layer_map))
    return {
        "name": full.get("name") or "",
        "data_kind": kind,
        "data_path": path,
        "source_language": data.get("source_language") or "en",
        "target_languages": list(data.get("target_languages") or []),
        "parallel": bool(data.get("parallel", True)),
        "unlabeled_targets": bool(data.get("unlabeled_targets", False)),
        "max_length": int(data.get("max_length", 64)),
        "teacher": full.get("teacher") or "minilm",
        "student": full.get("student") or "from-teacher:3",
        "baseline": bool(full.get("baseline", True)),
        "losses": loss_rows(full),
        "temperature": float(distill.get("temperature", 3.0)),
        "alpha": float(distill.get("alpha", 0.0)),
        "lambda": lam,
        "layer_map": layer_map,
        "freeze": str(train.get("freeze", "full")),
        "teacher_freeze": str(model.get("teacher_freeze", "head")),
        "epochs": float(train.get("epochs", 3)),
        "batch_size": int(train.get("batch_size", 32)),
        "lr": float(train.get("lr", 1e-4)),
        "device": str(train.get("device", "auto")),
        "full": full,
    }


def config_from_form(values: dict[str, Any], base: dict | None = None):
    """A validated :class:`~xkd.config.RunConfig` from form values (ConfigError if invalid).

    ``base`` (e.g. a cloned run's config) supplies every key the form does not show.
    """
    from xkd.config import from_dict, merge

    cfg = copy.deepcopy(base) if base else {}
    cfg.pop("run_id", None)
    update = {
        "name": values.get("name", ""),
        "teacher": str(values.get("teacher", "")).strip(),
        "student": str(values.get("student", "")).strip(),
        "baseline": bool(values.get("baseline", True)),
        "data": {
            "path": str(values.get("data_path", "")).strip(),
            "source_language": str(values.get("source_language", "")).strip(),
            "target_languages": [
                str(t).strip() for t in values.get("target_languages") or [] if str(t).strip()
            ],
            "parallel": bool(values.get("parallel", True)),
            "unlabeled_targets": bool(values.get("unlabeled_targets", False)),
            "max_length": values.get("max_length", 64),
        },
        "model": {"teacher_freeze": str(values.get("teacher_freeze", "head")).strip()},
        "distill": {
            "temperature": values.get("temperature", 3.0),
            "alpha": values.get("alpha", 0.0),
            "losses": losses_from_rows(
                list(values.get("losses") or []),
                lambda_=values.get("lambda"),
                layer_map=str(values.get("layer_map", "auto")),
            ),
        },
        "train": {
            "epochs": values.get("epochs", 3),
            "batch_size": values.get("batch_size", 32),
            "lr": values.get("lr", 1e-4),
            "freeze": str(values.get("freeze", "full")).strip(),
            "device": str(values.get("device", "auto")).strip(),
        },
    }
    return from_dict(merge(cfg, update))


# ------------------------------------------------------------------------------------ data


def sanitise_filename(name: str) -> str:
    """A safe file name from an uploaded one: base name only, ``[A-Za-z0-9._-]``, known suffix."""
    base = os.path.basename(str(name).replace("\\", "/")) or "upload"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = "." + suffix.lower() if suffix else ""
    if suffix not in UPLOAD_SUFFIXES:
        raise ConfigError(
            f"uploaded file {name!r}: use a {', '.join(UPLOAD_SUFFIXES)} file "
            "(see docs/data.md for the columns)"
        )
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-.")[:60] or "upload"
    return stem + suffix


def save_upload(runs_dir: str | os.PathLike, filename: str, data: bytes) -> Path:
    """Store an uploaded data file as ``runs_dir/uploads/<name>-<hash8><suffix>``.

    The content hash keeps two different files with one name apart and makes a re-upload of
    the same file reuse the stored copy. Returns the absolute path.
    """
    safe = sanitise_filename(filename)
    stem, suffix = os.path.splitext(safe)
    digest = hashlib.sha256(data).hexdigest()[:8]
    folder = Path(runs_dir).resolve() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{digest}{suffix}"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def data_summary(path: str, columns: dict | None = None):
    """``(dataset, None)`` for a readable local source, else ``(None, reason)``.

    Hugging Face ids are not read here (they may need a download); the Lab then asks for the
    languages as text.
    """
    from xkd.errors import XKDError

    path = (path or "").strip()
    if not path:
        return None, "no data path yet"
    if path.startswith("hf:"):
        return None, "Hugging Face data is read when the run starts; type the languages"
    try:
        from xkd.data import load_data

        return load_data(path, columns=columns or None), None
    except XKDError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - any reader failure is shown, not raised
        return None, f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------------- launch


def _device(device: str) -> str:
    from xkd.app.rundata import device_name

    return device_name(device)


def busy_reason(runs_dir: str | os.PathLike, device: str = "auto") -> str | None:
    """Why a new run cannot start on ``device`` now (``None`` when it can).

    A run holding the device lock, or a queued/running run in ``runs_dir`` set to the same
    device (between launch and taking the lock a run is queued without holding it).
    """
    from xkd.app.rundata import device_name
    from xkd.runs import DeviceLock, list_runs

    dev = device_name(device)
    holder = DeviceLock(runs_dir, dev).holder()
    if holder:
        return (
            f"device {dev} is busy with run {holder.get('run_id')} (pid {holder.get('pid')}); "
            "wait for it to finish or stop it (Lab live view or Runs page). From a terminal, "
            "`xkd train --wait` queues behind it."
        )
    for info in list_runs(runs_dir):
        if not info.is_active:
            continue
        try:
            cfg_device = (info.folder.read_config().get("train") or {}).get("device", "auto")
        except Exception:  # noqa: BLE001
            cfg_device = "auto"
        if device_name(str(cfg_device)) == dev:
            return (
                f"run {info.run_id} is {info.state} on {dev}; one run per device at a time. "
                "Stop it first or wait for it to finish."
            )
    return None


def train_command(config_path: Path, run_dir: Path, runs_dir: Path) -> list[str]:
    """The subprocess command the Lab launches (the CLI, quiet, writing into ``run_dir``)."""
    return [
        sys.executable,
        "-m",
        "xkd.cli",
        "train",
        str(config_path),
        "--run-dir",
        str(run_dir),
        "--runs-dir",
        str(runs_dir),
        "--quiet",
    ]


def _child_env() -> dict[str, str]:
    """The app's environment, with this ``xkd`` importable even when it is not installed."""
    import xkd

    env = dict(os.environ)
    root = str(Path(xkd.__file__).resolve().parent.parent)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        env["PYTHONPATH"] = os.pathsep.join([root, *parts])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


@dataclass
class Launched:
    run_id: str
    path: Path
    pid: int


def launch(cfg, runs_dir: str | os.PathLike) -> Launched:
    """Create a run folder for ``cfg``, write its config and start training in a subprocess.

    Raises ConfigError when the device is busy (see :func:`busy_reason`).
    """
    from xkd.runs import RunFolder, create_run_folder, launch_run

    base = Path(runs_dir).resolve()
    reason = busy_reason(base, cfg.train.device)
    if reason:
        raise ConfigError(reason)
    run_id, path = create_run_folder(base, cfg.name or None)
    folder = RunFolder(path).ensure()
    folder.write_config(cfg.to_yaml())
    pid = launch_run(
        folder.config_path,
        path,
        runs_dir=base,
        command=train_command(folder.config_path, path, base),
        env=_child_env(),
    )
    return Launched(run_id, path, pid)


def maybe_launch_demo(runs_dir: str | os.PathLike, env: dict | None = None) -> Launched | None:
    """With ``XKD_APP_DEMO=1`` and no run yet, launch the demo preset once; else ``None``.

    A marker file ``runs_dir/.demo-launched`` (created exclusively) makes this happen once even
    when several browser sessions open at the same time.
    """
    from xkd.config import from_dict
    from xkd.presets import preset
    from xkd.runs import list_runs

    env = os.environ if env is None else env
    if str(env.get(DEMO_ENV, "")).strip().lower() not in ("1", "true", "yes", "on"):
        return None
    base = Path(runs_dir)
    if list_runs(base):
        return None
    base.mkdir(parents=True, exist_ok=True)
    marker = base / ".demo-launched"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    os.close(fd)
    return launch(from_dict(preset("demo")), base)


# ---------------------------------------------------------------------------------- export


def model_zip(run_dir: str | os.PathLike, model: str = "student") -> bytes:
    """A zip (in memory) of the run's ``<model>/`` folder, files under ``<run_id>-<model>/``."""
    folder = Path(run_dir) / model
    if not folder.is_dir():
        raise ConfigError(f"run {Path(run_dir).name} has no {model}/ folder (did it finish?)")
    buf = io.BytesIO()
    prefix = f"{Path(run_dir).name}-{model}"
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                zf.write(file, f"{prefix}/{file.relative_to(folder).as_posix()}")
    return buf.getvalue()
