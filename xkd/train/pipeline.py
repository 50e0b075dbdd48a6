"""One experiment, end to end, writing a run folder.

Phases: ``data`` -> ``teacher`` (load, cache outputs, fit a head when needed) -> ``baseline``
(no-KD student, source labels only) -> ``student`` (KD) -> ``eval``. Each phase is a small
function; progress goes to callbacks and to ``status.json`` / ``metrics.jsonl``.
"""

from __future__ import annotations

import copy
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xkd.config import RunConfig
from xkd.errors import ConfigError, DataError, ResourceError, XKDError
from xkd.runs.folder import utc_now
from xkd.train.callbacks import Callback, CallbackList
from xkd.train.examples import Examples, kd_examples, label_index, source_examples

CACHE_FILE = "cache/teacher.safetensors"


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# Writing progress into the run folder


class RunWriter(Callback):
    """Mirrors progress into the run folder: metrics.jsonl lines and status.json steps."""

    def __init__(self, folder, min_interval: float = 0.5) -> None:
        self.folder = folder
        self.min_interval = min_interval
        self._last = 0.0
        self.phase = ""

    def on_phase(self, phase, total_steps):
        self.phase = phase
        self.folder.write_status(
            "running", phase=phase, step=0, total_steps=total_steps, phase_started=utc_now()
        )

    def on_step(self, phase, step, total_steps, logs):
        now = time.monotonic()
        if now - self._last >= self.min_interval or step == total_steps:
            self._last = now
            self.folder.write_status("running", phase=phase, step=step, total_steps=total_steps)

    def on_log(self, phase, record):
        self.folder.append_metrics(record)


# ---------------------------------------------------------------------------------------------
# Phases


@dataclass
class Prepared:
    dataset: Any
    targets: list[str]
    teacher: Any
    cache: Any
    kd: Examples
    source: Examples


def resolve_targets(cfg: RunConfig, languages: list[str]) -> list[str]:
    src = cfg.data.source_language
    if src not in languages:
        raise DataError(
            f"source language '{src}' is not in the data; languages found: {', '.join(languages)}",
            field="data.source_language",
        )
    targets = cfg.data.target_languages or [lang for lang in languages if lang != src]
    missing = [t for t in targets if t not in languages]
    if missing:
        raise DataError(
            f"target language(s) {', '.join(missing)} not in the data; languages found: {', '.join(languages)}",
            field="data.target_languages",
        )
    return targets


def build_losses(cfg: RunConfig, student_dims, teacher_dims) -> dict:
    """Instantiate the recipe's losses; global temperature/alpha fill params a loss accepts."""
    import inspect

    from xkd.losses import LOSSES, build_loss

    out = {}
    for spec in cfg.distill.losses:
        if spec.name not in LOSSES:
            raise ConfigError(f"unknown loss '{spec.name}'; available: {', '.join(sorted(LOSSES))}")
        accepted = inspect.signature(LOSSES[spec.name].__init__).parameters
        params = dict(spec.params)
        for key in ("temperature", "alpha"):
            if key in accepted and key not in params:
                params[key] = getattr(cfg.distill, key)
        loss = build_loss(spec.name, **params)
        loss.setup(student_dims, teacher_dims)
        name = spec.name if spec.name not in out else f"{spec.name}_{len(out)}"
        out[name] = (spec.weight, loss)
    return out


def check_tokenizers(losses: dict, teacher, student) -> None:
    token_level = [name for name, (_, loss) in losses.items() if loss.same_tokenizer]
    if not token_level:
        return
    if teacher.tokenizer.get_vocab() != student.tokenizer.get_vocab():
        raise ConfigError(
            f"loss(es) {', '.join(token_level)} compare teacher and student token by token, but their "
            "tokenizers differ (different vocabularies split text differently, so tokens do not "
            "correspond). Use a student built with `from-teacher:K`, or drop these losses: logit "
            "and embedding losses (kl, mse_logits, soft_ce, focal_kd, parallel_mse, cosine, "
            "hidden_mse with align=mean) still work."
        )


def fit_teacher_head(
    teacher, cache, source: Examples, labels: list[str], cfg: RunConfig, dev: Examples | None
) -> dict:
    """Fit a linear head on the teacher's cached (frozen) sentence embeddings.

    The encoder never runs: inputs are cached pooled vectors. Keeps the epoch with the best
    dev accuracy (train accuracy when there is no dev split).
    """
    teacher.set_labels(labels, seed=cfg.train.seed)
    head = teacher.head
    device = head.weight.device
    x = cache.pooled[cache.ids(source.teacher_texts)].to(device)
    y = torch.as_tensor(source.labels, device=device)
    if dev is not None and len(dev):
        xd, yd = (
            cache.pooled[cache.ids(dev.teacher_texts)].to(device),
            torch.as_tensor(dev.labels, device=device),
        )
    else:
        xd, yd = x, y
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.model.teacher_lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(cfg.train.seed)
    epochs = cfg.model.teacher_epochs or 30
    best = (-1.0, None)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), 32):
            idx = perm[start : start + 32].to(device)
            loss = torch.nn.functional.cross_entropy(head(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = float((head(xd).argmax(1) == yd).float().mean())
        if acc > best[0]:
            best = (acc, copy.deepcopy(head.state_dict()))
    head.load_state_dict(best[1])
    cache.refresh_logits()
    return {"teacher_dev_accuracy": best[0], "teacher_epochs": epochs}


def prepare(cfg: RunConfig, callbacks: Callback) -> Prepared:
    """Load and check the data and the teacher; build the training rows."""
    from xkd.data import load_data
    from xkd.models import load_model

    callbacks.on_phase("data", 1)
    ds = load_data(cfg.data.path, columns=cfg.data.columns or None)
    try:
        targets = resolve_targets(cfg, ds.languages())
        frame = ds.frame
        source = source_examples(frame, cfg.data, ds.labels, cfg.train.seed)
        kd = kd_examples(frame, cfg.data, ds.labels, targets, cfg.train.seed)
    except DataError as e:  # dataset-wide problems: name the data source too
        if e.file is not None:
            raise
        raise DataError(e.detail, file=cfg.data.path, row=e.row, field=e.field) from None

    callbacks.on_phase("teacher", 1)
    teacher = load_model(
        cfg.teacher, pooling=cfg.model.pooling, trust_remote_code=cfg.model.trust_remote_code
    )
    if teacher.head is not None and list(teacher.labels) != list(ds.labels):
        raise ConfigError(
            f"teacher '{cfg.teacher}' has a head for labels {list(teacher.labels)}, but the data has "
            f"{list(ds.labels)}; use a teacher without a head (one is fitted) or matching data"
        )
    return Prepared(ds, targets, teacher, None, kd, source)


def _eval_texts(frame, languages: list[str]) -> list[str]:
    rows = frame[frame["split"].isin(["dev", "test"]) & frame["language"].isin(languages)]
    return rows["text"].tolist()


def teacher_phase(
    cfg: RunConfig, p: Prepared, run_dir: Path | None, resume: bool, callbacks: Callback
) -> dict:
    """Cache teacher outputs for every needed text, then fit its head if it has none."""
    from xkd.train.loop import KDObjective, tokenize_examples, train_model

    info: dict = {}
    needs_head = p.teacher.head is None
    frame = p.dataset.frame
    src = cfg.data.source_language
    dev = dev_examples_by_language(frame, p.dataset.labels, [src]).get(src)
    if needs_head and cfg.model.teacher_freeze != "head":
        from xkd.losses import build_loss
        from xkd.models import freeze

        p.teacher.set_labels(p.dataset.labels, seed=cfg.train.seed)
        freeze(p.teacher, cfg.model.teacher_freeze)
        tcfg = copy.deepcopy(cfg.train)
        tcfg.epochs = cfg.model.teacher_epochs or 3
        tcfg.freeze = "full"
        ce = build_loss("ce")
        obj = KDObjective(p.teacher, {"ce": (1.0, ce)})
        data = tokenize_examples(p.source, p.teacher.tokenizer, cfg.data.max_length, None)
        train_model(obj, data, tcfg, phase="teacher", callbacks=callbacks)
        freeze(p.teacher, "full")
        needs_head = False
    cache = p.cache
    texts = p.kd.teacher_texts + _eval_texts(frame, [cfg.data.source_language] + p.targets)
    cache_path = run_dir / CACHE_FILE if run_dir is not None else None
    if resume and cache_path is not None:
        info["cache_reused"] = cache.load(cache_path, texts)

    def progress(done, total):
        callbacks.on_step("teacher", done, total, {})

    n_texts = len(set(texts) - set(cache.index))
    callbacks.on_phase("teacher", max(1, n_texts))
    cache.ensure(texts, progress=progress)
    info["teacher_texts_encoded"] = cache.encoded_texts
    if cache_path is not None:
        cache.save(cache_path)
    if needs_head:
        info.update(fit_teacher_head(p.teacher, cache, p.source, p.dataset.labels, cfg, dev))
    return info


def dev_examples_by_language(frame, labels: list[str], languages: list[str]) -> dict[str, Examples]:
    """Labelled dev rows per language (for evaluation during training)."""
    index = label_index(labels)
    out = {}
    for lang in languages:
        rows = frame[
            (frame["language"] == lang) & (frame["split"] == "dev") & frame["label"].notna()
        ]
        if len(rows):
            texts = rows["text"].tolist()
            out[lang] = Examples(
                texts, list(texts), [index[x] for x in rows["label"]], [lang] * len(texts)
            )
    return out


def dev_accuracy_fn(student, dev: dict[str, Examples], max_length: int):
    """A callable giving ``{eval_<lang>_accuracy: ...}`` of ``student`` on dev rows."""
    from xkd.evaluate.evaluator import model_outputs

    def run() -> dict:
        out = {}
        for lang, ex in dev.items():
            logits, _ = model_outputs(student, ex.student_texts, max_length)
            out[f"eval_{lang}_accuracy"] = round(
                float((logits.argmax(1) == np.array(ex.labels)).mean()), 4
            )
        student.train()
        return out

    return run


def train_student_phase(
    cfg: RunConfig,
    student,
    losses: dict,
    examples: Examples,
    cache,
    phase: str,
    run_dir,
    resume,
    callbacks,
    dev: dict | None = None,
):
    from xkd.models import freeze
    from xkd.train.loop import KDObjective, tokenize_examples, train_model

    freeze(student, cfg.train.freeze)
    objective = KDObjective(student, losses, cache)
    teacher_ids = cache.ids(examples.teacher_texts) if cache is not None else None
    data = tokenize_examples(examples, student.tokenizer, cfg.data.max_length, teacher_ids)
    ckpt = run_dir / "checkpoints" if run_dir is not None else None
    eval_fn = (
        dev_accuracy_fn(student, dev, cfg.data.max_length) if dev and cfg.train.eval_every else None
    )
    state = train_model(
        objective,
        data,
        cfg.train,
        phase=phase,
        callbacks=callbacks,
        checkpoint_dir=ckpt,
        resume=resume,
        eval_fn=eval_fn,
    )
    return state


# ---------------------------------------------------------------------------------------------
# The whole experiment


def run_experiment(
    cfg: RunConfig,
    run_dir: str | Path,
    *,
    callbacks: list[Callback] | None = None,
    resume: bool = False,
) -> dict:
    """Run ``cfg`` into ``run_dir`` (created if needed); returns the eval summary.

    On a user error the status becomes ``failed`` with the message; on a stop request
    ``stopped`` (a checkpoint is saved); any other exception is ``failed`` with the traceback in
    ``logs/run.log``. The exception is re-raised for the caller (running out of memory, on GPU
    or CPU, as a ``ResourceError`` whose message says which settings to lower).
    """
    from xkd.runs import RunFolder

    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
    writer = RunWriter(folder)
    cb = CallbackList([writer, *(callbacks or [])])
    if not resume:
        folder.write_config(cfg.to_yaml())
        folder.write_env()
    folder.write_status("running", pid=os.getpid(), error=None, phase="data")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        set_seed(cfg.train.seed)
        torch.set_num_threads(max(1, torch.get_num_threads()))
        p = prepare(cfg, cb)
        timings["load"] = time.perf_counter() - t0
        result = _run_phases(cfg, p, folder, run_dir, resume, cb, timings)
        if result is None:
            folder.write_status("stopped", error=None)
            return {}
        result["timings"] = {k: round(v, 2) for k, v in timings.items()}
        result["timings"]["total"] = round(time.perf_counter() - t0, 2)
        folder.write_eval(result)
        cb.on_step("eval", 1, 1, {})
        folder.write_status("finished", phase="done", error=None)
        return result
    except XKDError as exc:
        folder.log_exception()
        folder.write_status("failed", error=str(exc))
        raise
    except BaseException as exc:  # noqa: BLE001 - record every failure, then re-raise
        if is_out_of_memory(exc):
            folder.log_exception()
            msg = out_of_memory_message(exc, cfg)
            folder.write_status("failed", error=msg)
            raise ResourceError(msg) from exc
        folder.log_exception()
        state = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
        folder.write_status(state, error=f"{type(exc).__name__}: {exc}".strip())
        raise


def is_out_of_memory(exc: BaseException) -> bool:
    """GPU or CPU out of memory: ``torch.OutOfMemoryError``, ``MemoryError``, or the
    ``RuntimeError`` torch's CPU allocator raises (``DefaultCPUAllocator: can't allocate``)."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "not enough memory" in text or "out of memory" in text
    )


def out_of_memory_message(exc: BaseException, cfg: RunConfig) -> str:
    return (
        f"out of memory ({type(exc).__name__}) with train.batch_size={cfg.train.batch_size} and "
        f"data.max_length={cfg.data.max_length}: lower train.batch_size or data.max_length (or "
        "use a smaller student/teacher) and retry; `xkd train --resume RUN` continues from the "
        "last checkpoint"
    )


def _run_phases(
    cfg, p: Prepared, folder, run_dir: Path, resume: bool, cb: Callback, timings: dict
) -> dict | None:
    from xkd.evaluate.evaluator import evaluate
    from xkd.models import build_student, model_size
    from xkd.train.cache import TeacherCache

    t = time.perf_counter()
    n_labels = len(p.dataset.labels)
    source_texts = p.source.student_texts
    all_train_texts = p.kd.student_texts
    student_info: dict = {"parameters": None}
    student = build_student(
        cfg.student,
        p.teacher,
        all_train_texts,
        labels=p.dataset.labels,
        seed=cfg.train.seed,
        scratch_layers=cfg.model.scratch_layers,
        scratch_hidden=cfg.model.scratch_hidden,
        vocab_size=cfg.model.vocab_size,
        pooling=cfg.model.pooling,
        trust_remote_code=cfg.model.trust_remote_code,
    )
    if cfg.model.extend_vocab:
        from xkd.models.vocab import extend_vocabulary

        student_info["vocab_added"] = extend_vocabulary(
            student, all_train_texts, seed=cfg.train.seed
        )
    losses = build_losses(cfg, student.dims(n_labels), p.teacher.dims(n_labels))
    check_tokenizers(losses, p.teacher, student)
    hidden_layers = {
        i for _, loss in losses.values() for i in loss.teacher_layers() if "hidden" in loss.needs
    }
    attn_layers = {
        i
        for _, loss in losses.values()
        for i in loss.teacher_layers()
        if "attentions" in loss.needs
    }
    p.cache = TeacherCache(
        p.teacher,
        max_length=cfg.data.max_length,
        hidden_layers=hidden_layers,
        attention_layers=attn_layers,
    )
    info = teacher_phase(cfg, p, run_dir, resume, cb)
    if (
        p.teacher.head is not None
        and student.head is not None
        and cfg.student.startswith("from-teacher")
    ):
        student.head.load_state_dict(p.teacher.head.state_dict())
    baseline_init = copy.deepcopy(student) if cfg.baseline else None
    dev = dev_examples_by_language(
        p.dataset.frame, p.dataset.labels, [cfg.data.source_language] + p.targets
    )
    timings["teacher"] = time.perf_counter() - t

    t = time.perf_counter()
    baseline = None
    if baseline_init is not None:
        from xkd.losses import build_loss

        ce = {"ce": (1.0, build_loss("ce"))}
        state = train_student_phase(
            cfg, baseline_init, ce, p.source, None, "baseline", run_dir, resume, cb, dev
        )
        if state.stopped:
            return None
        baseline = baseline_init
        baseline.save_pretrained(folder.path / "baseline", card=_card(cfg, p, "no-KD baseline"))
    timings["baseline"] = time.perf_counter() - t

    t = time.perf_counter()
    state = train_student_phase(
        cfg, student, losses, p.kd, p.cache, "student", run_dir, resume, cb, dev
    )
    if state.stopped:
        return None
    student.save_pretrained(folder.path / "student", card=_card(cfg, p, "KD student"))
    p.teacher.save_pretrained(folder.path / "teacher", card=_card(cfg, p, "teacher"))
    timings["student"] = time.perf_counter() - t

    t = time.perf_counter()
    cb.on_phase("eval", 1)
    sizes = {
        "teacher": model_size(p.teacher) | {"disk_mb": _disk_mb(folder.path / "teacher")},
        "student": model_size(student) | {"disk_mb": _disk_mb(folder.path / "student")},
    }
    res = evaluate(
        frame=p.dataset.frame,
        labels=p.dataset.labels,
        source_language=cfg.data.source_language,
        target_languages=p.targets,
        teacher=p.teacher,
        cache=p.cache,
        student=student,
        baseline=baseline,
        max_length=cfg.data.max_length,
        sizes=sizes,
    )
    write_tables(folder, res)
    timings["eval"] = time.perf_counter() - t
    summary = res.summary
    summary["teacher_info"] = info
    student_info["parameters"] = sizes["student"]["parameters"]
    summary["student_info"] = student_info
    summary["train_examples"] = {"kd": len(p.kd), "source": len(source_texts)}
    return summary


def write_tables(folder, res) -> None:
    """Write ``embeddings.parquet`` and ``predictions.parquet`` atomically."""
    for path, frame in (
        (folder.embeddings_path, res.embeddings),
        (folder.predictions_path, res.predictions),
    ):
        tmp = path.with_name(path.name + ".tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)


def _disk_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 2)


def _card(cfg: RunConfig, p: Prepared, role: str) -> dict:
    return {
        "role": role,
        "teacher": cfg.teacher,
        "student": cfg.student,
        "data": cfg.data.path,
        "source_language": cfg.data.source_language,
        "target_languages": ", ".join(p.targets),
        "recipe": ", ".join(f"{s.name} x{s.weight}" for s in cfg.distill.losses),
        "temperature": cfg.distill.temperature,
        "alpha": cfg.distill.alpha,
    }
