"""Shared fixtures: a tiny parallel labelled dataset and a tiny teacher saved to disk.

Models are random ``BertConfig`` transformers (hidden 32, 1-2 layers) with a tokenizer trained in
the test, so a training step takes milliseconds and nothing is downloaded.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pandas as pd
import pytest

# Tests never reach the Hub, and must not wait for it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("XKD_APP_WARM", "0")  # no background UMAP per AppTest (test_warm.py tests it)


def pytest_configure(config):
    """Session-scoped fixtures (which train before any per-test lock folder exists) take the
    device lock in a folder of this session's own, never behind a real run on this machine."""
    import tempfile

    os.environ["XKD_LOCK_DIR"] = tempfile.mkdtemp(prefix="xkd-test-locks-")


TOPICS = {
    "food": (
        ["bread", "cheese", "apple", "soup", "rice"],
        ["pane", "formaggio", "mela", "zuppa", "riso"],
    ),
    "sport": (
        ["football", "tennis", "race", "goal", "team"],
        ["calcio", "tennis", "corsa", "gol", "squadra"],
    ),
    "money": (
        ["bank", "coin", "price", "loan", "cash"],
        ["banca", "moneta", "prezzo", "prestito", "contanti"],
    ),
}


def make_parallel_frame(n_per_label: int = 12, seed: int = 0) -> pd.DataFrame:
    """English + 'it' rows sharing pair ids; labels carried by topic words."""
    rng = random.Random(seed)
    rows = []
    for label, (en_words, it_words) in TOPICS.items():
        for i in range(n_per_label):
            k = rng.randrange(len(en_words))
            j = rng.randrange(len(en_words))
            pair = f"{label}-{i}"
            split = "train" if i < n_per_label * 2 // 3 else "test"
            rows.append(
                {
                    "text": f"i like {en_words[k]} and {en_words[j]} {i}",
                    "label": label,
                    "language": "en",
                    "split": split,
                    "pair_id": pair,
                }
            )
            rows.append(
                {
                    "text": f"mi piace {it_words[k]} e {it_words[j]} {i}",
                    "label": label,
                    "language": "it",
                    "split": split,
                    "pair_id": pair,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    make_parallel_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_teacher_dir(tmp_path_factory):
    """A tiny random teacher without a classification head (xkd fits one), saved to disk."""
    from xkd.testing.models import tiny_model

    frame = make_parallel_frame()
    model = tiny_model(
        labels=None,
        texts=frame["text"].tolist(),
        layers=2,
        hidden=32,
        heads=2,
        vocab_size=100,
        seed=0,
    )
    path = tmp_path_factory.mktemp("models") / "teacher"
    model.save_pretrained(path)
    return path


def tiny_overrides(teacher_dir, data_path, **extra) -> list[str]:
    """``--set`` arguments for a seconds-long run on tiny models."""
    sets = {
        "teacher": str(teacher_dir),
        "student": "from-teacher:1",
        "data.path": str(data_path),
        "data.source_language": "en",
        "data.max_length": 16,
        "train.epochs": 2,
        "train.batch_size": 8,
        "train.lr": 1e-3,
        "train.log_every": 1,
        "train.device": "cpu",
        "model.teacher_epochs": 5,
    }
    sets.update(extra)
    return [f"{k}={v}" for k, v in sets.items()]


@pytest.fixture(autouse=True)
def machine_lock_dir(tmp_path_factory, monkeypatch):
    """Each test gets its own machine-wide device-lock folder (``XKD_LOCK_DIR``), so tests do
    not queue behind each other or behind a real run on this machine; subprocesses inherit it."""
    from xkd.runs.lock import LOCK_DIR_ENV

    path = tmp_path_factory.mktemp("locks")
    monkeypatch.setenv(LOCK_DIR_ENV, str(path))
    return path


@pytest.fixture
def live_pid():
    """The pid of a live process (a sleeping child), for run folders that say "running"."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield proc.pid
    proc.kill()
    proc.wait()
