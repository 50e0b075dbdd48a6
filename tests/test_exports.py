"""Exports load in the tools users already use, with the outputs xkd gives (issue 9, item 4).

- ``model.student_head: native``: the student's classifier is its family's own, so
  ``AutoModelForSequenceClassification`` and ``pipeline("text-classification")`` give xkd's
  predictions, with ``id2label`` in ``config.json``;
- weights the source model had (BERT's pooler) are kept: loading the export reports nothing
  missing;
- a rebuilt tokenizer is saved under a class every transformers version knows;
- the card has Hub front matter, the run's per-language results, usage snippets, no local paths.
Tiny BERTs (hidden 32, 2 layers) are built here and saved in the Hub's layout.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import make_parallel_frame, tiny_overrides
from tests.families import save_family

TEXTS = ["bread and cheese", "the football team", "a loan from the bank", "riso e pane", "x"]
LABELS = ["food", "sport", "money"]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A tiny BERT in the Hub's layout, with its pooler weights (as Hub BERTs have)."""
    path = tmp_path_factory.mktemp("hub") / "tiny-bert"
    return save_family("bert", path, make_parallel_frame()["text"].tolist())


def _hf_logits(model, tokenizer, texts, max_length):
    enc = tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    with torch.no_grad():
        return model(**enc).logits.numpy()


def test_native_head_loads_in_transformers_with_the_same_predictions(bert_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from xkd.models import build_student, load_model
    from xkd.models.students import use_native_head

    teacher = load_model(str(bert_dir))
    student = build_student("from-teacher:1", teacher, TEXTS, labels=LABELS, seed=1)
    use_native_head(student, LABELS, seed=1)
    assert student.head is None and student.labels == LABELS
    assert type(student.classifier.model).__name__ == "BertForSequenceClassification"
    with torch.no_grad():  # a trained-looking classifier: outputs far apart
        student.classifier.model.classifier.weight.mul_(40)
    ours = student.predict_logits(TEXTS, max_length=32)
    saved = student.save_pretrained(tmp_path / "export")
    config = json.loads((saved / "config.json").read_text())
    assert config["id2label"] == {"0": "food", "1": "sport", "2": "money"}
    assert config["label2id"] == {"food": 0, "sport": 1, "money": 2}
    hf, info = AutoModelForSequenceClassification.from_pretrained(saved, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    tokenizer = AutoTokenizer.from_pretrained(saved)
    np.testing.assert_allclose(_hf_logits(hf.eval(), tokenizer, TEXTS, 32), ours, atol=1e-5)
    classify = pipeline("text-classification", model=str(saved), device="cpu")
    predicted = [r["label"] for r in classify(TEXTS, truncation=True, max_length=32)]
    assert predicted == [LABELS[i] for i in ours.argmax(axis=1)]
    again = load_model(str(saved))  # and xkd reads its own export back
    np.testing.assert_allclose(again.predict_logits(TEXTS, max_length=32), ours, atol=1e-6)


def test_pooler_weights_are_kept_in_exports(bert_dir, tmp_path):
    from transformers import AutoModel

    from xkd.models import build_student, load_model

    teacher = load_model(str(bert_dir))
    assert teacher.encoder.pooler is not None  # the checkpoint has one
    student = build_student("from-teacher:1", teacher, TEXTS, labels=LABELS)
    t_pool = teacher.encoder.pooler.dense.weight
    assert torch.equal(student.encoder.pooler.dense.weight, t_pool)
    saved = student.save_pretrained(tmp_path / "export")
    for path in (saved, teacher.save_pretrained(tmp_path / "teacher")):
        model, info = AutoModel.from_pretrained(path, output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"], (path, info)


def test_a_checkpoint_without_pooler_gets_none(tmp_path):
    from xkd.models import load_model

    texts = make_parallel_frame()["text"].tolist()
    path = save_family("bert", tmp_path / "nopool", texts)
    from safetensors.torch import load_file, save_file

    weights = load_file(str(path / "model.safetensors"))
    save_file(
        {k: v for k, v in weights.items() if not k.startswith("pooler.")},
        str(path / "model.safetensors"),
    )
    assert getattr(load_model(str(path)).encoder, "pooler", None) is None


def test_rebuilt_tokenizer_is_saved_under_a_portable_class(tiny_teacher_dir, tmp_path):
    from transformers import AutoTokenizer

    from xkd.models import build_student, load_model
    from xkd.models.vocab import extend_as_set

    teacher = load_model(str(tiny_teacher_dir))
    student = build_student("from-teacher:1", teacher, TEXTS, labels=LABELS)
    texts = ["日本語のテキスト", "한국어 문장", "qz"]
    info, _ = extend_as_set(student, texts, setting=True, seed=0)
    assert info["vocab_added"] > 0
    saved = student.save_pretrained(tmp_path / "export")
    config = json.loads((saved / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    again = AutoTokenizer.from_pretrained(saved)
    assert again(texts)["input_ids"] == student.tokenizer(texts)["input_ids"]


def test_card_front_matter_results_and_no_local_paths(tmp_path, tiny_teacher_dir, tiny_csv):
    from xkd.cli import main

    runs = tmp_path / "runs"
    sets = tiny_overrides(tiny_teacher_dir, tiny_csv, **{"train.epochs": 1})
    args = ["train", "--runs-dir", str(runs), "--quiet"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    (run,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    card = (run / "student" / "README.md").read_text()
    head = card.split("---")[1]
    assert "library_name: sentence-transformers" in head
    assert "pipeline_tag: text-classification" in head
    assert "language:\n- en\n" in head and "- it" in head
    assert "base_model" not in head  # a local teacher has no Hub id
    assert str(tmp_path) not in card and str(tiny_teacher_dir) not in card
    assert "local 'teacher'" in card and "local 'tiny.csv'" in card
    assert "1 layer," in card and "2 heads" in card
    assert "## Results (test accuracy per language)" in card
    eval_ = json.loads((run / "eval.json").read_text())
    acc = eval_["languages"]["it"]["student"]["accuracy"]
    assert f"| it | {eval_['languages']['it']['n']} |" in card and f"{acc:.3f}" in card
    assert "SentenceTransformer(" in card and "model.student_head: native" in card


def test_card_results_carry_intervals_and_the_paired_kd_gain(tmp_path):
    """The card's per-language numbers are the report's: each accuracy with its 95 % interval,
    the KD gain per language with its interval and significance, the headline's mean gain;
    an eval.json written before intervals still renders (accuracies alone)."""
    from xkd.config import from_dict
    from xkd.experiment.state import model_card
    from xkd.models.card import render_card
    from xkd.runs import load_run
    from xkd.testing.models import tiny_model
    from xkd.testing.runs import sample_config, write_sample_run

    run = load_run(write_sample_run(tmp_path / "runs"))
    cfg = from_dict(sample_config())
    model = tiny_model(labels=run.labels)
    card = render_card(
        model, model_card(cfg, targets=["it", "de"], role="KD student", eval_=run.eval)
    )
    it = run.eval["languages"]["it"]
    low, high = it["student"]["accuracy_ci"]
    assert f"{it['student']['accuracy']:.3f} [{low:.3f}, {high:.3f}]" in card
    gain = it["kd_gain"]
    assert (
        f"{100 * gain['gain']:+.1f} pts [{100 * gain['low']:+.1f}, {100 * gain['high']:+.1f}]"
        in card
    )
    assert (
        "| language | n | teacher | KD student | no-KD baseline | KD gain (points) | significant |"
        in card
    )
    assert ("yes (p=" if gain["significant"] else "no (p=") in card
    assert "Mean KD gain over the target languages" in card and "paired bootstrap" in card
    assert "- **recipe**: parallel_mse x10.0, kl x1.0" in card and "- **teacher**: minilm" in card
    assert "- **data**: demo" in card

    old = json.loads(json.dumps(run.eval))
    del old["headline"]
    for entry in old["languages"].values():
        entry.pop("kd_gain")
        for model_key in ("teacher", "student", "baseline"):
            entry[model_key].pop("accuracy_ci")
    plain = render_card(model, model_card(cfg, targets=["it", "de"], role="KD student", eval_=old))
    assert f"| it | {it['n']} | {it['teacher']['accuracy']:.3f} |" in plain
    assert "KD gain" not in plain and "Brackets" not in plain
    legacy = {"results": {"it": {"n": 3, "teacher": 0.5, "KD student": 0.25}}}  # an older card
    assert "| it | 3 | 0.500 | 0.250 |" in render_card(model, legacy)


def test_card_names_hub_models_and_license(tmp_path):
    from xkd.models import load_model
    from xkd.models.card import render_card

    model = load_model("minilm")
    card = render_card(
        model,
        {
            "role": "teacher",
            "base_model": "minilm",
            "data": "hf:Davlan/sib200",
            "source_language": "en",
            "target_languages": ["de"],
        },
    )
    head = card.split("---")[1]
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in head
    assert "license: apache-2.0" in head and "datasets:\n- Davlan/sib200" in head
    assert "pipeline_tag: sentence-similarity" in head  # no head: embeddings only
    assert "6 layers" in card and "then Normalize" in card


def test_cli_run_with_native_student_head_exports_a_transformers_classifier(
    tmp_path, bert_dir, tiny_csv
):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from xkd.cli import main

    runs = tmp_path / "runs"
    sets = tiny_overrides(bert_dir, tiny_csv, **{"train.epochs": 1, "model.student_head": "native"})
    args = ["train", "--runs-dir", str(runs), "--quiet"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    (run,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    eval_ = json.loads((run / "eval.json").read_text())
    assert eval_["student_info"]["head"] == "native (BertForSequenceClassification, new)"
    preds = pd.read_parquet(run / "predictions.parquet")
    texts = preds["text"].tolist()[:12]
    ours = np.stack(preds["student_logits"].to_list()[:12])
    labels = eval_["labels"]
    hf = AutoModelForSequenceClassification.from_pretrained(run / "student").eval()
    assert [hf.config.id2label[i] for i in range(len(labels))] == labels
    tokenizer = AutoTokenizer.from_pretrained(run / "student")
    np.testing.assert_allclose(_hf_logits(hf, tokenizer, texts, 16), ours, atol=1e-4)
    assert 'pipeline("text-classification"' in (run / "student" / "README.md").read_text()


def test_classifier_student_keeps_its_classifier_or_says_it_does_not(tmp_path):
    """A ...ForSequenceClassification named as student keeps its own classifier when it
    predicts the data's labels (any order); over other labels it gets a new head, with a note."""
    from tests.families import CLASSIFIER_LABELS
    from xkd.models import build_student, load_model

    texts = make_parallel_frame()["text"].tolist()
    path = save_family("bert-classifier", tmp_path / "clf", texts)
    teacher = load_model(str(path))
    reordered = list(reversed(CLASSIFIER_LABELS))
    own = load_model(str(path)).predict_logits(TEXTS)
    kept = build_student(str(path), teacher, TEXTS, labels=reordered)
    assert kept.classifier is not None and kept.labels == reordered and not kept.notes
    np.testing.assert_allclose(kept.predict_logits(TEXTS), own[:, ::-1], atol=1e-6)
    other = build_student(str(path), teacher, TEXTS, labels=["a", "b"])
    assert other.classifier is None and other.head is not None
    (note,) = other.notes
    assert "classifier over food, sport, money" in note and "model.student_head=native" in note
