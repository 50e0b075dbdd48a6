"""Extend a student's WordPiece vocabulary with the characters its training text needs.

An English uncased vocabulary (all-MiniLM-L6-v2's) covers other scripts badly: Chinese is mostly
``[UNK]``, accent stripping turns が into か and й into и, and NFD splits Hangul syllables into
jamo. :func:`extend_vocabulary` turns accent stripping off and adds every character of the
training text that the vocabulary lacks, both as a word start (``c``) and as a continuation
(``##c``). The new embedding rows start as the ``[UNK]`` row plus small noise (so a student
first sees what the teacher-copied model saw) and are learnt during distillation.

It edits the backend tokenizer's JSON (``tokenizer.add_tokens`` is not WordPiece-aware and crashed
on Hangul in the prototype).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import torch

from xkd.errors import ConfigError


def missing_characters(tokenizer, texts: Iterable[str], strip_accents: bool = False) -> list[str]:
    """Characters of ``texts`` (after the tokenizer's normalisation) absent from its vocab."""
    from tokenizers import Tokenizer

    spec = _tokenizer_json(tokenizer)
    spec["normalizer"] = _normalizer(spec.get("normalizer"), strip_accents)
    norm = Tokenizer.from_str(json.dumps(spec)).normalizer
    vocab = spec["model"]["vocab"]
    seen: dict[str, None] = {}
    for text in texts:
        for ch in norm.normalize_str(text) if norm is not None else text:
            if not ch.isspace() and ch not in vocab:
                seen[ch] = None
    return list(seen)


def why_not_extendable(tokenizer) -> str | None:
    """Why :func:`extend_vocabulary` cannot extend ``tokenizer`` (None: it can)."""
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(
        tokenizer, "_tokenizer", None
    )
    if backend is None:
        return f"the student's tokenizer ({type(tokenizer).__name__}) is not a fast tokenizer"
    kind = json.loads(backend.to_str()).get("model", {}).get("type")
    if kind != "WordPiece":
        known = {"Unigram": "SentencePiece Unigram", "BPE": "BPE"}.get(kind, kind)
        return f"the student's tokenizer is {known}, not WordPiece"
    return None


def extend_vocabulary(
    model, texts: Iterable[str], *, strip_accents: bool = False, seed: int = 0
) -> int:
    """Add missing characters of ``texts`` to ``model``'s tokenizer and embeddings; returns count.

    ``model`` is an :class:`~xkd.models.XKDModel` with a WordPiece tokenizer.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    tok = model.tokenizer
    reason = why_not_extendable(tok)
    if reason is not None:
        raise ConfigError(
            f"model.extend_vocab: true works for WordPiece (BERT-style) tokenizers only and "
            f"{reason}: set model.extend_vocab: false (or auto)"
        )
    spec = _tokenizer_json(tok)
    chars = missing_characters(tok, texts, strip_accents)
    spec["normalizer"] = _normalizer(spec.get("normalizer"), strip_accents)
    vocab: dict[str, int] = spec["model"]["vocab"]
    prefix = spec["model"].get("continuing_subword_prefix", "##")
    old_size = len(vocab)
    for ch in chars:
        for piece in (ch, prefix + ch):
            if piece not in vocab:
                vocab[piece] = len(vocab)
    backend = Tokenizer.from_str(json.dumps(spec))
    new_tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=tok.unk_token,
        pad_token=tok.pad_token,
        cls_token=tok.cls_token,
        sep_token=tok.sep_token,
        mask_token=tok.mask_token,
        model_max_length=tok.model_max_length,
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )
    added = len(vocab) - old_size
    if added:
        _grow_embeddings(model.encoder, len(vocab), tok.unk_token_id, seed)
    model.tokenizer = new_tok
    return added


def extend_as_set(
    model, texts: Iterable[str], *, setting: bool | None, seed: int = 0
) -> tuple[dict, str | None]:
    """Apply ``model.extend_vocab``: ``(facts for student_info, a note or None)``.

    ``True`` extends (a :class:`ConfigError` naming the setting when the tokenizer cannot be
    extended), ``False`` does nothing, ``None`` (auto) extends a WordPiece tokenizer and skips
    any other with a note.
    """
    if setting is False:
        return {}, None
    reason = why_not_extendable(model.tokenizer) if setting is None else None
    if reason is not None:
        return (
            {"vocab_extension": f"skipped: {reason}"},
            f"model.extend_vocab (auto) is off for this run: {reason}",
        )
    return {"vocab_added": extend_vocabulary(model, texts, seed=seed)}, None


def _tokenizer_json(tokenizer) -> dict:
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(
        tokenizer, "_tokenizer", None
    )
    if backend is None:
        raise ConfigError("model.extend_vocab needs a fast (Rust) tokenizer")
    return json.loads(backend.to_str())


def _normalizer(spec: dict | None, strip_accents: bool) -> dict | None:
    """Turn accent stripping off in a BertNormalizer (also inside a Sequence)."""
    if spec is None:
        return None
    if spec.get("type") == "BertNormalizer":
        return {**spec, "strip_accents": strip_accents}
    if spec.get("type") == "Sequence":
        return {**spec, "normalizers": [_normalizer(n, strip_accents) for n in spec["normalizers"]]}
    if spec.get("type") in ("StripAccents", "NFD", "NFKD") and not strip_accents:
        return {"type": "NFC"}
    return spec


def _grow_embeddings(encoder, new_size: int, unk_id: int, seed: int) -> None:
    emb = encoder.get_input_embeddings()
    old = emb.weight.shape[0]
    encoder.resize_token_embeddings(new_size, mean_resizing=False)
    weight = encoder.get_input_embeddings().weight
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        base = weight[unk_id].detach().clone()
        noise = torch.randn(new_size - old, weight.shape[1], generator=gen) * base.std() * 0.1
        weight[old:] = base + noise.to(weight.dtype)
