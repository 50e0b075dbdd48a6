"""Typed run configuration.

One :class:`RunConfig` describes a run: data + teacher/student models + distillation recipe +
training settings. The CLI (``--set key=value``), YAML files, presets and the app all build the
same object through :func:`from_dict`; unknown keys and wrong types are ``ConfigError``.
Each field carries its help text in ``metadata["help"]`` (the app shows it as a tooltip).
The generic building machinery (type coercion, strict keys, YAML, ``--set``) lives in
:mod:`xkd.config_parse`; :func:`load_yaml`, :func:`set_key` and :func:`merge` are re-exported here.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from xkd.config_parse import (
    REPORT_TO,
    _auto_bool,
    _build,
    _check_freeze,
    check_teachers,
    check_train,
    load_yaml,
    losses_from,
    merge,
    set_key,
    teachers_from,
)
from xkd.errors import ConfigError

__all__ = [
    "DataConfig",
    "DistillConfig",
    "LossConfig",
    "ModelConfig",
    "REPORT_TO",
    "RunConfig",
    "TeacherConfig",
    "TrainConfig",
    "field_help",
    "from_dict",
    "load_yaml",
    "merge",
    "set_key",
]


def _f(
    default: Any = dataclasses.MISSING,
    help: str = "",
    parse: Callable[[Any, str], Any] | None = None,
    **kw: Any,
) -> Any:
    """A dataclass field with help text (``default`` may be a factory via ``default_factory``).

    ``parse(value, dotted_key)`` builds the field from plain data instead of its type annotation.
    """
    if default is not dataclasses.MISSING:
        kw["default"] = default
    metadata: dict[str, Any] = {"help": help}
    if parse is not None:
        metadata["parse"] = parse
    return field(metadata=metadata, **kw)


@dataclass
class DataConfig:
    path: str = _f(
        "demo",
        "`demo`, a local file/folder, or `hf:<dataset id>`; empty with data.parallel_corpus: an "
        "alignment-only run (no labels; retrieval@1 per language)",
    )
    source_language: str = _f("en", "language the teacher is trained/labelled in")
    target_languages: list[str] = _f(
        help="languages to transfer to (empty = every other language in the data)",
        default_factory=list,
    )
    columns: dict[str, str] = _f(
        help="mapping {schema column: file column} for files with other column names",
        default_factory=dict,
    )
    max_length: int = _f(64, "maximum tokens per text")
    parallel: bool = _f(
        True, "use translation pairs (student reads the translation, teacher the source)"
    )
    unlabeled_targets: bool = _f(
        False,
        "also distil on target-language train texts on their own (soft labels, no hard label)",
    )
    max_train_per_language: int | None = _f(None, "cap on training rows per language (None = all)")
    parallel_corpus: str = _f(
        "",
        "a parallel corpus for parallel KD apart from the task data: a file with one column per "
        "language, a folder of line-aligned <name>.<lang> files (tatoeba.<xx>-<yy>.<xx> too), "
        "hf:<id>[:<config>], or task data with pair ids (its labels unused). Its held-out pairs "
        "give retrieval@1. Empty: the task data's own pair ids",
    )
    max_pairs_per_language: int | None = _f(
        None,
        "cap on the training pairs per target language, of the parallel corpus or the task "
        "data's own pairs (None = all)",
    )

    def validate(self) -> None:
        if not self.path and not self.parallel_corpus:
            raise ConfigError(
                "data.path is empty: use `demo`, a local file/folder or `hf:<id>` (empty only "
                "for an alignment-only run on data.parallel_corpus)"
            )
        if self.max_length < 8:
            raise ConfigError(f"data.max_length={self.max_length} is too small; use >= 8")
        if self.parallel_corpus and not self.parallel:
            raise ConfigError(
                "data.parallel_corpus is set but data.parallel is false; set data.parallel: true "
                "(or leave data.parallel_corpus empty)"
            )
        if self.max_pairs_per_language is not None and self.max_pairs_per_language < 1:
            raise ConfigError(
                f"data.max_pairs_per_language={self.max_pairs_per_language}: use a whole number "
                ">= 1, or leave it empty for every pair"
            )
        if self.source_language in self.target_languages:
            raise ConfigError(
                f"data.target_languages contains the source language '{self.source_language}'"
            )


@dataclass
class ModelConfig:
    pooling: str = _f(
        "auto",
        "sentence pooling: auto (a sentence-transformers model's own pooling, Dense and Normalize; "
        "else mean) | mean | cls | attention",
    )
    trust_remote_code: bool = _f(
        False, "allow model code from the model's repository to run (security risk; off by default)"
    )
    scratch_layers: int = _f(4, "layers of a `scratch` student")
    scratch_hidden: int = _f(256, "hidden size of a `scratch` student")
    vocab_size: int = _f(16000, "vocabulary size of a `scratch` student's tokenizer")
    extend_vocab: bool | None = _f(
        False,
        "add the training text's missing characters to the student's WordPiece vocabulary "
        "(and stop accent stripping): fixes [UNK]-heavy CJK/Korean with an English teacher "
        "vocabulary. true | false | auto (on for a WordPiece student, off with a note otherwise)",
        parse=_auto_bool,
    )
    vocab_pieces: int = _f(
        0,
        "with extend_vocab: also learn this many WordPiece subwords on the target-language "
        "training text and add them (embeddings: the mean of the pieces each replaces); "
        "0 = characters only",
    )
    teacher_epochs: int = _f(
        0,
        "epochs of teacher training when it has no head (0 = auto: 30 for a head on frozen features, 3 otherwise)",
    )
    teacher_lr: float = _f(2e-3, "learning rate of teacher head training")
    teacher_freeze: str = _f(
        "head", "what teacher fine-tuning trains: head (frozen encoder) | full | top:K"
    )
    student_head: str = _f(
        "linear",
        "the student's classifier: linear (xkd's head on the pooled vector) | native (its "
        "family's own ...ForSequenceClassification head: the export loads in "
        "AutoModelForSequenceClassification and pipeline('text-classification'))",
    )
    teacher_head: str = _f(
        "keep",
        "a teacher that brings a head (a Hub ...ForSequenceClassification or an xkd model): keep "
        "(use its own predictions; refused when its labels are not the data's) | refit (discard "
        "it and fit a new head on its embeddings)",
    )

    @property
    def chosen_pooling(self) -> str | None:
        """The pooling the user chose; None for ``auto`` (each model's own)."""
        return None if self.pooling == "auto" else self.pooling

    def validate(self) -> None:
        if self.student_head not in ("linear", "native"):
            raise ConfigError(f"model.student_head='{self.student_head}': use linear or native")
        if self.pooling not in ("auto", "mean", "cls", "attention"):
            raise ConfigError(f"model.pooling='{self.pooling}': use auto, mean, cls or attention")
        if self.teacher_head not in ("keep", "refit"):
            raise ConfigError(f"model.teacher_head='{self.teacher_head}': use keep or refit")
        _check_freeze("model.teacher_freeze", self.teacher_freeze)
        if not 0 <= self.vocab_pieces <= 50_000:
            raise ConfigError(f"model.vocab_pieces={self.vocab_pieces}: use 0..50000")
        if self.vocab_pieces and self.extend_vocab is False:
            raise ConfigError(
                f"model.vocab_pieces={self.vocab_pieces} needs model.extend_vocab: true (or "
                "auto); set it, or model.vocab_pieces: 0"
            )
        for name in ("scratch_layers", "scratch_hidden", "vocab_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1")


@dataclass
class LossConfig:
    name: str = _f(help="loss name from the registry (xkd.losses.LOSSES)")
    weight: float = _f(1.0, "weight w of this term: total = alpha*CE + (1-alpha)*sum(w*loss)")
    params: dict[str, Any] = _f(help="loss params (temperature, gamma, ...)", default_factory=dict)

    def validate(self) -> None:
        if self.weight < 0:
            raise ConfigError(f"distill.losses[{self.name}].weight={self.weight} must be >= 0")
        lam = self.params.get("lambda", self.params.get("lambda_"))
        if lam is not None:  # removed params: say what to write instead
            new = f"{self.weight * lam:g}" if isinstance(lam, int | float) else "<weight*lambda>"
            raise ConfigError(
                f"distill.losses[{self.name}]: 'lambda' was removed; put the factor in the "
                f"term's weight: {{name: {self.name}, weight: {new}}}"
            )
        if "alpha" in self.params:
            raise ConfigError(
                f"distill.losses[{self.name}]: 'alpha' is no longer a loss parameter; set "
                "distill.alpha (the hard-label CE, applied once to the whole objective)"
            )


def _losses_from(value: Any, key: str) -> list[LossConfig]:
    """``distill.losses`` from plain data (:func:`xkd.config_parse.losses_from`)."""
    return losses_from(value, key, LossConfig)


@dataclass
class DistillConfig:
    losses: list[LossConfig] = _f(
        help="(loss, weight, params) terms summed into the student's objective",
        default_factory=list,
        parse=_losses_from,
    )
    temperature: float = _f(3.0, "softmax T of every loss that takes one (a term may set its own)")
    alpha: float = _f(0.0, "hard-label CE weight, applied once: alpha*CE + (1-alpha)*sum(w*loss)")
    teacher_mix: str = _f(
        "average",
        "with `teachers`: average (the weighted mixture of every teacher's softened probabilities "
        "and embeddings) | per_language (each KD row takes the teacher of its student text's "
        "language: teachers[i].languages; the first teacher for the rest)",
    )
    teacher_weight: float = _f(1.0, "the first teacher's weight in teacher_mix: average")

    def validate(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"distill.temperature={self.temperature} must be > 0")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"distill.alpha={self.alpha} must be within [0, 1]")
        if not self.losses:
            raise ConfigError("distill.losses is empty: add at least one loss, e.g. {name: kl}")
        for loss in self.losses:
            loss.validate()
        if self.alpha > 0 and any(loss.name == "ce" for loss in self.losses):
            raise ConfigError(
                f"distill.alpha={self.alpha:g} already adds the hard-label CE once; a `ce` term "
                "would count it twice: drop the `ce` term, or set distill.alpha: 0 and weight "
                "the `ce` term instead"
            )


@dataclass
class TrainConfig:
    epochs: float = _f(3, "training epochs of the student (fractions allowed)")
    batch_size: int = _f(32, "examples per batch")
    lr: float = _f(1e-4, "peak learning rate (AdamW)")
    weight_decay: float = _f(0.01, "AdamW weight decay")
    warmup_ratio: float = _f(0.1, "share of steps with linear warm-up")
    grad_clip: float = _f(1.0, "gradient norm clipping (0 = off)")
    seed: int = _f(0, "random seed")
    freeze: str = _f("full", "student fine-tuning: full | top:K (top K blocks only)")
    eval_every: int = _f(0, "evaluate on dev every N steps (0 = only at the end)")
    alignment_points: int = _f(
        8,
        "alignment health (retrieval, pair cosine, language-ID probe, CKA on held-out pairs) "
        "and the map, at step 0, the end and this many steps between (0 = off)",
    )
    log_every: int = _f(5, "write metrics.jsonl every N steps")
    checkpoint_every: int = _f(0, "save a resumable checkpoint every N steps (0 = each epoch end)")
    device: str = _f("auto", "auto | cpu | cuda | cuda:N")
    mixed_precision: str = _f(
        "auto",
        "auto (bf16 or fp16 on GPU; bf16 on a CPU with native bf16, else off) | no | bf16 | fp16",
    )
    max_steps: int = _f(0, "stop after this many steps (0 = no limit)")
    sampling_exponent: float = _f(
        1.0, "KD student: language l drawn ~ n_l**s (1 = natural, 0 = equal)"
    )
    oversample_min: int = _f(0, "KD student: repeat a language's examples to N per epoch (0 = off)")
    report_to: list[str] = _f(
        help="also send metrics to: tensorboard, mlflow, wandb, trackio (empty = off)",
        default_factory=list,
    )

    def validate(self) -> None:
        check_train(self)


@dataclass
class TeacherConfig:
    """One more teacher (``teachers``), mixed with the first by ``distill.teacher_mix``."""

    model: str = _f(help="`minilm`, an HF id, or a local folder (e.g. a finished run's teacher/)")
    weight: float = _f(1.0, "its weight in distill.teacher_mix: average")
    languages: list[str] = _f(
        help="distill.teacher_mix: per_language: the student-text languages it teaches",
        default_factory=list,
    )
    freeze: str = _f(
        "", "fine-tuning when it has no head: head | full | top:K (empty: model.teacher_freeze)"
    )


@dataclass
class RunConfig:
    name: str = _f("", "optional run name (used in the run id)")
    teacher: str = _f(
        "minilm", "teacher: `minilm` (built-in, offline), an HF id, or a local folder"
    )
    teachers: list[TeacherConfig] = _f(
        help="more teachers: [{model: <spec>, weight: 1.0, languages: [de, fr], freeze: top:2}]",
        default_factory=list,
        parse=lambda value, key: teachers_from(value, key, TeacherConfig),
    )
    student: str = _f(
        "from-teacher:3", "student: `from-teacher:K`, `scratch`, an HF id, or a local folder"
    )
    baseline: bool = _f(True, "also train a no-KD baseline student (same init, source labels only)")
    data: DataConfig = _f(help="dataset and languages", default_factory=DataConfig)
    model: ModelConfig = _f(help="model options", default_factory=ModelConfig)
    distill: DistillConfig = _f(help="distillation recipe", default_factory=DistillConfig)
    train: TrainConfig = _f(help="training settings", default_factory=TrainConfig)

    def validate(self) -> RunConfig:
        if not self.teacher:
            raise ConfigError("teacher is empty: use `minilm`, an HF id or a local folder")
        if not self.student:
            raise ConfigError(
                "student is empty: use `from-teacher:K`, `scratch`, an HF id or a folder"
            )
        for part in (self.data, self.model, self.distill, self.train):
            part.validate()
        check_teachers(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Build and validate a :class:`RunConfig`; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError("a config must be a mapping of keys to values")
    return _build(RunConfig, data).validate()


def field_help(cls: type = RunConfig, prefix: str = "") -> dict[str, str]:
    """Flat ``{dotted key: help}`` for the CLI and the app's tooltips."""
    out: dict[str, str] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(field_help(hints[f.name], key + "."))
        else:
            out[key] = f.metadata.get("help", "")
    return out
