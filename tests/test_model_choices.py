"""The Lab's suggested models (xkd.app.model_choices): facts, the local Hugging Face cache check
(a fake cache in tmp, no network), the estimate reading a cached config, and the Lab page."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from xkd.app import estimate as E
from xkd.app import model_choices as MC

ROOT = Path(__file__).resolve().parent.parent
TINY_CONFIG = {
    "model_type": "xlm-roberta",
    "hidden_size": 64,
    "num_hidden_layers": 3,
    "intermediate_size": 128,
    "vocab_size": 1000,
    "max_position_embeddings": 514,
    "num_attention_heads": 4,
}


def fake_hub_model(cache: Path, model_id: str, *, config: dict, weights: bool = True) -> Path:
    """A model in the Hub cache layout: ``models--org--name/{refs/main,snapshots/<hash>/...}``."""
    repo = cache / ("models--" + model_id.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snapshot / "config.json").write_text(json.dumps(config))
    if weights:
        (snapshot / "model.safetensors").write_bytes(b"")
    return snapshot


@pytest.fixture
def hf_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network call: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_suggestions_cover_the_usual_multilingual_models():
    ids = [f.model_id for f in MC.SUGGESTIONS]
    assert ids[0] == "minilm"
    for model_id in (
        "bert-base-multilingual-cased",
        "distilbert-base-multilingual-cased",
        "xlm-roberta-base",
        "intfloat/multilingual-e5-small",
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        "sentence-transformers/LaBSE",
        "microsoft/mdeberta-v3-base",
    ):
        assert model_id in ids
    assert len(set(ids)) == len(ids)
    assert {f.tokenizer for f in MC.SUGGESTIONS} <= {MC.WORDPIECE, MC.UNIGRAM, MC.BPE}
    assert MC.facts("XLM-RoBERTa-base").tokenizer == MC.UNIGRAM
    assert MC.facts("bert-base-multilingual-cased").tokenizer == MC.WORDPIECE
    assert MC.facts("no/such-model") is None


@pytest.mark.parametrize("facts", MC.SUGGESTIONS, ids=lambda f: f.model_id)
def test_stated_parameter_counts_agree_with_the_stated_sizes(facts):
    arch = E._arch_from_config(facts.config(), "table")
    assert arch.params / 1e6 == pytest.approx(facts.params_millions, rel=0.03)


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert MC.hf_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    assert MC.hf_cache_dir() == tmp_path / "elsewhere"


def test_availability_reads_the_fake_cache_without_network(hf_cache, tmp_path, no_network):
    fake_hub_model(hf_cache, "xlm-roberta-base", config=TINY_CONFIG)
    fake_hub_model(hf_cache, "org/config-only", config=TINY_CONFIG, weights=False)
    cached = MC.availability("xlm-roberta-base")
    assert (cached.status, cached.offline) == (MC.IN_CACHE, True)
    assert str(hf_cache) in cached.detail
    half = MC.availability("org/config-only")
    assert (half.status, half.offline) == (MC.NEEDS_HUB, False)
    assert "config.json only" in half.detail
    missing = MC.availability("microsoft/mdeberta-v3-base")
    assert (missing.status, missing.offline) == (MC.NEEDS_HUB, False)
    assert MC.availability("minilm").status == MC.BUILT_IN
    assert MC.availability("from-teacher:2").status == MC.DERIVED
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert not MC.availability(str(folder)).offline  # no config.json yet
    (folder / "config.json").write_text("{}")
    assert MC.availability(str(folder)) == MC.Availability(MC.LOCAL_FOLDER, True, str(folder))
    assert MC.cached_config("xlm-roberta-base") == TINY_CONFIG
    assert MC.cached_config("microsoft/mdeberta-v3-base") is None
    assert MC.cached_file("not a valid id!", "config.json") is None


def test_a_snapshot_of_another_revision_is_not_main(hf_cache):
    snapshot = fake_hub_model(hf_cache, "org/model", config=TINY_CONFIG)
    (snapshot.parent.parent / "refs" / "main").write_text("ffff0000")
    assert MC.availability("org/model").status == MC.NEEDS_HUB


def test_suggestion_rows_say_in_cache_or_needs_the_hub(hf_cache, no_network):
    fake_hub_model(hf_cache, "sentence-transformers/LaBSE", config=TINY_CONFIG)
    rows = {r["model"]: r for r in MC.suggestion_rows()}
    assert list(rows) == [f.model_id for f in MC.SUGGESTIONS]
    assert rows["sentence-transformers/LaBSE"]["local cache"] == MC.IN_CACHE
    assert rows["xlm-roberta-base"]["local cache"] == MC.NEEDS_HUB
    assert rows["minilm"]["local cache"] == MC.BUILT_IN
    labse = rows["sentence-transformers/LaBSE"]
    assert (labse["layers"], labse["hidden"], labse["tokenizer"]) == (12, 768, MC.WORDPIECE)
    assert labse["parameters (≈)"] == "471M" and rows["minilm"]["parameters (≈)"] == "22.7M"
    assert "usable offline" in MC.describe("sentence-transformers/LaBSE")
    assert "downloaded on first use" in MC.describe("xlm-roberta-base")
    assert "SentencePiece-Unigram" in MC.describe("xlm-roberta-base")


def _cfg(**changes):
    from xkd.config import from_dict, merge
    from xkd.presets import preset

    return from_dict(merge(preset("demo"), changes))


def test_estimate_uses_the_cached_config_else_the_table(hf_cache, no_network):
    fake_hub_model(hf_cache, "xlm-roberta-base", config=TINY_CONFIG)
    est = E.estimate(
        _cfg(teacher="xlm-roberta-base", student="microsoft/mdeberta-v3-base"),
        None,
        flops_per_second=1e10,
    )
    assert est.teacher.origin == "config" and not est.teacher.assumed
    assert (est.teacher.hidden_size, est.teacher.num_hidden_layers) == (64, 3)
    assert est.student.origin == "table" and not est.student.assumed
    assert est.student.params == pytest.approx(279e6, rel=0.03)
    notes = "\n".join(est.notes)
    assert "teacher size from its real configuration" in notes and "local Hugging Face" in notes
    assert "student size: microsoft/mdeberta-v3-base: approximate" in notes
    assert "assumed" not in notes.replace("assumed ~1000", "")
    # a from-teacher student follows the cached teacher
    cut = E.estimate(_cfg(teacher="xlm-roberta-base", student="from-teacher:2"), None)
    assert cut.student.origin == "derived" and cut.student.hidden_size == 64


@pytest.mark.app
def test_lab_suggests_models_and_fills_the_inputs(hf_cache, tmp_path, monkeypatch, no_network):
    from streamlit.testing.v1 import AppTest

    fake_hub_model(hf_cache, "xlm-roberta-base", config=TINY_CONFIG)
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("XKD_RUNS_DIR", str(runs))
    monkeypatch.delenv("XKD_APP_DEMO", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/lab.py").run()
    assert not at.exception, [e.message for e in at.exception]
    (table,) = [d.value for d in at.dataframe if "local cache" in d.value.columns]
    status = dict(zip(table["model"], table["local cache"], strict=True))
    assert status["xlm-roberta-base"] == "in cache"
    assert status["microsoft/mdeberta-v3-base"] == "needs the Hub"
    assert status["minilm"] == "built in"

    at.selectbox(key="lab_suggestion").set_value("xlm-roberta-base").run()
    at.button(key="lab_use_teacher").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="lab_teacher").value == "xlm-roberta-base"
    captions = "\n".join(c.value for c in at.caption)
    assert "`xlm-roberta-base`: ≈278M parameters" in captions and "usable offline" in captions
    assert "teacher size from its real configuration" in captions  # the estimate's notes

    at.selectbox(key="lab_suggestion").set_value("intfloat/multilingual-e5-small").run()
    at.button(key="lab_use_student").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="lab_student").value == "intfloat/multilingual-e5-small"
    captions = "\n".join(c.value for c in at.caption)
    assert "student size: intfloat/multilingual-e5-small: approximate" in captions
    command = "\n".join(c.value for c in at.code)
    assert "--set teacher=xlm-roberta-base" in command
    assert "--set student=intfloat/multilingual-e5-small" in command

    # any typed id still works (AppTest cannot type a new option: a new session starts with it)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["lab_teacher"] = "someone/my-own-model"
    at.run()
    at.switch_page("pages/lab.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.selectbox(key="lab_teacher").value == "someone/my-own-model"
    assert "`someone/my-own-model`: needs the Hub" in "\n".join(c.value for c in at.caption)
