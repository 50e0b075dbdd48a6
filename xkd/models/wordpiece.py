"""A WordPiece tokenizer trained on the data, for students built from scratch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from xkd.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def train_tokenizer(
    texts: Iterable[str], *, vocab_size: int = 8000, lowercase: bool = False, max_length: int = 512
) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer trained on ``texts`` (any script), as a fast HF tokenizer.

    Normalisation: NFC, control characters removed, spaces around CJK ideographs (each becomes
    a token), no accent stripping (keeps й, が, Hangul syllables intact), optional lowercasing.
    Pre-tokenisation splits on whitespace and punctuation. Every character seen in training
    is in the vocabulary, so training text has (almost) no [UNK]; ``vocab_size`` may be
    exceeded by that alphabet. Special tokens [PAD]=0 [UNK] [CLS] [SEP] [MASK]; encodings
    are wrapped as ``[CLS] text [SEP]``.
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    corpus = [t for t in (str(x) for x in texts) if t.strip()]
    if not corpus:
        raise ConfigError("cannot train a tokenizer: no non-empty training texts")
    if vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ConfigError(f"vocab_size={vocab_size} is too small")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=200))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.BertNormalizer(
                clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=lowercase
            ),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=int(vocab_size),
        special_tokens=list(SPECIAL_TOKENS),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=int(max_length),
        padding_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )
