"""A Hub classification teacher (``...ForSequenceClassification`` with ``id2label``) is used with
its own classifier: its logits are the run's teacher logits; other labels are refused before any
work unless ``model.teacher_head=refit``.

The classifiers are tiny random ``BertForSequenceClassification`` models (hidden 32, 2 layers)
with a tokenizer trained in the test, saved with ``save_pretrained``; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_parallel_frame, tiny_overrides

from xkd.cli import main
from xkd.errors import ConfigError
from xkd.experiment.teacher import check_teacher_labels
from xkd.models import build_student, load_model
from xkd.runs.folder import RunFolder
from xkd.train.cache import TeacherCache

MAX_LENGTH = 16  # tiny_overrides' data.max_length
TOPIC_TEXTS = make_parallel_frame()["text"].tolist()


def classifier_dir(tmp_path: Path, labels: list[str], name: str = "clf", seed: int = 0) -> Path:
    """A random BertForSequenceClassification over ``labels`` (id order), saved like the Hub."""
    from transformers import BertConfig, BertForSequenceClassification

    from xkd.models.wordpiece import train_tokenizer

    tokenizer = train_tokenizer(TOPIC_TEXTS, vocab_size=100, max_length=128)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
        id2label=dict(enumerate(labels)),
        label2id={x: i for i, x in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():  # logits far enough apart that argmax and accuracy are meaningful
        model.classifier.weight.mul_(50)
    path = tmp_path / name
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def hf_logits(path: Path, texts: list[str]) -> np.ndarray:
    """The HF model's own logits: ``AutoModelForSequenceClassification(**tok(texts)).logits``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    enc = tok(texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits.numpy()


def hf_mean_pooled(path: Path, texts: list[str]) -> np.ndarray:
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    enc = tok(texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    return ((hidden * mask).sum(1) / mask.sum(1)).numpy()


def run_cli(capsys, tmp_path: Path, teacher: Path, *sets: str) -> tuple[int, str, Path]:
    runs = tmp_path / "runs"
    args = ["train", "--runs-dir", str(runs), "--quiet"]
    for s in [*tiny_overrides(teacher, tmp_path / "topics.csv"), *sets]:
        args += ["--set", s]
    make_parallel_frame().to_csv(tmp_path / "topics.csv", index=False)
    capsys.readouterr()
    rc = main(args)
    err = capsys.readouterr().err
    folders = [p for p in runs.glob("[!.]*") if p.is_dir()]
    assert len(folders) == 1, folders
    return rc, err, folders[0]


# ---------------------------------------------------------------------------------------------
# The model


def test_classifier_is_loaded_with_its_own_head(tmp_path):
    path = classifier_dir(tmp_path, ["food", "sport", "money"])
    teacher = load_model(path)
    assert teacher.classifier is not None and teacher.head is None and teacher.has_head
    assert teacher.labels == ["food", "sport", "money"]
    texts = TOPIC_TEXTS[:10]
    got = teacher.infer(texts, max_length=MAX_LENGTH, batch_size=4)
    np.testing.assert_allclose(got.logits.numpy(), hf_logits(path, texts), atol=1e-5)
    # the sentence vector is the configured pooling over the base model's last hidden state
    np.testing.assert_allclose(got.pooled.numpy(), hf_mean_pooled(path, texts), atol=1e-5)


def test_hidden_states_and_attentions_come_from_the_same_pass(tmp_path):
    teacher = load_model(classifier_dir(tmp_path, ["food", "sport", "money"]))
    batch = teacher.tokenize(TOPIC_TEXTS[:3], max_length=MAX_LENGTH)
    out = teacher(**batch, output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    plain = teacher(**batch)
    torch.testing.assert_close(out.logits, plain.logits, atol=1e-5, rtol=0)


def test_labels_in_another_order_are_reordered_to_the_data(tmp_path):
    own = ["money", "food", "sport"]
    path = classifier_dir(tmp_path, own)
    teacher = load_model(path)
    data_labels = ["food", "sport", "money"]
    info = check_teacher_labels(teacher, name="clf", labels=data_labels)
    assert info == {"head": "own classifier", "head_labels": own}
    assert teacher.labels == data_labels
    texts = TOPIC_TEXTS[:8]
    raw = hf_logits(path, texts)
    got = teacher.predict_logits(texts, max_length=MAX_LENGTH)
    np.testing.assert_allclose(got, raw[:, [own.index(x) for x in data_labels]], atol=1e-5)


def test_save_and_reload_keep_the_classifier_and_the_order(tmp_path):
    own = ["sport", "money", "food"]
    path = classifier_dir(tmp_path, own)
    teacher = load_model(path)
    teacher.reorder_labels(["food", "sport", "money"])
    texts = TOPIC_TEXTS[:6]
    before = teacher.predict_logits(texts, max_length=MAX_LENGTH)
    teacher.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["architectures"] == ["BertForSequenceClassification"]
    assert json.loads((tmp_path / "saved" / "xkd_config.json").read_text())["head"] == "classifier"
    again = load_model(tmp_path / "saved")
    assert again.classifier is not None and again.labels == ["food", "sport", "money"]
    np.testing.assert_allclose(
        again.predict_logits(texts, max_length=MAX_LENGTH), before, atol=1e-6
    )
    # the saved folder is still a plain HF classifier with its own label order
    np.testing.assert_allclose(
        hf_logits(tmp_path / "saved", texts), hf_logits(path, texts), atol=1e-6
    )


def test_set_labels_discards_the_classifier_for_a_linear_head(tmp_path):
    teacher = load_model(classifier_dir(tmp_path, ["pos", "neg"]))
    teacher.set_labels(["food", "sport", "money"], seed=0)
    assert teacher.classifier is None and teacher.head.out_features == 3
    assert teacher.predict_logits(TOPIC_TEXTS[:2], max_length=MAX_LENGTH).shape == (2, 3)


def test_from_teacher_student_gets_a_fresh_linear_head(tmp_path):
    teacher = load_model(classifier_dir(tmp_path, ["food", "sport", "money"]))
    student = build_student(
        "from-teacher:1", teacher, TOPIC_TEXTS, labels=["food", "sport", "money"], seed=0
    )
    assert student.classifier is None and student.head is not None
    assert student.labels == ["food", "sport", "money"] and student.num_layers == 1
    assert teacher.classifier is not None  # the teacher is untouched


# ---------------------------------------------------------------------------------------------
# The cache


def test_cache_keeps_the_classifier_logits_from_the_forward_pass(tmp_path):
    path = classifier_dir(tmp_path, ["food", "sport", "money"])
    teacher = load_model(path)
    cache = TeacherCache(teacher, max_length=MAX_LENGTH, batch_size=4)
    texts = TOPIC_TEXTS[:9]
    cache.ensure(texts)
    want = hf_logits(path, texts)
    np.testing.assert_allclose(cache.logits[cache.ids(texts)].numpy(), want, atol=1e-5)
    cache.refresh_logits()  # nothing to re-derive: the logits came from the classifier
    np.testing.assert_allclose(cache.logits[cache.ids(texts)].numpy(), want, atol=1e-5)
    cache.save(tmp_path / "cache.safetensors")
    again = TeacherCache(teacher, max_length=MAX_LENGTH)
    assert again.load(tmp_path / "cache.safetensors", texts) == len(texts)
    np.testing.assert_allclose(again.logits[again.ids(texts)].numpy(), want, atol=1e-5)
    assert again.encoded_texts == 0


def test_cache_without_classifier_logits_is_not_reused(tmp_path):
    headless = load_model(classifier_dir(tmp_path, ["food", "sport", "money"]))
    headless.set_labels(None)
    cache = TeacherCache(headless, max_length=MAX_LENGTH)
    cache.ensure(TOPIC_TEXTS[:4])
    cache.save(tmp_path / "cache.safetensors")
    teacher = load_model(classifier_dir(tmp_path, ["food", "sport", "money"], name="clf2"))
    assert (
        TeacherCache(teacher, max_length=MAX_LENGTH).load(
            tmp_path / "cache.safetensors", TOPIC_TEXTS[:4]
        )
        == 0
    )


# ---------------------------------------------------------------------------------------------
# Runs


def test_run_uses_the_classifier_as_the_teacher(tmp_path, capsys):
    own = ["sport", "food", "money"]  # the data's labels come sorted: food, money, sport
    path = classifier_dir(tmp_path, own)
    rc, err, run_dir = run_cli(capsys, tmp_path, path)
    assert rc == 0, err
    folder = RunFolder(run_dir)
    ev = folder.read_eval()
    assert ev["labels"] == ["food", "money", "sport"]
    assert ev["teacher_info"]["head"] == "own classifier"
    assert ev["teacher_info"]["head_labels"] == own
    assert "teacher_dev_accuracy" not in ev["teacher_info"]  # no head was fitted
    assert "not copied" in ev["student_info"]["head"]
    preds = pd.read_parquet(folder.predictions_path)
    raw = hf_logits(path, preds["text"].tolist())
    want = raw[:, [own.index(x) for x in ev["labels"]]]
    np.testing.assert_allclose(np.stack(preds["teacher_logits"].to_numpy()), want, atol=1e-5)
    # eval.json's teacher accuracy is that classifier's accuracy
    for lang, entry in ev["languages"].items():
        rows = (preds["language"] == lang).to_numpy()
        y = np.array([ev["labels"].index(x) for x in preds["label"][rows]])
        acc = float((want[rows].argmax(1) == y).mean())
        assert entry["teacher"]["accuracy"] == pytest.approx(acc)
    # `xkd eval` reloads teacher/ with its classifier: the same teacher numbers
    capsys.readouterr()
    assert main(["eval", str(run_dir)]) == 0, capsys.readouterr().err
    again = folder.read_eval()
    for lang, entry in ev["languages"].items():
        assert again["languages"][lang]["teacher"] == entry["teacher"]
    assert load_model(folder.teacher_dir).classifier is not None


def test_sentiment_classifier_on_topic_data_is_refused_before_any_work(tmp_path, capsys):
    path = classifier_dir(tmp_path, ["pos", "neg"], name="sentiment")
    rc, err, run_dir = run_cli(capsys, tmp_path, path)
    assert rc == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    for needle in (
        f"teacher '{path}' has a head for labels ['pos', 'neg'], but the data has",
        "['food', 'money', 'sport']",
        "model.teacher_head=refit",
    ):
        assert needle in errors[0], errors[0]
    folder = RunFolder(run_dir)
    assert not folder.student_dir.exists() and not folder.teacher_cache_path.exists()


def test_refit_discards_the_classifier_and_fits_a_head(tmp_path, capsys):
    path = classifier_dir(tmp_path, ["pos", "neg"], name="sentiment")
    rc, err, run_dir = run_cli(capsys, tmp_path, path, "model.teacher_head=refit")
    assert rc == 0, err
    folder = RunFolder(run_dir)
    ev = folder.read_eval()
    assert ev["teacher_info"]["head"] == "fitted"
    assert ev["teacher_info"]["head_discarded"] == ["pos", "neg"]
    assert folder.student_dir.is_dir()
    teacher = load_model(folder.teacher_dir)
    assert teacher.classifier is None and teacher.labels == ["food", "money", "sport"]


def test_teacher_head_setting_is_validated():
    from xkd.config import from_dict

    base = {"distill": {"losses": [{"name": "kl"}]}}
    assert from_dict(base).model.teacher_head == "keep"
    assert from_dict(base | {"model": {"teacher_head": "refit"}}).model.teacher_head == "refit"
    with pytest.raises(ConfigError, match=r"model.teacher_head='bogus': use keep or refit"):
        from_dict(base | {"model": {"teacher_head": "bogus"}})


def test_a_saved_linear_head_in_another_order_is_reordered_too():
    from xkd.testing.models import tiny_model

    teacher = tiny_model(labels=["sport", "money", "food"], texts=TOPIC_TEXTS)
    texts = TOPIC_TEXTS[:5]
    before = teacher.predict_logits(texts, max_length=MAX_LENGTH)
    info = check_teacher_labels(teacher, name="t", labels=["food", "money", "sport"])
    assert info == {"head": "own head", "head_labels": ["sport", "money", "food"]}
    after = teacher.predict_logits(texts, max_length=MAX_LENGTH)
    np.testing.assert_allclose(after, before[:, [2, 1, 0]], atol=1e-6)
