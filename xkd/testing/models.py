"""Tiny random models for tests: a training step takes milliseconds.

``tiny_model`` is imported by tests across the project; keep its signature stable.
"""

from __future__ import annotations

from collections.abc import Sequence

from xkd.models import XKDModel
from xkd.models.students import random_bert
from xkd.models.wordpiece import train_tokenizer

SAMPLE_TEXTS = (
    "The weather is nice today.",
    "I like to read books about history.",
    "How much money do you have?",
    "Das Wetter ist heute schön.",
    "Il tempo è bello oggi, andiamo al mare.",
    "Погода сегодня хорошая.",
    "Я люблю читать книги по истории.",
    "今天天气很好。",
    "我喜欢看历史书。",
    "今日はいい天気ですね。",
    "歴史の本を読むのが好きです。",
    "오늘 날씨가 좋네요.",
    "나는 역사 책 읽는 것을 좋아해요.",
    "Сьогодні гарна погода.",
)


def tiny_model(
    labels: Sequence[str] | None = ("a", "b", "c"),
    texts: Sequence[str] | None = None,
    layers: int = 2,
    hidden: int = 32,
    heads: int = 2,
    vocab_size: int = 100,
    seed: int = 0,
    pooling: str = "mean",
) -> XKDModel:
    """A random ``BertConfig`` model (``layers`` x ``hidden``) with a tokenizer trained on
    ``texts`` (default: :data:`SAMPLE_TEXTS`, several scripts) and a head over ``labels``.

    Two calls with the same ``texts`` give the same vocabulary; the same ``seed`` gives the
    same weights. Positions: 128 tokens. Returned in eval mode (deterministic forward).
    """
    tokenizer = train_tokenizer(list(texts or SAMPLE_TEXTS), vocab_size=vocab_size, max_length=128)
    return random_bert(
        tokenizer,
        labels=list(labels) if labels else None,
        layers=layers,
        hidden=hidden,
        heads=heads,
        max_length=128,
        pooling=pooling,
        seed=seed,
        intermediate=2 * hidden,
    )
