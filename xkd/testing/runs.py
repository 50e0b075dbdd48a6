"""Small, well-formed fake run folders for tests and for developing the app without training.

``write_sample_run(runs_dir, state="finished")`` writes every file a finished run has (config,
status, metrics, eval.json, embeddings and predictions parquet, a tiny ``student/`` folder);
``state="running"`` writes a run still in its student phase (partial metrics, no eval.json, no
tables) whose status names ``pid`` (pass a live process so the status is not corrected to
``interrupted``). The numbers are random but consistent (translations sit close together, the
student agrees with the teacher most of the time). ``metrics.jsonl`` holds ``train`` records
of both phases and ``eval`` records (dev accuracy) of the student phase, as a real run writes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from xkd.runs import Headline, RunFolder, create_run_folder, utc_now

LABELS = ["food", "greeting", "weather"]
LANGUAGES = ["en", "it", "de"]
_TEXTS = {
    "food": ["I like pasta", "The soup is hot", "Bread and cheese", "We eat at noon"],
    "greeting": ["Hello there", "Good morning", "How are you?", "Nice to meet you"],
    "weather": ["It is raining", "The sun is out", "A cold wind", "Snow tomorrow"],
}


def sample_config(name: str = "sample") -> dict:
    """A config dict like the demo preset's, for a fake run."""
    return {
        "name": name,
        "teacher": "minilm",
        "student": "from-teacher:3",
        "baseline": True,
        "data": {
            "path": "demo",
            "source_language": "en",
            "target_languages": ["it", "de"],
            "columns": {},
            "max_length": 64,
            "parallel": True,
            "unlabeled_targets": False,
            "max_train_per_language": None,
        },
        "distill": {
            "losses": [
                {"name": "parallel_mse", "weight": 10.0, "params": {}},
                {"name": "kl", "weight": 1.0, "params": {}},
            ],
            "temperature": 3.0,
            "alpha": 0.0,
        },
        "train": {"epochs": 1, "batch_size": 8, "lr": 0.0001, "device": "cpu"},
    }


def _examples(rng: np.random.Generator):
    rows = []
    for label, texts in _TEXTS.items():
        for i, text in enumerate(texts):
            pair_id = f"{label}:{i}"
            for lang in LANGUAGES:
                shown = text if lang == "en" else f"[{lang}] {text}"
                rows.append((shown, label, lang, pair_id))
    return rows


def _metrics(phases: dict[str, int]) -> list[dict]:
    records = []
    for phase, steps in phases.items():
        for step in range(5, steps + 1, 5):
            decay = float(np.exp(-step / 30))
            epoch = round(step / steps, 4)
            if phase == "baseline":
                loss, terms = 1.1 * decay + 0.2, {"ce": 1.1 * decay + 0.2}
            else:
                loss = 2.0 * decay + 0.3
                terms = {"parallel_mse": 1.5 * decay + 0.2, "kl": 0.5 * decay + 0.1}
            lr = 1e-4 * (1 - step / (steps + 1))
            records.append(
                {"kind": "train", "phase": phase, "step": step, "epoch": epoch, "loss": loss}
                | {"lr": lr, "terms": terms}
            )
            if phase == "student" and step % 10 == 0:
                accuracy = {lang: round(0.9 - 0.4 * decay, 4) for lang in LANGUAGES[1:]}
                records.append(
                    {"kind": "eval", "phase": phase, "step": step, "epoch": epoch}
                    | {"accuracy": accuracy}
                )
    return records


def write_sample_run(
    runs_dir: str | os.PathLike,
    *,
    state: str = "finished",
    pid: int | None = None,
    name: str = "sample",
    seed: int = 0,
) -> Path:
    """Write a fake run folder into ``runs_dir`` and return its path (see module docstring)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    _, path = create_run_folder(runs_dir, name)
    folder = RunFolder(path).ensure()
    folder.write_config(sample_config(name))
    if state != "finished":
        for rec in _metrics({"baseline": 40, "student": 20}):
            folder.append_metrics(rec)
        folder.write_status(
            state,
            pid=pid if pid is not None else os.getpid(),
            phase="student",
            step=20,
            total_steps=60,
            started=utc_now(),
        )
        return path
    for rec in _metrics({"baseline": 40, "student": 60}):
        folder.append_metrics(rec)

    rows = _examples(rng)
    dim = 16
    label_dir = {lab: rng.normal(size=dim) for lab in LABELS}
    pair_vec = {}
    emb_rows = []
    pred_rows = []
    for text, label, lang, pair_id in rows:
        base = pair_vec.setdefault(pair_id, label_dir[label] + 0.6 * rng.normal(size=dim))
        true = LABELS.index(label)
        teacher_logits = rng.normal(scale=0.8, size=len(LABELS))
        teacher_logits[true] += 2.0 if lang == "en" else 1.2
        student_logits = teacher_logits + rng.normal(scale=0.9, size=len(LABELS))
        baseline_logits = rng.normal(scale=1.0, size=len(LABELS))
        baseline_logits[true] += 0.6
        for model, noise in (("teacher", 0.5), ("student", 0.35), ("baseline", 0.9)):
            shift = 0.0 if model == "student" or lang == "en" else 1.5
            vec = base + noise * rng.normal(size=dim) + shift * (LANGUAGES.index(lang) - 1)
            emb_rows.append(
                {
                    "text": text,
                    "language": lang,
                    "label": label,
                    "pair_id": pair_id,
                    "model": model,
                    "vector": vec.astype(np.float32),
                }
            )
        pred_rows.append(
            {
                "text": text,
                "label": label,
                "language": lang,
                "split": "test",
                "pair_id": pair_id,
                "teacher_logits": teacher_logits.astype(np.float32),
                "student_logits": student_logits.astype(np.float32),
                "baseline_logits": baseline_logits.astype(np.float32),
            }
        )
    emb = pd.DataFrame(emb_rows)
    preds = pd.DataFrame(pred_rows)
    folder.write_tables(embeddings=emb, predictions=preds)
    folder.write_eval(_eval_from(preds, emb))
    student = folder.student_dir
    student.mkdir(exist_ok=True)
    (student / "config.json").write_text('{"model_type": "bert", "num_hidden_layers": 3}\n')
    (student / "README.md").write_text("# sample student (fake)\n")
    folder.write_status(
        "finished", pid=None, phase="done", step=60, total_steps=60, started=utc_now()
    )
    return path


def _eval_from(preds, emb) -> dict:
    from xkd.evaluate import metrics as M
    from xkd.evaluate.intervals import add_intervals, prediction_intervals

    index = {lab: i for i, lab in enumerate(LABELS)}
    per_lang = {}
    for lang in LANGUAGES:
        part = preds[preds["language"] == lang]
        y = np.array([index[v] for v in part["label"]])
        entry = {"n": len(part), "prior": M.majority_prior(y)}
        for model in ("teacher", "student", "baseline"):
            logits = np.stack(part[f"{model}_logits"].to_list())
            pred = logits.argmax(1)
            entry[model] = {
                "accuracy": M.accuracy(y, pred),
                "macro_f1": M.macro_f1(y, pred, labels=list(range(len(LABELS)))),
                "ece": M.expected_calibration_error(M.softmax(logits), y),
            }
        t = np.stack(part["teacher_logits"].to_list())
        s = np.stack(part["student_logits"].to_list())
        entry["agreement"] = M.agreement(t, s)
        entry["kl"] = M.mean_kl(t, s)
        per_lang[lang] = entry
    intervals = prediction_intervals(preds, labels=LABELS, source_language="en")
    add_intervals(per_lang, intervals)
    retrieval, pair_cos = {}, {}
    for lang in LANGUAGES[1:]:
        retrieval[lang] = {"n_pairs": 12}
        pair_cos[lang] = {}
        for model in ("teacher", "student", "baseline"):
            part = emb[emb["model"] == model]
            src = part[part["language"] == "en"].set_index("pair_id")
            tgt = part[part["language"] == lang].set_index("pair_id")
            s = np.stack(src.loc[tgt.index, "vector"].to_list())
            t = np.stack(tgt["vector"].to_list())
            retrieval[lang][model] = M.retrieval_at_1(s, t)
            pair_cos[lang][model] = M.pair_cosine(s, t)
    return {
        "split": "test",
        "source_language": "en",
        "target_languages": LANGUAGES[1:],
        "labels": LABELS,
        "languages": per_lang,
        "retrieval": retrieval,
        "pair_cosine": pair_cos,
        "headline": Headline.compute(per_lang, "en", gain=intervals["kd_gain"]).to_dict(),
        "sizes": {"teacher": {"parameters": 22_700_000}, "student": {"parameters": 17_400_000}},
        "throughput": {"teacher": 120.0, "student": 240.0, "student_vs_teacher": 2.0},
        "timings": {"total": 42.0},
    }
