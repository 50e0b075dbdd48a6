"""Sentence-transformers models (``modules.json``) as teacher and student: xkd's sentence
embeddings equal ``SentenceTransformer(path).encode``; the pipeline survives students, saving and
reloading; unsupported modules are refused. Tiny models (BERT, hidden 32, 2 layers) are built in
the tests and saved with sentence-transformers' own ``save``, offline."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from tests import families
from tests.conftest import make_parallel_frame, tiny_overrides
from tests.families import family_encoder, family_tokenizer

st = pytest.importorskip("sentence_transformers")

TEXTS = ["bread and cheese", "the football team", "a loan from the bank", "riso", "x"]


def save_st_model(path, *, pooling: str, dense: int | None, normalize: bool, seed: int = 0):
    """A tiny BERT (hidden 32) saved in the sentence-transformers layout by its own ``save``."""
    texts = make_parallel_frame()["text"].tolist()
    return families.save_st_model(
        path, texts, pooling=pooling, dense=dense, normalize=normalize, seed=seed
    )


def st_encode(path, texts):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu")
    return model.encode(list(texts), convert_to_numpy=True, batch_size=2)


@pytest.mark.parametrize(
    ("pooling", "dense", "normalize"),
    [
        ("cls", 16, True),
        ("mean", None, True),
        ("max", None, False),
        ("mean_sqrt_len_tokens", 8, False),
    ],
)
def test_teacher_embeddings_equal_sentence_transformers(tmp_path, pooling, dense, normalize):
    from xkd.models import load_model

    path = save_st_model(tmp_path / "st", pooling=pooling, dense=dense, normalize=normalize)
    model = load_model(str(path))  # pooling None: model.pooling=auto
    expected = st_encode(path, TEXTS)
    got = model.encode(TEXTS, max_length=64, batch_size=3)
    assert got.shape == expected.shape == (len(TEXTS), dense or 32)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert model.own_pooling
    assert model.max_tokens == 32  # sentence_bert_config.json's max_seq_length
    if normalize:
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_another_pooling_replaces_the_pipeline_with_a_note(tmp_path, caplog):
    from xkd.models import load_model

    path = save_st_model(tmp_path / "st", pooling="cls", dense=16, normalize=True)
    same = load_model(str(path), pooling="cls")
    assert same.own_pooling and same.embedding_size == 16 and not same.notes
    with caplog.at_level(logging.WARNING, logger="xkd.models.loading"):
        model = load_model(str(path), pooling="mean")
    assert model.pooling == "mean" and not model.own_pooling
    assert not model.sentence_modules and not model.normalize and model.embedding_size == 32
    (note,) = model.notes
    assert "cls pooling + Dense + Normalize" in note and "model.pooling=mean" in note
    assert "model.pooling=auto" in note and note in caplog.text


@pytest.mark.parametrize("mode", ["weightedmean", "lasttoken"])
def test_unsupported_pooling_is_refused(tmp_path, mode):
    from xkd.errors import ModelError
    from xkd.models import load_model

    path = save_st_model(tmp_path / "st", pooling=mode, dense=None, normalize=False)
    with pytest.raises(ModelError) as info:
        load_model(str(path))
    text = str(info.value)
    assert f"'{mode}'" in text and "mean, cls, max, mean_sqrt_len_tokens" in text


def test_combined_pooling_and_unknown_module_are_refused(tmp_path):
    from xkd.errors import ModelError
    from xkd.models import load_model

    path = save_st_model(tmp_path / "st", pooling="mean", dense=None, normalize=False)
    config_file = path / "1_Pooling" / "config.json"
    config = json.loads(config_file.read_text())
    config["pooling_mode"] = ["mean", "max"]
    config_file.write_text(json.dumps(config))
    with pytest.raises(ModelError, match="together"):
        load_model(str(path))
    config["pooling_mode"] = "mean"
    config_file.write_text(json.dumps(config))
    entries = json.loads((path / "modules.json").read_text())
    entries.append({"idx": 2, "name": "2", "path": "2_LayerNorm", "type": "x.LayerNorm"})
    (path / "modules.json").write_text(json.dumps(entries))
    with pytest.raises(ModelError, match="LayerNorm"):
        load_model(str(path))


def test_legacy_pooling_config_is_read(tmp_path):
    from xkd.models import load_model

    path = save_st_model(tmp_path / "st", pooling="cls", dense=None, normalize=True)
    legacy = {
        "word_embedding_dimension": 32,
        "pooling_mode_cls_token": True,
        "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    (path / "1_Pooling" / "config.json").write_text(json.dumps(legacy))
    assert load_model(str(path)).pooling == "cls"


def test_freeze_head_keeps_dense_frozen(tmp_path):
    from xkd.models import freeze, load_model

    model = load_model(str(save_st_model(tmp_path / "st", pooling="cls", dense=16, normalize=True)))
    model.set_labels(["a", "b"])
    dense = model.sentence_modules[0].linear.weight
    assert freeze(model, "head") == 16 * 2 + 2 and not dense.requires_grad
    freeze(model, "top:1")
    assert dense.requires_grad


def test_student_carries_pipeline_saves_and_reloads(tmp_path):
    from xkd.models import build_student, load_model

    path = save_st_model(tmp_path / "st", pooling="cls", dense=16, normalize=True)
    teacher = load_model(str(path))
    student = build_student("from-teacher:1", teacher, TEXTS, labels=["a", "b"])
    assert student.pooling == "cls" and student.own_pooling and student.normalize
    assert [type(m).__name__ for m in student.sentence_modules] == ["DenseLayer"]
    assert student.head.in_features == 16 and student.embedding_size == 16
    dense_t, dense_s = teacher.sentence_modules[0], student.sentence_modules[0]
    assert torch.equal(dense_t.linear.weight, dense_s.linear.weight)
    assert dense_t.linear.weight.data_ptr() != dense_s.linear.weight.data_ptr()
    before = student.encode(TEXTS, max_length=32)
    logits = student.predict_logits(TEXTS, max_length=32)
    saved = tmp_path / "student"
    student.save_pretrained(saved)
    cfg = json.loads((saved / "xkd_config.json").read_text())
    assert [m["type"] for m in cfg["sentence_modules"]] == ["dense"] and cfg["normalize"]
    reloaded = load_model(str(saved))
    assert reloaded.pooling == "cls" and reloaded.own_pooling
    np.testing.assert_allclose(reloaded.encode(TEXTS, max_length=32), before, atol=1e-6)
    np.testing.assert_allclose(reloaded.predict_logits(TEXTS, max_length=32), logits, atol=1e-6)
    # the saved folder is a sentence-transformers model with the same embeddings
    np.testing.assert_allclose(st_encode(saved, TEXTS), before, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_plain_xkd_folder_loads_in_sentence_transformers(tmp_path, pooling):
    from xkd.models import load_model

    teacher = load_model(
        str(save_st_model(tmp_path / "st", pooling="mean", dense=None, normalize=False))
    )
    teacher.own_pooling = False  # as a model without its own pipeline
    teacher.set_pooling(pooling)
    saved = teacher.save_pretrained(tmp_path / "plain")
    np.testing.assert_allclose(
        st_encode(saved, TEXTS), teacher.encode(TEXTS, max_length=32), atol=1e-5
    )


def test_attention_pooling_writes_no_st_layout(tmp_path):
    from xkd.models import load_model

    teacher = load_model(
        str(save_st_model(tmp_path / "st", pooling="mean", dense=None, normalize=False))
    )
    teacher.set_pooling("attention")
    saved = teacher.save_pretrained(tmp_path / "att")
    assert not (saved / "modules.json").exists()


def test_minilm_has_normalize():
    from xkd.models import load_model

    model = load_model("minilm")
    assert model.pooling == "mean" and model.own_pooling
    assert not model.sentence_modules and model.normalize
    vec = model.encode(["hello world"], max_length=16)
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)


def test_cli_train_with_st_teacher(tmp_path, tiny_csv):
    from xkd.cli import main

    path = save_st_model(tmp_path / "st", pooling="cls", dense=16, normalize=True)
    runs = tmp_path / "runs"
    sets = tiny_overrides(path, tiny_csv, **{"train.epochs": 1})
    args = ["train", "--runs-dir", str(runs), "--quiet"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    (saved,) = list(runs.glob("*/student/xkd_config.json"))
    cfg = json.loads(saved.read_text())
    assert cfg["pooling"] == "cls" and cfg["normalize"]
    assert [m["type"] for m in cfg["sentence_modules"]] == ["dense"]


def test_st_model_as_named_student_keeps_its_pipeline(tmp_path):
    from xkd.models import build_student, load_model

    teacher = load_model(
        str(save_st_model(tmp_path / "t", pooling="mean", dense=None, normalize=True))
    )
    path = save_st_model(tmp_path / "s", pooling="cls", dense=16, normalize=True, seed=3)
    student = build_student(str(path), teacher, TEXTS, labels=["a", "b"])
    assert student.pooling == "cls" and student.head.in_features == 16
    np.testing.assert_allclose(
        student.encode(TEXTS, max_length=32), st_encode(path, TEXTS), atol=1e-5
    )


def test_training_vectors_are_before_normalize_reported_ones_after(tmp_path):
    """The cache and the losses see ``pooled`` (before Normalize); ``encode`` and the
    evaluator's embeddings are the model's sentence embeddings (unit length)."""
    from xkd.models import load_model

    model = load_model(str(save_st_model(tmp_path / "st", pooling="cls", dense=16, normalize=True)))
    result = model.infer(TEXTS, max_length=32, outputs=("pooled",))
    norms = result.pooled.norm(dim=1)
    assert not torch.allclose(norms, torch.ones_like(norms), atol=1e-3)
    np.testing.assert_allclose(
        model.encode(TEXTS, max_length=32), torch.nn.functional.normalize(result.pooled).numpy()
    )


def test_dense_width_sizes_the_projection(tmp_path, tiny_csv):
    """A teacher whose Dense makes 16-wide embeddings distils into a 32-wide plain student
    through parallel_mse and hidden_mse(features=output): the projections are 32 -> 16."""
    import pandas as pd

    from xkd.cli import main

    teacher = save_st_model(tmp_path / "t", pooling="cls", dense=16, normalize=True)
    student = tmp_path / "plain"
    texts = make_parallel_frame()["text"].tolist()
    tokenizer = family_tokenizer("bert", texts)
    family_encoder("bert", tokenizer, seed=5).save_pretrained(student)
    tokenizer.save_pretrained(student)
    runs = tmp_path / "runs"
    losses = "[{name: parallel_mse}, {name: hidden_mse, params: {features: output}}, {name: kl}]"
    sets = tiny_overrides(
        teacher, tiny_csv, student=str(student), **{"train.epochs": 1, "distill.losses": losses}
    )
    args = ["train", "--runs-dir", str(runs), "--quiet"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    (emb,) = list(runs.glob("*/embeddings.parquet"))
    frame = pd.read_parquet(emb)
    t = np.stack(frame[frame["model"] == "teacher"]["vector"].to_list())
    s = np.stack(frame[frame["model"] == "student"]["vector"].to_list())
    assert t.shape[1] == 16 and s.shape[1] == 32
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
