"""Tiny random models of the common Hub families, built in the tests (nothing is downloaded).

Each family gets the tokenizer kind its Hub models use: WordPiece (bert, distilbert, electra,
mpnet), byte-level BPE (roberta, modernbert), SentencePiece Unigram (xlm-roberta, deberta-v2, and
``bert-unigram``: a BERT body with an XLM-R-style tokenizer). ``bert-classifier`` is a
``BertForSequenceClassification`` over food/sport/money (``id2label`` in its config).
``st-bert`` is a sentence-transformers model as LaBSE is laid out (``modules.json``: a BERT, CLS
pooling, a Dense to half the width with tanh, Normalize), saved by sentence-transformers itself.
``save_family`` writes the model and its tokenizer in the Hub's folder layout.
"""

from __future__ import annotations

from pathlib import Path

import torch

# transformers model types, each with its own tokenizer kind
ENCODER_FAMILIES = [
    "bert",
    "distilbert",
    "electra",
    "xlm-roberta",
    "roberta",
    "deberta-v2",
    "mpnet",
    "modernbert",
]
FAMILIES = [*ENCODER_FAMILIES, "bert-unigram", "bert-classifier", "st-bert"]
MODEL_TYPE = {"bert-unigram": "bert", "bert-classifier": "bert", "st-bert": "bert"}  # else: itself
WORDPIECE = ["bert", "distilbert", "electra", "mpnet", "bert-classifier", "st-bert"]
CLASSIFIER_LABELS = ["food", "sport", "money"]

BPE_SPECIALS = {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>", "mask": "<mask>"}
BERT_SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}


def _fast(tok, specials: dict[str, str], max_length: int | None):
    from transformers import PreTrainedTokenizerFast

    kw = {"model_max_length": max_length} if max_length else {}
    extra = (
        {"bos_token": specials["cls"], "eos_token": specials["sep"]}
        if "<s>" in specials.values()
        else {}
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        **{f"{k}_token": v for k, v in specials.items()},
        **extra,
        model_input_names=["input_ids", "attention_mask"],
        **kw,
    )


def bpe_tokenizer(texts, max_length: int | None = None):
    """A byte-level BPE tokenizer as RoBERTa/XLM-R-style models use (<s>=0, <pad>=1)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return _fast(tok, BPE_SPECIALS, max_length)


def unigram_tokenizer(texts, *, bert_specials: bool = False, max_length: int | None = None):
    """A SentencePiece-style Unigram tokenizer (Metaspace pre-tokenizer).

    XLM-R's specials (<s>=0, <pad>=1, </s>=2, <unk>=3) by default; BERT's ([PAD]=0 ...
    ``[CLS] text [SEP]``) with ``bert_specials``, as DeBERTa-v2 or a BERT with a SentencePiece
    vocabulary use.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    specials = BERT_SPECIALS if bert_specials else BPE_SPECIALS
    order = (
        ["pad", "unk", "cls", "sep", "mask"]
        if bert_specials
        else ["cls", "pad", "sep", "unk", "mask"]
    )
    tokens = [specials[k] for k in order]
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=200, special_tokens=tokens, unk_token=specials["unk"], show_progress=False
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    cls, sep = specials["cls"], specials["sep"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )
    return _fast(tok, specials, max_length)


def family_tokenizer(family: str, texts):
    from xkd.models.wordpiece import train_tokenizer

    if family in ("roberta", "modernbert"):
        return bpe_tokenizer(texts)
    if family == "xlm-roberta":
        return unigram_tokenizer(texts)
    if family in ("deberta-v2", "bert-unigram"):
        return unigram_tokenizer(texts, bert_specials=True)
    return train_tokenizer(texts, vocab_size=100, max_length=128)


def family_encoder(
    family: str,
    tokenizer,
    *,
    layers: int = 2,
    hidden: int = 32,
    positions: int = 64,
    seed: int = 0,
):
    """A random encoder of ``family`` (heads of width 16) for ``tokenizer``'s vocabulary."""
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    specials = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.cls_token_id,
        "eos_token_id": tokenizer.sep_token_id,
    }
    common = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": hidden // 16,
        "intermediate_size": 2 * hidden,
        "max_position_embeddings": positions,
        **specials,
    }
    extra = {
        "distilbert": {
            "dim": hidden,
            "n_layers": layers,
            "n_heads": hidden // 16,
            "hidden_dim": 2 * hidden,
        },
        "electra": {"embedding_size": hidden // 2},
        "deberta-v2": {"relative_attention": True, "pos_att_type": ["p2c", "c2p"]},
        "modernbert": {
            "global_attn_every_n_layers": 2,
            "local_attention": 16,
            "cls_token_id": tokenizer.cls_token_id,
            "sep_token_id": tokenizer.sep_token_id,
        },
    }.get(family, {})
    config = AutoConfig.for_model(MODEL_TYPE.get(family, family), **{**common, **extra})
    torch.manual_seed(seed)
    if family == "bert-classifier":
        config.id2label = dict(enumerate(CLASSIFIER_LABELS))
        config.label2id = {x: i for i, x in enumerate(CLASSIFIER_LABELS)}
        model = AutoModelForSequenceClassification.from_config(config)
        with torch.no_grad():  # logits far enough apart that argmax is meaningful
            model.classifier.weight.mul_(50)
        return model.eval()
    return AutoModel.from_config(config).eval()


def save_st_model(
    path: Path,
    texts,
    *,
    pooling: str = "cls",
    dense: int | None = None,
    normalize: bool = True,
    seed: int = 0,
    **encoder_kw,
) -> Path:
    """A tiny BERT saved in the sentence-transformers layout by ``SentenceTransformer.save``:
    Transformer, Pooling (``pooling``), optionally Dense (to ``dense``, tanh) and Normalize."""
    import warnings

    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers import models
    path = Path(path)
    body = path.parent / f"{path.name}_body"
    tokenizer = family_tokenizer("bert", texts)
    encoder = family_encoder("bert", tokenizer, seed=seed, **encoder_kw)
    encoder.save_pretrained(body)
    tokenizer.save_pretrained(body)
    hidden = encoder.config.hidden_size
    modules = [models.Transformer(str(body), max_seq_length=32)]
    modules.append(models.Pooling(hidden, pooling_mode=pooling))
    if dense:
        torch.manual_seed(seed + 1)
        modules.append(models.Dense(hidden, dense, activation_function=torch.nn.Tanh()))
    if normalize:
        modules.append(models.Normalize())
    SentenceTransformer(modules=modules, device="cpu").save(str(path))
    return path


def save_family(family: str, path: Path, texts, **encoder_kw) -> Path:
    """A tiny ``family`` model and its tokenizer saved to ``path`` as a Hub checkpoint is."""
    if family == "st-bert":
        hidden = encoder_kw.get("hidden", 32)
        return save_st_model(path, texts, dense=hidden // 2, **encoder_kw)
    tokenizer = family_tokenizer(family, texts)
    model = family_encoder(family, tokenizer, **encoder_kw)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)
