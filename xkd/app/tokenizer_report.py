"""How well the teacher's and the student's tokenizers cover each language of the data.

For a sample of texts per language: the unknown-token rate (share of tokens that are the
tokenizer's ``unk`` token) and the tokens per word (words = whitespace-separated pieces; for
languages written without spaces, such as Chinese and Japanese, this is tokens per
space-separated chunk and reads high; the characters-per-token column is comparable across
scripts). A high unknown rate means the model cannot read that language at all; many tokens per
word means the text is split into small pieces (longer sequences, weaker representations).

Only tokenizer files are read (``AutoTokenizer``, offline); no model weights are loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from xkd.evaluate.tokens import tokenizer_stats

COLUMNS = [
    "language",
    "model",
    "texts",
    "unknown-token rate",
    "tokens per word",
    "chars per token",
    "truncated",
]


@dataclass
class TokenizerReport:
    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def load_tokenizer(spec: str, *, trust_remote_code: bool = False):
    """The tokenizer of ``minilm``, a local model folder or a cached Hub id, or ``None``.

    ``from-teacher:K`` and ``scratch`` are student specs, not tokenizers: the caller resolves
    them (a ``from-teacher`` student shares the teacher's tokenizer; a ``scratch`` student's is
    trained on the data at launch).
    """
    from transformers import AutoTokenizer

    spec = (spec or "").strip()
    if not spec:
        return None
    if spec.lower() == "minilm":
        from xkd.models import minilm_path

        source: Any = str(minilm_path())
    else:
        path = Path(spec).expanduser()
        source = str(path) if path.is_dir() else spec
    try:
        return AutoTokenizer.from_pretrained(
            source, local_files_only=True, trust_remote_code=trust_remote_code
        )
    except Exception:  # noqa: BLE001 - not local / not cached: reported as a note
        return None


def sample_texts(frame: pd.DataFrame, languages: list[str], per_language: int = 200, seed=0):
    """Up to ``per_language`` texts per language (a seeded random sample)."""
    out: dict[str, list[str]] = {}
    for lang in languages:
        part = frame[frame["language"] == lang]
        if len(part) > per_language:
            part = part.sample(per_language, random_state=seed)
        out[lang] = part["text"].astype(str).tolist()
    return out


def tokenizer_report(
    texts_by_language: dict[str, list[str]],
    tokenizers: dict[str, Any],
    max_length: int | None = None,
) -> pd.DataFrame:
    """One row per (language, model) of :func:`tokenizer_stats`; ``None`` tokenizers skipped."""
    rows = []
    for lang, texts in texts_by_language.items():
        for name, tok in tokenizers.items():
            if tok is None:
                continue
            rows.append(
                {"language": lang, "model": name, **tokenizer_stats(tok, texts, max_length)}
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def report_for_config(cfg, dataset, per_language: int = 200) -> TokenizerReport:
    """The report for a RunConfig on ``dataset`` (a TextDataset): teacher and student rows.

    The student's tokenizer: a ``from-teacher:K`` student shares the teacher's (one set of rows,
    labelled ``teacher = student``); a ``scratch`` student trains its own on the data at launch
    (not shown); another model is loaded from its folder or the local Hugging Face cache.
    """
    notes: list[str] = []
    teacher = load_tokenizer(cfg.teacher, trust_remote_code=cfg.model.trust_remote_code)
    if teacher is None:
        notes.append(f"teacher tokenizer of '{cfg.teacher}' not available offline; not shown")
    from xkd.errors import ConfigError
    from xkd.models.students import StudentSpec

    try:
        spec: StudentSpec | None = StudentSpec.parse(cfg.student)
    except ConfigError as e:
        spec = None
        notes.append(f"{e}; the student's tokenizer is not shown")
    tokenizers: dict[str, Any] = {}
    if spec is not None and spec.from_teacher:
        tokenizers["teacher = student"] = teacher
        notes.append("a from-teacher student shares the teacher's tokenizer")
    else:
        tokenizers["teacher"] = teacher
        if spec is not None and spec.kind == "scratch":
            notes.append(
                "a scratch student trains its own tokenizer on the training texts at launch "
                "(few unknown tokens on these languages by construction)"
            )
        elif spec is not None:
            student = load_tokenizer(spec.name, trust_remote_code=cfg.model.trust_remote_code)
            if student is None:
                notes.append(
                    f"student tokenizer of '{cfg.student}' not available offline; not shown"
                )
            tokenizers["student"] = student
    frame = dataset.frame
    src = cfg.data.source_language
    targets = cfg.data.target_languages or sorted(set(frame["language"]) - {src})
    languages = [src, *[t for t in targets if t != src]]
    texts = sample_texts(frame, languages, per_language, seed=cfg.train.seed)
    table = tokenizer_report(texts, tokenizers, max_length=cfg.data.max_length)
    if not table.empty:
        bad = table[table["unknown-token rate"] > 0.05]
        for _, row in bad.iterrows():
            notes.append(
                f"{row['model']}: {row['unknown-token rate']:.0%} unknown tokens in "
                f"'{row['language']}', so that language is partly unreadable for it"
            )
    return TokenizerReport(table, notes)
