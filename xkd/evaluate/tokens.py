"""How a tokenizer covers a language's texts (the tokenizer report and the transfer-gap
attribution read the same numbers).

For ``texts``: the unknown-token rate (share of tokens that are the tokenizer's ``unk``), tokens
per word (words = whitespace-separated pieces; for languages written without spaces, such as
Chinese and Japanese, tokens per space-separated chunk, which reads high), characters per
token (comparable across scripts) and the share of texts cut at ``max_length``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

__all__ = ["dominant_script", "tokenizer_stats"]


def tokenizer_stats(tokenizer, texts: list[str], max_length: int | None = None) -> dict:
    """Unknown-token rate, tokens per word, chars per token and truncation share for ``texts``."""
    if not texts:
        return {"texts": 0}
    enc = tokenizer(list(texts), add_special_tokens=False, truncation=False)
    ids = enc["input_ids"]
    unk = tokenizer.unk_token_id
    n_tokens = sum(len(x) for x in ids)
    n_unk = sum(sum(1 for t in x if t == unk) for x in ids) if unk is not None else 0
    n_words = sum(len(re.findall(r"\S+", t)) for t in texts)
    n_chars = sum(len(re.sub(r"\s+", "", t)) for t in texts)
    special = 2  # [CLS] and [SEP] or equivalent
    truncated = (
        sum(1 for x in ids if len(x) + special > max_length) / len(ids) if max_length else 0.0
    )
    return {
        "texts": len(texts),
        "unknown-token rate": n_unk / n_tokens if n_tokens else float("nan"),
        "tokens per word": n_tokens / n_words if n_words else float("nan"),
        "chars per token": n_chars / n_tokens if n_tokens else float("nan"),
        "truncated": truncated,
    }


def dominant_script(texts: list[str]) -> str:
    """The Unicode script most letters of ``texts`` are written in (``Latin``, ``Cyrillic``,
    ``Cjk``, ``Hangul``, ...: the first word of the letters' Unicode names); ``?`` when none."""
    counts: Counter[str] = Counter()
    for text in texts:
        for ch in text:
            if ch.isalpha():
                name = unicodedata.name(ch, "")
                counts[name.split(" ")[0].title() if name else "?"] += 1
    return counts.most_common(1)[0][0] if counts else "?"
