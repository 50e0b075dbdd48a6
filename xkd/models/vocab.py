"""Extend a student's WordPiece vocabulary with the characters its training text needs.

An English uncased vocabulary (all-MiniLM-L6-v2's) covers other scripts badly: Chinese is mostly
``[UNK]``, accent stripping turns が into か and й into и, and NFD splits Hangul syllables into
jamo. :func:`extend_vocabulary` turns accent stripping off and adds every character of the
training text that the vocabulary lacks, both as a word start (``c``) and as a continuation
(``##c``). The new embedding rows start as the ``[UNK]`` row plus small noise (so a student
first sees what the teacher-copied model saw) and are learnt during distillation.

With ``pieces`` (``model.vocab_pieces``), :func:`learn_pieces` also trains a WordPiece model
on the target-language training text (the student's own normalisation and pre-tokenisation)
and the ``pieces`` most frequent subwords the vocabulary lacks are added; each new row starts
as the mean of the rows of the pieces it replaces (its text as the characters-extended
tokenizer splits it), so a word the model could read keeps its meaning.

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


def learn_pieces(spec: dict, texts: list[str], n: int) -> list[str]:
    """The ``n`` first subwords (in the trainer's merge order: the most frequent first) that a
    WordPiece model trained on ``texts`` with ``spec``'s normaliser and pre-tokeniser learns and
    ``spec``'s vocabulary lacks (characters included, as ``c`` and ``##c``)."""
    from tokenizers import Tokenizer, models, trainers

    prefix = spec["model"].get("continuing_subword_prefix", "##")
    unk = spec["model"].get("unk_token", "[UNK]")
    base = json.loads(Tokenizer(models.WordPiece(unk_token=unk)).to_str())
    base["normalizer"], base["pre_tokenizer"] = spec.get("normalizer"), spec.get("pre_tokenizer")
    tok = Tokenizer.from_str(json.dumps(base))
    vocab = spec["model"]["vocab"]
    trainer = trainers.WordPieceTrainer(
        vocab_size=len(vocab) + n, special_tokens=[unk], continuing_subword_prefix=prefix
    )
    tok.train_from_iterator(texts, trainer)
    learned = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    new = [p for p, _ in learned if p not in vocab and p != unk and len(p.removeprefix(prefix)) > 1]
    return new[:n]


def extend_vocabulary(
    model,
    texts: Iterable[str],
    *,
    strip_accents: bool = False,
    seed: int = 0,
    pieces: int = 0,
    piece_texts: Iterable[str] | None = None,
) -> int:
    """Add missing characters of ``texts`` (and, with ``pieces``, that many subwords learnt on
    ``piece_texts``, default ``texts``) to ``model``'s tokenizer and embeddings; returns the
    number of rows added.

    ``model`` is an :class:`~xkd.models.XKDModel` with a WordPiece tokenizer.
    """
    from tokenizers import Tokenizer

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
    new_tok = _fast(Tokenizer.from_str(json.dumps(spec)), tok)
    added = len(vocab) - old_size
    if added:
        _grow_embeddings(model.encoder, len(vocab), tok.unk_token_id, seed)
    model.tokenizer = new_tok
    if pieces:
        added += _add_pieces(model, learn_pieces(spec, list(piece_texts or texts), pieces))
    return added


def _add_pieces(model, pieces: list[str]) -> int:
    """Add learnt subwords; each new embedding row is the mean of the rows of the pieces the
    current tokenizer splits its text into."""
    from tokenizers import Tokenizer

    if not pieces:
        return 0
    tok = model.tokenizer
    spec = _tokenizer_json(tok)
    vocab, prefix = spec["model"]["vocab"], spec["model"].get("continuing_subword_prefix", "##")
    parts = []
    for piece in pieces:
        word = piece.removeprefix(prefix)
        ids = tok(word, add_special_tokens=False)["input_ids"]
        if piece.startswith(prefix):  # a continuation: the word-start pieces become ##pieces
            ids = [
                vocab.get(prefix + tok.convert_ids_to_tokens(i).removeprefix(prefix), i)
                for i in ids
            ]
        parts.append(ids or [tok.unk_token_id])
        vocab[piece] = len(vocab)
    backend = Tokenizer.from_str(json.dumps(spec))
    model.tokenizer = _fast(backend, tok)
    encoder = model.encoder
    old = encoder.get_input_embeddings().weight.shape[0]
    encoder.resize_token_embeddings(len(vocab), mean_resizing=False)
    weight = encoder.get_input_embeddings().weight
    with torch.no_grad():
        for row, ids in enumerate(parts, start=old):
            weight[row] = weight[torch.tensor(ids)].mean(0)
    return len(pieces)


def _fast(backend, like):
    """A ``PreTrainedTokenizerFast`` over ``backend`` with ``like``'s special tokens."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=like.unk_token,
        pad_token=like.pad_token,
        cls_token=like.cls_token,
        sep_token=like.sep_token,
        mask_token=like.mask_token,
        model_max_length=like.model_max_length,
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )


def extend_as_set(
    model,
    texts: Iterable[str],
    *,
    setting: bool | None,
    seed: int = 0,
    pieces: int = 0,
    piece_texts: Iterable[str] | None = None,
) -> tuple[dict, str | None]:
    """Apply ``model.extend_vocab`` (and ``model.vocab_pieces``, learnt on ``piece_texts``):
    ``(facts for student_info, a note or None)``.

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
    before = len(model.tokenizer)
    added = extend_vocabulary(model, texts, seed=seed, pieces=pieces, piece_texts=piece_texts)
    info = {"vocab_added": added, "vocab_size": before + added}
    return info | ({"vocab_pieces": pieces} if pieces else {}), None


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
