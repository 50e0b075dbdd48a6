"""Named recipes. Each preset is a partial config dict merged over the defaults.

- ``demo``: offline cross-lingual KD on the built-in chatterbot data. The MiniLM teacher gets a
  head fitted on English labels (frozen encoder); a 3-layer student copied from it learns from
  parallel pairs (MSE on sentence embeddings, Reimers & Gurevych 2020) plus KL to the teacher's
  logits on the English side. No target-language label is used.
- ``compress``: same-language KD (a smaller student of the teacher, source language only). With
  ``alpha = 0.5`` the total is ``0.5 * CE + 0.5 * (kl + 2 * hidden_mse)``: the hidden-state term
  keeps the full weight it had when ``alpha`` only scaled the prediction losses.
- ``soft-labels``: the teacher labels unlabelled target-language text; the student learns from
  those soft labels plus hard source labels. Meant for a multilingual teacher (an HF id such as
  ``sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2``); offline it runs with ``minilm``.
- ``transfer``: the field's cross-lingual recipe with a parallel corpus apart from the task
  (``data.parallel_corpus``): the teacher is fine-tuned on the source language's labels (top 2
  blocks and a head, 8 epochs), the student is distilled on the corpus's pairs (MSE on sentence
  embeddings + KL on the source side), and every target language of the task is evaluated
  zero-shot beside the no-KD baseline. Offline it uses the demo: its labelled rows as the task,
  its translation pairs as the corpus; point ``data.parallel_corpus`` at OPUS/TED2020/Tatoeba
  files for real use.
- ``multi-teacher``: the demo with two teachers whose soft labels and embeddings are averaged
  (``distill.teacher_mix: average``): ``minilm`` with a head on its frozen features (the demo's
  teacher, which the student is cut from) and a second ``minilm`` whose top 2 blocks are
  fine-tuned with its head on the English labels (``teachers[0].freeze: top:2``). Each teacher
  is cached once; ``--set distill.teacher_mix=per_language`` with ``languages`` on the second
  teacher chooses a teacher per language instead (README, "Several teachers").
"""

from __future__ import annotations

from typing import Any

from xkd.errors import ConfigError

#: the demo's recipe: MSE on sentence embeddings of the pairs (x10) + KL on the source side
PARALLEL_KD: dict[str, Any] = {
    "temperature": 3.0,
    "alpha": 0.0,
    "losses": [{"name": "parallel_mse", "weight": 10.0}, {"name": "kl", "weight": 1.0}],
}

PRESETS: dict[str, dict[str, Any]] = {
    "demo": {
        "name": "demo",
        "teacher": "minilm",
        "student": "from-teacher:3",
        "data": {"path": "demo", "source_language": "en", "parallel": True, "max_length": 64},
        "model": {"extend_vocab": "auto"},  # its MiniLM student is WordPiece: extended
        "distill": PARALLEL_KD,
        # 4 epochs at 1.5e-4 and 4 alignment points between the ends: 65 s instead of 82 s on
        # 2 cores with the same quality bar (docs/speed.md)
        "train": {
            "epochs": 4,
            "batch_size": 32,
            "lr": 1.5e-4,
            "warmup_ratio": 0.1,
            "alignment_points": 4,
        },
    },
    "compress": {
        "name": "compress",
        "teacher": "minilm",
        "student": "from-teacher:2",
        "data": {
            "path": "demo",
            "source_language": "en",
            "parallel": False,
            "target_languages": [],
        },
        "distill": {
            "temperature": 2.0,
            "alpha": 0.5,
            "losses": [
                {"name": "kl", "weight": 1.0},
                {"name": "hidden_mse", "weight": 2.0, "params": {"features": "both"}},
            ],
        },
        "train": {"epochs": 3, "batch_size": 32, "lr": 1e-4},
    },
    "transfer": {
        "name": "transfer",
        "teacher": "minilm",
        "student": "from-teacher:3",
        "data": {
            "path": "demo",
            "parallel_corpus": "demo",
            "source_language": "en",
            "parallel": True,
            "max_length": 64,
        },
        "model": {"extend_vocab": "auto", "teacher_freeze": "top:2", "teacher_epochs": 8},
        "distill": PARALLEL_KD,
        "train": {"epochs": 5, "batch_size": 32, "lr": 2e-4, "warmup_ratio": 0.1},
    },
    "multi-teacher": {
        "name": "multi-teacher",
        "teacher": "minilm",
        "teachers": [{"model": "minilm", "weight": 1.0, "freeze": "top:2"}],
        "student": "from-teacher:3",
        "data": {"path": "demo", "source_language": "en", "parallel": True, "max_length": 64},
        "model": {"extend_vocab": "auto", "teacher_freeze": "head"},
        "distill": {**PARALLEL_KD, "teacher_mix": "average"},
        "train": {  # the demo's
            "epochs": 4,
            "batch_size": 32,
            "lr": 1.5e-4,
            "warmup_ratio": 0.1,
            "alignment_points": 4,
        },
    },
    "soft-labels": {
        "name": "soft-labels",
        "teacher": "minilm",
        "student": "from-teacher:3",
        "data": {
            "path": "demo",
            "source_language": "en",
            "parallel": False,
            "unlabeled_targets": True,
        },
        "distill": {"temperature": 2.0, "alpha": 0.5, "losses": [{"name": "kl", "weight": 1.0}]},
        "train": {"epochs": 3, "batch_size": 32, "lr": 1e-4},
    },
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}'; available: {', '.join(PRESETS)}")
    import copy

    return copy.deepcopy(PRESETS[name])
