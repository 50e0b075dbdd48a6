"""A rough time and memory estimate for a config before launch.

The estimate is deliberately simple (and says so): parameter counts from the models'
``config.json`` (a local folder, or the local Hugging Face cache; no weights are loaded), else
from the Lab's table of common models (:mod:`xkd.app.model_choices`, approximate), examples counted from the data when that is cheap,
and FLOPs ≈ 2 × parameters × tokens for a forward pass and 6 × for a training step, divided by
a throughput measured with a short matrix product on the chosen device (times an efficiency
factor). Memory is weights + gradients + AdamW state (16 bytes per trained parameter in fp32),
the teacher's weights, and activations of one batch. Expect it to be off by a factor of two.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from xkd.config import RunConfig
from xkd.train.balance import epoch_size

#: Assumed when a model's config cannot be read (BERT-base-like).
_FALLBACK_ARCH = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "intermediate_size": 3072,
    "vocab_size": 119547,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
}
#: Share of the measured matmul throughput a real training step reaches.
_EFFICIENCY = {"cpu": 0.35, "gpu": 0.25}
_OVERHEAD_MB = 600.0  # Python, torch, tokenizers, the app's subprocess


@dataclass
class Arch:
    """What the estimate needs of an encoder (BERT-like parameter formulas)."""

    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int = 512
    num_attention_heads: int = 12
    source: str = ""  # where the numbers came from
    assumed: bool = False
    #: ``config`` (a real config.json), ``table`` (the curated facts), ``derived`` (from the
    #: teacher or the scratch settings) or ``assumed`` (a BERT-base-like guess).
    origin: str = "config"

    @property
    def block_params(self) -> int:
        h, i = self.hidden_size, self.intermediate_size
        return 4 * h * h + 4 * h + 2 * h * i + i + h + 4 * h

    @property
    def embedding_params(self) -> int:
        h = self.hidden_size
        return (self.vocab_size + self.max_position_embeddings + 2) * h + 2 * h

    @property
    def params(self) -> int:
        return self.embedding_params + self.num_hidden_layers * self.block_params

    @property
    def compute_params(self) -> int:
        """Parameters used in matrix products per token (embeddings are look-ups)."""
        return self.num_hidden_layers * self.block_params


def _arch_from_config(cfg: dict, source: str, origin: str = "config") -> Arch:
    def pick(*names, default):
        for n in names:
            if isinstance(cfg.get(n), int):
                return cfg[n]
        return default

    h = pick("hidden_size", "dim", "d_model", default=768)
    return Arch(
        hidden_size=h,
        num_hidden_layers=pick("num_hidden_layers", "n_layers", "num_layers", default=12),
        intermediate_size=pick("intermediate_size", "hidden_dim", "d_ff", default=4 * h),
        vocab_size=pick("vocab_size", default=30522),
        max_position_embeddings=pick("max_position_embeddings", default=512),
        num_attention_heads=pick("num_attention_heads", "n_heads", default=max(1, h // 64)),
        source=source,
        origin=origin,
    )


def model_arch(spec: str) -> Arch:
    """Architecture of ``minilm``, a local model folder or a Hub id (config only, no network).

    A Hub id's ``config.json`` is read from the local Hugging Face cache; an uncached one of the
    Lab's suggestions gets its curated facts (``origin="table"``); other models get a
    BERT-base-like guess with ``assumed=True``.
    """
    from xkd.app import model_choices as MC

    spec = (spec or "").strip()
    folder: Path | None = None
    if spec.lower() == "minilm":
        try:
            from xkd.models import minilm_path

            folder = Path(minilm_path())
        except Exception:  # noqa: BLE001 - the package may be missing; fall back below
            folder = None
    elif spec and Path(spec).expanduser().is_dir():
        folder = Path(spec).expanduser()
    if folder is not None and (folder / "config.json").is_file():
        try:
            cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            return _arch_from_config(cfg, str(folder))
        except (OSError, ValueError):
            pass
    if spec and folder is None:
        cached = MC.cached_config(spec)
        if cached is not None:
            return _arch_from_config(cached, f"{spec}: config.json in the local Hugging Face cache")
    known = MC.facts(spec)
    if known is not None:
        source = f"{spec}: approximate sizes from xkd's table of common models (not cached)"
        return _arch_from_config(known.config(), source, origin="table")
    return Arch(
        **_FALLBACK_ARCH,
        source=f"{spec or '?'}: config not readable",
        assumed=True,
        origin="assumed",
    )


def student_arch(cfg: RunConfig, teacher: Arch) -> Arch:
    """The student's architecture implied by ``cfg.student`` and the teacher's."""
    from xkd.errors import ConfigError
    from xkd.models.students import StudentSpec

    try:
        spec = StudentSpec.parse(cfg.student)
    except ConfigError as e:
        return Arch(**_FALLBACK_ARCH, source=str(e), assumed=True, origin="assumed")
    if spec.kind == "from-teacher":
        k = min(spec.layers, teacher.num_hidden_layers)
        return Arch(
            hidden_size=teacher.hidden_size,
            num_hidden_layers=k,
            intermediate_size=teacher.intermediate_size,
            vocab_size=teacher.vocab_size,
            max_position_embeddings=teacher.max_position_embeddings,
            num_attention_heads=teacher.num_attention_heads,
            source=f"{k} of the teacher's {teacher.num_hidden_layers} layers",
            assumed=teacher.assumed,
            origin="derived",
        )
    if spec.kind == "scratch":
        h = cfg.model.scratch_hidden
        return Arch(
            hidden_size=h,
            num_hidden_layers=cfg.model.scratch_layers,
            intermediate_size=4 * h,
            vocab_size=cfg.model.vocab_size,
            max_position_embeddings=cfg.data.max_length,
            num_attention_heads=max(1, h // 64),
            source="scratch (model.scratch_layers × model.scratch_hidden)",
            origin="derived",
        )
    return model_arch(spec.name)


def _size_note(role: str, arch: Arch) -> str | None:
    """Where the estimate's ``role`` size comes from (a line of the notes; None: a guess, said
    by the "size unknown" note)."""
    if arch.origin == "table":
        return f"{role} size: {arch.source}; its real config is used once the model is cached"
    if arch.origin == "config":
        return f"{role} size from its real configuration ({arch.source})"
    return None if arch.assumed else f"{role} size: {arch.source}"


@dataclass
class DataCounts:
    """Rows the run will see, by role (counted from the data, or guessed)."""

    source_train: int
    kd_train: int
    teacher_texts: int
    eval_texts: int
    mean_tokens: float
    languages: list[str] = field(default_factory=list)
    counted: bool = True
    note: str = ""
    kd_per_language: dict[str, int] = field(default_factory=dict)  # by student-text language


def count_data(cfg: RunConfig, dataset=None) -> DataCounts:
    """Count training and eval rows for ``cfg`` from ``dataset`` (a ``TextDataset``).

    Without a dataset, a rough guess (1000 source rows) is returned with ``counted=False``.
    """
    if dataset is None:
        return DataCounts(1000, 2000, 3000, 600, 16.0, [], False, "data not counted; assumed")
    frame = dataset.frame
    src = cfg.data.source_language
    languages = sorted(frame["language"].unique())
    targets = cfg.data.target_languages or [lang for lang in languages if lang != src]
    cap = cfg.data.max_train_per_language
    train = frame[frame["split"] == "train"]
    per_lang = train.groupby("language").size().to_dict()

    def capped(lang: str) -> int:
        n = int(per_lang.get(lang, 0))
        return min(n, cap) if cap else n

    source_train = capped(src)
    per_kd = {src: source_train}
    if cfg.data.parallel:
        src_pairs = set(train[(train["language"] == src)]["pair_id"].dropna())
        for t in targets:
            part = train[(train["language"] == t) & train["pair_id"].isin(src_pairs)]
            n = min(len(part), cap) if cap else len(part)
            budget = cfg.data.max_pairs_per_language  # the pair budget, as the run applies it
            per_kd[t] = min(n, budget) if budget else n
    if cfg.data.unlabeled_targets:
        for t in targets:
            per_kd[t] = per_kd.get(t, 0) + capped(t)
    per_kd = {lang: n for lang, n in per_kd.items() if n}
    kd = sum(per_kd.values())
    used = frame[frame["language"].isin([src, *targets])]
    eval_texts = int((used["split"] != "train").sum())
    chars = float(used["text"].str.len().mean()) if len(used) else 40.0
    tokens = min(float(cfg.data.max_length), chars / 4.0 + 2.0)
    return DataCounts(
        source_train=source_train,
        kd_train=kd,
        teacher_texts=kd + eval_texts,
        eval_texts=eval_texts,
        mean_tokens=tokens,
        languages=languages,
        kd_per_language=per_kd,
    )


@lru_cache(maxsize=4)
def measured_flops(device: str = "cpu") -> float:
    """Matrix-product FLOP/s on ``device``: the best of five 30 ms windows (cached per process).

    The best window is used because other processes sharing the machine make single
    measurements noisy; a run gets the machine's speed when it is not contended.
    """
    import torch

    n = 384
    dev = torch.device(device)
    a = torch.randn(n, n, device=dev)
    b = torch.randn(n, n, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    best = 0.0
    for _ in range(5):
        reps = 0
        start = time.perf_counter()
        while time.perf_counter() - start < 0.03:
            a @ b
            reps += 1
        sync()
        best = max(best, 2 * n**3 * reps / max(time.perf_counter() - start, 1e-9))
    return best


@dataclass
class Estimate:
    """Seconds per phase, peak memory (MB) and the numbers behind them."""

    seconds: dict[str, float]
    total_seconds: float
    peak_memory_mb: float
    teacher: Arch
    student: Arch
    data: DataCounts
    steps: dict[str, int]
    flops_per_second: float
    device: str
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """Table rows: phase, steps, seconds."""
        return [
            {"phase": p, "steps": self.steps.get(p), "seconds (estimate)": round(s, 1)}
            for p, s in self.seconds.items()
        ]


def estimate(
    cfg: RunConfig,
    dataset=None,
    *,
    device: str = "cpu",
    flops_per_second: float | None = None,
) -> Estimate:
    """Rough wall time and peak memory of a run of ``cfg`` on ``device`` (an estimate)."""
    teacher = model_arch(cfg.teacher)
    student = student_arch(cfg, teacher)
    data = count_data(cfg, dataset)
    gpu = device.startswith("cuda")
    if flops_per_second is None:
        try:
            flops_per_second = measured_flops("cuda" if gpu else "cpu")
        except Exception:  # noqa: BLE001 - e.g. a device that is not available here
            flops_per_second = 5e12 if gpu else 2e10
    eff = flops_per_second * _EFFICIENCY["gpu" if gpu else "cpu"]
    tok = data.mean_tokens
    epochs = float(cfg.train.epochs)
    bs = cfg.train.batch_size

    def steps_for(n: int) -> int:
        steps = math.ceil(epochs * math.ceil(max(n, 1) / bs))
        return min(steps, cfg.train.max_steps) if cfg.train.max_steps else steps

    def attn(arch: Arch) -> float:  # attention score/value products per token
        return 2 * 2 * arch.num_hidden_layers * tok * arch.hidden_size

    fwd_t = 2 * teacher.compute_params * tok + attn(teacher)
    fwd_s = 2 * student.compute_params * tok + attn(student)
    steps = {
        "baseline": steps_for(data.source_train) if cfg.baseline else 0,
        # oversampling adds examples to an epoch; smoothed sampling keeps its length
        "student": steps_for(epoch_size(data.kd_per_language, cfg.train.oversample_min))
        if data.kd_per_language
        else steps_for(data.kd_train),
    }
    seconds = {
        "load": 5.0 + teacher.params * 4 / 2**30 * 4,  # reading weights, building tokenizers
        "teacher": data.teacher_texts * fwd_t / eff,
        "baseline": steps["baseline"] * bs * 3 * fwd_s / eff,
        "student": steps["student"] * bs * 3 * fwd_s / eff,
        "eval": (data.eval_texts * (2 if cfg.baseline else 1) + 1024) * fwd_s / eff,
    }
    if cfg.model.teacher_freeze != "head":
        n = math.ceil(cfg.model.teacher_epochs * math.ceil(max(data.source_train, 1) / bs))
        seconds["teacher"] += n * bs * 3 * fwd_t / eff
        steps["teacher"] = n
    trained = student.params
    h, L = student.hidden_size, student.num_hidden_layers
    act = bs * cfg.data.max_length * h * L * (34 + 5 * student.num_attention_heads * 64 / h) * 2
    memory = (
        _OVERHEAD_MB
        + (16 * trained + 4 * teacher.params + 4 * student.params) / 2**20
        + act / 2**20
    )
    notes = [
        "This is an estimate (parameter counts × examples × epochs); expect up to 2× either way."
    ]
    if teacher.assumed:
        notes.append(f"teacher size unknown ({teacher.source}); assumed a BERT-base-like model")
    if student.assumed and not teacher.assumed:
        notes.append(f"student size unknown ({student.source}); assumed a BERT-base-like model")
    for role, arch in (("teacher", teacher), ("student", student)):
        note = _size_note(role, arch)
        if note:
            notes.append(note)
    if not data.counted:
        notes.append("the data was not read (remote or unreadable); assumed ~1000 source rows")
    notes.append(
        f"speed measured now on {'the GPU' if gpu else 'the CPU'}: "
        f"{flops_per_second / 1e9:.0f} GFLOP/s peak matmul; other work on the machine slows runs"
    )
    if cfg.model.teacher_freeze == "head":
        notes.append("the teacher's encoder runs once per text (outputs are cached)")
    return Estimate(
        seconds=seconds,
        total_seconds=sum(seconds.values()),
        peak_memory_mb=memory,
        teacher=teacher,
        student=student,
        data=data,
        steps=steps,
        flops_per_second=flops_per_second,
        device=device,
        notes=notes,
    )
