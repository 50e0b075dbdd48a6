"""The compatibility matrix (issue 9, item 6): every common Hub family through the real CLI.

Families (tiny random models built in ``tests/families.py``, hidden 32/48, 2 layers, saved in
the Hub's folder layout): bert, distilbert, electra, xlm-roberta, roberta, deberta-v2, mpnet,
modernbert, a BERT body with a SentencePiece Unigram tokenizer (``bert-unigram``), a
``BertForSequenceClassification`` over the data's labels (``bert-classifier``) and a
sentence-transformers model laid out as LaBSE is (``st-bert``: CLS pooling, Dense, Normalize). Each cell is
``xkd train --preset demo --set ...`` as a user would type it, run in-process through
``xkd.cli.main``; it must exit 0 with a run folder whose eval.json has a headline:

- ``teacher``: the family as teacher with a ``from-teacher:1`` student;
- ``student``: the family (hidden 48, a tokenizer without the Italian 'q' and 'z') as student
  under the tiny BERT teacher (hidden 32), with the demo recipe (parallel_mse + kl, projected
  across the widths; vocabulary extension on for WordPiece, skipped for the others); then
  ``xkd eval RUN`` gives the run's own headline again;
- ``cross``: the family as teacher, the next family (hidden 48) as student, with ``hidden_mse``
  (``projection: true``) added to the recipe;
- ``refused``: ``model.extend_vocab=true`` with a non-WordPiece student exits 2 naming the
  setting and its fix, before the teacher runs.

- ``export``: the family (hidden 48) as student with ``model.student_head=native``; the saved
  student reloads in ``AutoModelForSequenceClassification`` with nothing missing and the
  run's own predictions, in ``AutoModel`` with nothing missing, and in ``SentenceTransformer``
  with xkd's sentence embeddings.

The sentence-transformers pipeline in detail (every pooling mode, refusals, encode equality to
1e-5) is in ``tests/test_sentence_transformers.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import make_parallel_frame, tiny_overrides
from tests.families import FAMILIES, MODEL_TYPE, WORDPIECE, save_family
from xkd.cli import main
from xkd.runs import RunFolder, read_metrics

pytestmark = pytest.mark.slow  # ~30 runs of a few steps each: a few minutes on 2 cores

FRAME = make_parallel_frame()
TEXTS = FRAME["text"].tolist()  # teachers' tokenizers: trained on both languages
EN_TEXTS = FRAME[FRAME["language"] == "en"]["text"].tolist()  # students': English only
FAST = {
    "train.epochs": 1,
    "train.max_steps": 2,
    "model.teacher_epochs": 1,
}
HIDDEN_MSE = (
    "distill.losses=[{name: parallel_mse, weight: 10}, {name: kl, weight: 1}, "
    "{name: hidden_mse, weight: 1, params: {projection: true}}]"
)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("families")


def _model(models_dir: Path, family: str, hidden: int) -> Path:
    """A teacher (hidden 32, tokenizer of both languages) or a student (hidden 48, tokenizer of
    the English texts: the Italian 'q' and 'z' are missing, so vocabulary extension has work)."""
    path = models_dir / f"{family}-{hidden}"
    if not path.exists():
        save_family(family, path, TEXTS if hidden == 32 else EN_TEXTS, hidden=hidden)
    return path


def _train(capsys, tmp_path: Path, teacher, *sets: str) -> tuple[int, str, Path | None]:
    runs = tmp_path / "runs"
    data = tmp_path / "topics.csv"
    make_parallel_frame().to_csv(data, index=False)
    args = ["train", "--preset", "demo", "--runs-dir", str(runs), "--quiet"]
    for s in [*tiny_overrides(teacher, data, **FAST), *sets]:
        args += ["--set", s]
    capsys.readouterr()
    rc = main(args)
    err = capsys.readouterr().err
    folders = [p for p in runs.glob("[!.]*") if p.is_dir()]
    return rc, err, folders[0] if len(folders) == 1 else None


def _assert_finished(rc: int, err: str, run: Path | None, *, terms: tuple[str, ...]) -> dict:
    """Exit 0, a finished run with a headline, and the student trained on every recipe term."""
    assert rc == 0, err
    assert run is not None
    folder = RunFolder(run)
    assert folder.read_status()["state"] == "finished"
    saved = folder.read_eval()
    assert saved["headline"]["student_target_accuracy"] is not None, saved["headline"]
    steps = [r for r in read_metrics(folder, kind="train") if r["phase"] == "student"]
    assert steps, "no student training step was logged"
    for step in steps:
        assert set(step["terms"]) == set(terms), step
        assert all(math.isfinite(v) for v in step["terms"].values()), step
    return saved


def _student_config(run: Path):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(RunFolder(run).path / "student")


def _next_family(family: str) -> str:
    return FAMILIES[(FAMILIES.index(family) + 1) % len(FAMILIES)]


DEMO_TERMS = ("parallel_mse", "kl")


@pytest.mark.parametrize("family", FAMILIES)
def test_as_teacher_with_a_from_teacher_student(family, models_dir, capsys, tmp_path):
    teacher = _model(models_dir, family, 32)
    rc, err, run = _train(capsys, tmp_path, teacher, "student=from-teacher:1")
    saved = _assert_finished(rc, err, run, terms=DEMO_TERMS)
    config = _student_config(run)
    assert config.model_type == MODEL_TYPE.get(family, family)
    assert config.num_hidden_layers == 1 and config.hidden_size == 32
    if family == "bert-classifier":  # its own classifier gives the teacher's logits
        assert saved["teacher_info"]["head"] == "own classifier"
    else:
        assert saved["teacher_info"]["head"] == "fitted"
    if family == "st-bert":  # the student keeps the teacher's own pipeline, and exports it
        own = json.loads((RunFolder(run).path / "student" / "xkd_config.json").read_text())
        assert own["pooling"] == "cls" and own["normalize"], own
        assert [m["type"] for m in own["sentence_modules"]] == ["dense"], own


@pytest.mark.parametrize("family", FAMILIES)
def test_as_student_under_the_tiny_teacher(family, models_dir, tiny_teacher_dir, capsys, tmp_path):
    student = _model(models_dir, family, 48)
    rc, err, run = _train(capsys, tmp_path, tiny_teacher_dir, f"student={student}")
    saved = _assert_finished(rc, err, run, terms=DEMO_TERMS)
    config = _student_config(run)
    assert config.model_type == MODEL_TYPE.get(family, family)
    assert config.num_hidden_layers == 2 and config.hidden_size == 48  # projected to 32
    info = saved["student_info"]
    if family in WORDPIECE:  # the demo preset's extend_vocab (auto): on for WordPiece ...
        assert info["vocab_added"] > 0, info
    else:  # ... and skipped, with the reason, for the others
        assert info["vocab_extension"].startswith("skipped: "), info
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["headline"] == pytest.approx(saved["headline"])  # the saved student reloads


@pytest.mark.parametrize("family", FAMILIES)
def test_cross_family_pair_with_hidden_mse(family, models_dir, capsys, tmp_path):
    teacher = _model(models_dir, family, 32)
    other = _next_family(family)
    student = _model(models_dir, other, 48)
    rc, err, run = _train(capsys, tmp_path, teacher, f"student={student}", HIDDEN_MSE)
    _assert_finished(rc, err, run, terms=(*DEMO_TERMS, "hidden_mse"))
    assert _student_config(run).model_type == MODEL_TYPE.get(other, other)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in WORDPIECE])
def test_extend_vocab_true_on_a_non_wordpiece_student_is_refused_up_front(
    family, models_dir, tiny_teacher_dir, capsys, tmp_path
):
    student = _model(models_dir, family, 48)
    sets = (f"student={student}", "model.extend_vocab=true")
    rc, err, run = _train(capsys, tmp_path, tiny_teacher_dir, *sets)
    assert rc == 2
    assert "model.extend_vocab" in err and "false" in err, err
    assert not RunFolder(run).teacher_cache_path.exists()  # refused before the teacher ran


def _hf_logits(model, tokenizer, texts, max_length):
    import torch

    enc = tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    with torch.no_grad():
        return model(**enc).logits.numpy()


@pytest.mark.parametrize("family", FAMILIES)
def test_export_reloads_in_transformers_and_sentence_transformers(
    family, models_dir, tiny_teacher_dir, capsys, tmp_path
):
    import numpy as np
    import pandas as pd
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    from xkd.models import load_model

    student = _model(models_dir, family, 48)
    sets = (f"student={student}", "model.student_head=native")
    rc, err, run = _train(capsys, tmp_path, tiny_teacher_dir, *sets)
    saved = _assert_finished(rc, err, run, terms=DEMO_TERMS)
    export = RunFolder(run).path / "student"
    labels = saved["labels"]
    hf, info = AutoModelForSequenceClassification.from_pretrained(export, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert sorted(hf.config.label2id) == sorted(labels)  # in its own order (bert-classifier)
    order = [hf.config.label2id[name] for name in labels]  # -> xkd's (the data's) order
    preds = pd.read_parquet(RunFolder(run).path / "predictions.parquet").head(12)
    ours = np.stack(preds["student_logits"].to_list())
    tokenizer = AutoTokenizer.from_pretrained(export)
    got = _hf_logits(hf.eval(), tokenizer, preds["text"].tolist(), 16)[:, order]  # max_length 16
    np.testing.assert_allclose(got, ours, atol=1e-4)
    _, info = AutoModel.from_pretrained(export, output_loading_info=True)
    # the family's own classifier layout has no pooler (RoBERTa, XLM-R, MPNet): AutoModel
    # builds one for it, as for any of the Hub's classification checkpoints of that family
    no_pooler = getattr(hf.base_model, "pooler", None) is None
    missing = [k for k in info["missing_keys"] if not (no_pooler and k.startswith("pooler."))]
    assert not missing, info
    texts = preds["text"].tolist()
    st = SentenceTransformer(str(export), device="cpu").encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(st, load_model(str(export)).encode(texts), atol=1e-5)
