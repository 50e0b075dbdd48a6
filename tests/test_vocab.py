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
