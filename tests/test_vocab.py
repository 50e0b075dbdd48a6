"""Vocabulary extension of a teacher-copied student."""

from __future__ import annotations

import torch

from xkd.models.vocab import extend_vocabulary, missing_characters
from xkd.testing.models import tiny_model


def test_extension_removes_unknowns_and_keeps_known_rows():
    model = tiny_model(labels=["a", "b"], texts=["hello world", "good morning"], vocab_size=60)
    unk = model.tokenizer.unk_token_id
    new_texts = ["你好世界", "안녕 하세요", "привет"]
    before = model.tokenizer(new_texts)["input_ids"]
    assert any(unk in ids for ids in before)
    old_rows = model.encoder.get_input_embeddings().weight.detach().clone()
    old_ids = model.tokenizer("hello world")["input_ids"]
    missing = missing_characters(model.tokenizer, new_texts)
    assert "你" in missing and "안" in missing and "п" in missing
    added = extend_vocabulary(model, new_texts)
    assert added == 2 * len(missing)
    after = model.tokenizer(new_texts)["input_ids"]
    assert not any(unk in ids for ids in after)
    assert model.tokenizer("hello world")["input_ids"] == old_ids  # known text tokenises as before
    weight = model.encoder.get_input_embeddings().weight
    assert weight.shape[0] == old_rows.shape[0] + added
    torch.testing.assert_close(weight[: old_rows.shape[0]], old_rows)
    with torch.inference_mode():
        out = model(**model.tokenize(new_texts, max_length=16))
    assert torch.isfinite(out.pooled).all()


def test_extension_survives_save_and_load(tmp_path):
    from xkd.models import load_model

    model = tiny_model(labels=["a", "b"], texts=["hello world"], vocab_size=60)
    extend_vocabulary(model, ["日本語テキスト"])
    model.save_pretrained(tmp_path / "m")
    again = load_model(str(tmp_path / "m"))
    text = ["日本語テキスト"]
    assert again.tokenizer(text)["input_ids"] == model.tokenizer(text)["input_ids"]
    torch.testing.assert_close(
        torch.as_tensor(again.predict_logits(text)), torch.as_tensor(model.predict_logits(text))
    )


def test_learnt_subwords_shorten_frequent_words_and_start_from_their_pieces(tmp_path):
    import copy

    from xkd.models import load_model

    base = tiny_model(labels=["a", "b"], texts=["hello world", "good morning"], vocab_size=60)
    model, model2 = copy.deepcopy(base), copy.deepcopy(base)
    words = ["привет", "спасибо", "пожалуйста", "здравствуйте"]
    texts = [" ".join(words[(i + k) % 4] for k in range(3)) for i in range(40)]
    extend_vocabulary(model, texts)  # characters only
    chars_only = len(model.tokenizer("здравствуйте", add_special_tokens=False)["input_ids"])
    rows_chars = model.encoder.get_input_embeddings().weight.detach().clone()
    n0 = model2.encoder.get_input_embeddings().weight.shape[0]
    known = model2.tokenizer("hello world", add_special_tokens=False)["input_ids"]
    added = extend_vocabulary(model2, texts, pieces=12)
    tok = model2.tokenizer
    with_pieces = tok("здравствуйте", add_special_tokens=False)["input_ids"]
    assert len(with_pieces) < chars_only  # the frequent word is now a few pieces, not 12 letters
    assert added == (rows_chars.shape[0] - n0) + 12  # the characters, then 12 subwords
    weight = model2.encoder.get_input_embeddings().weight
    # a learnt word-start piece starts as the mean of the character rows it replaces
    vocab = tok.get_vocab()
    learnt = [p for p in vocab if vocab[p] >= rows_chars.shape[0] and not p.startswith("##")]
    assert learnt
    piece = learnt[0]
    pieces = model.tokenizer(piece, add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(weight[vocab[piece]], rows_chars[torch.tensor(pieces)].mean(0))
    # known text is untouched, and the pieces survive save and load
    assert tok("hello world", add_special_tokens=False)["input_ids"] == known
    model2.save_pretrained(tmp_path / "m")
    again = load_model(str(tmp_path / "m"))
    assert again.tokenizer("здравствуйте", add_special_tokens=False)["input_ids"] == with_pieces


def test_vocab_pieces_needs_extend_vocab():
    import pytest

    from xkd.config import from_dict, merge
    from xkd.errors import ConfigError
    from xkd.presets import preset

    def cfg(**model):
        return from_dict(merge(preset("demo"), {"model": model}))

    with pytest.raises(ConfigError, match="extend_vocab"):
        cfg(vocab_pieces=100, extend_vocab=False)
    assert cfg(vocab_pieces=100, extend_vocab="auto").model.vocab_pieces == 100
