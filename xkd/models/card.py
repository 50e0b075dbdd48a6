"""The model card (``README.md``) written next to a saved :class:`~xkd.models.model.XKDModel`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from xkd.models.model import XKDModel


def render_card(model: XKDModel, card: dict | None) -> str:
    """A small markdown model card: given ``card`` entries plus architecture facts."""
    lines = ["---", "library_name: xkd", "tags:", "- knowledge-distillation", "---", ""]
    title = (card or {}).get("title") or (card or {}).get("name") or "xkd model"
    lines += [f"# {title}", ""]

    def fmt(value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        if isinstance(value, dict):
            return "; ".join(f"{k}: {fmt(v)}" for k, v in value.items())
        return str(value)

    for key, value in (card or {}).items():
        if key in ("title", "name"):
            continue
        lines.append(f"- **{key}**: {fmt(value)}")
    if card:
        lines.append("")
    names = [type(m).__name__.removesuffix("Layer") for m in model.sentence_modules]
    modules = f", then {', '.join(names)}" if names else ""
    lines += [
        "## Architecture",
        "",
        f"- **encoder**: {type(model.encoder).__name__}, {model.num_layers} layers, "
        f"hidden {model.hidden_size}, {model.num_heads} heads",
        f"- **pooling**: {model.pooling}{modules}",
        f"- **labels**: {fmt(model.labels) if model.labels else '(no head)'}",
        "",
        "Load with `xkd.models.XKDModel.from_pretrained(folder)`.",
        "",
    ]
    if model.pooling == "attention":
        lines += [
            "Its sentence embeddings use xkd's attention pooling, which sentence-transformers "
            "cannot rebuild: load it with xkd for them.",
            "",
        ]
    else:
        lines += [
            "Sentence embeddings (the same as xkd's): "
            "`sentence_transformers.SentenceTransformer(folder).encode(texts)`.",
            "",
        ]
    return "\n".join(lines)
