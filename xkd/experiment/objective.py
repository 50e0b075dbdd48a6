"""Dev accuracy during training: the body of the ``eval`` records of ``metrics.jsonl``."""

from __future__ import annotations

import numpy as np

from xkd.train.examples import Examples

__all__ = ["dev_accuracy_fn"]


def dev_accuracy_fn(model, dev: dict[str, Examples], max_length: int):
    """A callable giving ``{language: dev accuracy}`` of ``model``."""

    def run() -> dict[str, float]:
        out = {}
        for lang, ex in dev.items():
            result = model.infer(ex.student_texts, max_length=max_length, outputs=("logits",))
            logits = result.logits.numpy()
            out[lang] = round(float((logits.argmax(1) == np.array(ex.labels)).mean()), 4)
        return out

    return run
