"""Limits read from the models: token caps, vocabulary extension as set, from-teacher checks.

Tiny random models (hidden 32, 2 layers) of each family, from ``tests/families.py`` (no Hub
access).
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from tests.conftest import make_parallel_frame, tiny_overrides
from tests.families import ENCODER_FAMILIES, bpe_tokenizer, family_encoder, family_tokenizer
from xkd.errors import ConfigError
from xkd.experiment import Experiment
from xkd.models import XKDModel, load_model
from xkd.models.students import build_student, student_from_teacher
from xkd.models.vocab import extend_as_set, why_not_extendable
from xkd.models.wordpiece import train_tokenizer
from xkd.runs import RunFolder
from xkd.testing.models import tiny_model

LONG = " and more words about it" * 30  # ~150 tokens: past every tiny model's positions


def _long_csv(path) -> str:
    frame = make_parallel_frame()
    frame["text"] = frame["text"] + LONG
    frame.to_csv(path, index=False)
    return str(path)


def _tiny_roberta(texts, positions: int = 66) -> XKDModel:
    tokenizer = bpe_tokenizer(texts)  # model_max_length unset: the positions decide
    encoder = family_encoder("roberta", tokenizer, positions=positions)
    return XKDModel(encoder, tokenizer).eval()


@pytest.fixture(scope="module")
def short_bert_dir(tmp_path_factory):
    """A tiny BERT teacher with 64 positions (its tokenizer sets no limit)."""
    from xkd.models.students import random_bert

    texts = (make_parallel_frame()["text"] + LONG).tolist()
    tokenizer = train_tokenizer(texts, vocab_size=100)
    model = random_bert(
        tokenizer, labels=None, layers=2, hidden=32, heads=2, max_length=64, intermediate=64
    )
    model.tokenizer.model_max_length = int(1e30)  # "unset", as many Hub tokenizers are
    path = tmp_path_factory.mktemp("models") / "bert64"
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory):
    model = _tiny_roberta((make_parallel_frame()["text"] + LONG).tolist())
    path = tmp_path_factory.mktemp("models") / "roberta66"
    model.encoder.save_pretrained(path)
    model.tokenizer.save_pretrained(path)
    return path


def _config(teacher, data, **extra) -> dict:
    from xkd import config as C
    from xkd.presets import preset

    cfg = preset("demo")
    for assignment in tiny_overrides(teacher, data, **{"train.epochs": 1, **extra}):
        C.set_key(cfg, assignment)
    return cfg


# ------------------------------------------------------------------------------ token limits
def test_roberta_style_positions_accept_two_fewer_tokens():
    model = _tiny_roberta(["some text here", "more text"], positions=66)
    assert model.max_tokens == 64
    assert model.fit_length(128) == 64 and model.fit_length(32) == 32
    enc = model.tokenize(["word " * 200], max_length=128)
    assert enc["input_ids"].shape[1] == 64
    with torch.inference_mode():
        model(**enc)  # 64 tokens fit in 66 positions with padding_idx 1


def test_bert_limit_is_the_smaller_of_positions_and_tokenizer():
    model = tiny_model()  # 128 positions, tokenizer 128
    assert model.max_tokens == 128
    model.tokenizer.model_max_length = 40
    assert model.max_tokens == 40
    model.tokenizer.model_max_length = int(1e30)  # unset: ignored
    assert model.max_tokens == 128


def test_max_length_above_the_models_limits_is_capped_with_a_note(
    short_bert_dir, roberta_dir, tmp_path
):
    data = _long_csv(tmp_path / "long.csv")
    cfg = _config(short_bert_dir, data, student=str(roberta_dir), **{"data.max_length": 128})
    exp = Experiment(cfg, run_dir=tmp_path / "run")
    result = exp.run()
    assert result.state == "finished"
    log = RunFolder(result.run_dir).log_path.read_text()
    assert "data.max_length=128 is more than the teacher accepts: its inputs are cut to 64" in log
    assert "data.max_length=128 is more than the student accepts: its inputs are cut to 64" in log
    saved = RunFolder(result.run_dir).read_eval()
    assert saved["teacher_info"]["max_length"] == 64
    assert saved["student_info"]["max_length"] == 64
    # the demo preset's vocabulary extension (auto) is skipped for the BPE student, with a note
    assert saved["student_info"]["vocab_extension"].startswith("skipped: ")
    assert "model.extend_vocab (auto) is off for this run" in log
    assert "vocab_added" not in saved["student_info"]


def test_a_from_teacher_student_of_a_short_bert_trains_at_its_limit(short_bert_dir, tmp_path):
    data = _long_csv(tmp_path / "long.csv")
    cfg = _config(short_bert_dir, data, **{"data.max_length": 128, "student": "from-teacher:1"})
    result = Experiment(cfg, run_dir=tmp_path / "run").run()
    saved = RunFolder(result.run_dir).read_eval()
    assert saved["student_info"]["max_length"] == 64
    assert "vocab_added" in saved["student_info"]  # auto: a WordPiece student is extended


# ------------------------------------------------------------------------ vocabulary extension
def test_extension_as_set():
    bpe = _tiny_roberta(["hello world"])
    assert "BPE, not WordPiece" in why_not_extendable(bpe.tokenizer)
    assert extend_as_set(bpe, ["你好"], setting=False) == ({}, None)
    info, note = extend_as_set(bpe, ["你好"], setting=None)
    assert info["vocab_extension"].startswith("skipped: ") and "auto" in note
    with pytest.raises(ConfigError, match=r"model.extend_vocab.*false"):
        extend_as_set(bpe, ["你好"], setting=True)
    wordpiece = tiny_model(texts=["hello world"], vocab_size=60)
    assert why_not_extendable(wordpiece.tokenizer) is None
    info, note = extend_as_set(wordpiece, ["你好"], setting=None)
    assert info["vocab_added"] == 4 and note is None
    assert info["vocab_size"] == len(wordpiece.tokenizer)


def test_extend_vocab_setting_parses_auto():
    from xkd.config import from_dict

    def setting(value):
        model = {} if value == "unset" else {"extend_vocab": value}
        return from_dict({"model": model, "distill": {"losses": "kl"}}).model.extend_vocab

    assert setting("auto") is None and setting(None) is None
    assert setting("true") is True and setting(True) is True and setting("unset") is False
    with pytest.raises(ConfigError, match="true, false or auto"):
        setting("sometimes")
    saved = from_dict({"model": {"extend_vocab": "auto"}, "distill": {"losses": "kl"}}).to_dict()
    assert from_dict(saved).model.extend_vocab is None  # a saved config.yaml keeps auto


def test_explicit_extend_vocab_on_a_bpe_student_is_refused_before_the_teacher_runs(
    tiny_teacher_dir, tiny_csv, roberta_dir, tmp_path
):
    cfg = _config(
        tiny_teacher_dir, tiny_csv, student=str(roberta_dir), **{"model.extend_vocab": "true"}
    )
    exp = Experiment(cfg, run_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match=r"model.extend_vocab: false"):
        exp.run()
    folder = RunFolder(tmp_path / "run")
    assert folder.read_status()["state"] == "failed"
    assert not folder.teacher_cache_path.exists()


# -------------------------------------------------------------------------- from-teacher:K
def test_from_teacher_out_of_range_fails_in_build_student_before_caching(
    tiny_teacher_dir, tiny_csv, tmp_path
):
    cfg = _config(tiny_teacher_dir, tiny_csv, student="from-teacher:5")
    with pytest.raises(ConfigError, match=r"student='from-teacher:5'.*1 <= K <= 2"):
        Experiment(cfg, run_dir=tmp_path / "run").run()
    assert not RunFolder(tmp_path / "run").teacher_cache_path.exists()


def test_a_teacher_without_copyable_blocks_is_refused_naming_student():
    teacher = tiny_model()
    teacher.encoder.encoder.layer = torch.nn.Sequential(*teacher.encoder.encoder.layer)
    with pytest.raises(ConfigError, match=r"student='from-teacher:1'.*cannot be copied.*scratch"):
        build_student("from-teacher:1", teacher, ["x"], labels=["a", "b", "c"])


@pytest.mark.parametrize("family", ENCODER_FAMILIES)
def test_from_teacher_copies_blocks_of_every_family(family, tmp_path):
    tokenizer = family_tokenizer(family, ["hello world", "good morning", "ciao mondo"])
    encoder = family_encoder(family, tokenizer, layers=3)
    teacher = XKDModel(encoder, tokenizer, labels=["a", "b"])
    teacher.eval()
    student = student_from_teacher(teacher, 2)
    assert student.num_layers == 2
    layer_types = getattr(teacher.encoder.config, "layer_types", None)
    if layer_types:  # ModernBERT: per-block attention kinds follow the copied blocks [0, 2]
        assert student.encoder.config.layer_types == [layer_types[0], layer_types[2]]
    texts = ["hello world", "ciao"]
    student.save_pretrained(tmp_path / "s")
    again = load_model(str(tmp_path / "s"))
    torch.testing.assert_close(
        torch.as_tensor(again.predict_logits(texts)), torch.as_tensor(student.predict_logits(texts))
    )


def test_long_csv_is_longer_than_the_tiny_positions(tmp_path):
    frame = pd.read_csv(_long_csv(tmp_path / "x.csv"))
    tokenizer = train_tokenizer(frame["text"].tolist(), vocab_size=100)
    assert min(len(ids) for ids in tokenizer(frame["text"].tolist())["input_ids"]) > 66


def test_a_from_teacher_student_is_rebuilt_from_the_fine_tuned_teacher(
    tiny_teacher_dir, tiny_csv, tmp_path
):
    extra = {"model.teacher_freeze": "full", "model.teacher_epochs": 1, "baseline": "false"}
    exp = Experiment(_config(tiny_teacher_dir, tiny_csv, **extra), run_dir=tmp_path / "run")
    exp.load_data()
    exp.load_teacher()
    exp.build_student()  # checked up front, before the teacher is trained
    first = exp.state.student.encoder.encoder.layer[0].attention.self.query.weight.clone()
    exp.fit_lengths()
    exp.build_losses()
    exp.fine_tune_teacher()
    tuned = exp.state.teacher.encoder.encoder.layer[0].attention.self.query.weight
    copied = exp.state.student.encoder.encoder.layer[0].attention.self.query.weight
    assert not torch.equal(tuned, first)
    torch.testing.assert_close(copied, tuned)
    assert "vocab_added" in exp.state.student_info and exp.state.notes == []
