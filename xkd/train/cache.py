"""Teacher outputs, computed once per text and cached.

The teacher's encoder runs once on each distinct text a run needs (training texts, eval texts);
its pooled embedding, the hidden states and attentions the chosen losses read, are kept in
memory and can be saved under the run folder (safetensors). Logits are computed from the cached
pooled vector by the teacher's head, so training a teacher head on a frozen encoder never runs
the encoder again. A teacher with its own classifier (a Hub ``...ForSequenceClassification``,
:mod:`xkd.models.classifier`) is not a linear head on pooled vectors: its logits come from the
same forward pass as the pooled vectors and are cached (and saved) with them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from xkd.train.token_store import TokenStore


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class TeacherCache:
    """Cache of teacher encoder outputs keyed by text.

    ``hidden_layers`` / ``attention_layers`` name the layers token-level losses read; only those
    are stored (fp16). ``encoded_texts`` counts how many texts the encoder has seen (tests use it
    to prove the teacher never runs twice on a text).
    """

    def __init__(
        self,
        teacher,
        *,
        max_length: int = 64,
        batch_size: int = 64,
        hidden_layers: Iterable[int] = (),
        attention_layers: Iterable[int] = (),
        shard_dir: str | Path | None = None,
        shard_rows: int = 4096,
    ) -> None:
        self.teacher = teacher
        self.max_length = max_length
        self.batch_size = batch_size
        self.hidden_layers = sorted(set(hidden_layers))
        self.attention_layers = sorted(set(attention_layers))
        self.index: dict[str, int] = {}
        self._pooled: list[torch.Tensor] = []
        self._own_logits: list[torch.Tensor] = []  # rows of an own classifier's logits
        names = [f"hidden.{i}" for i in self.hidden_layers]
        names += [f"attn.{i}" for i in self.attention_layers]
        self.tokens = TokenStore(names, shard_dir)  # token features: memory, or shards on disk
        self.shard_rows = shard_rows
        self._pooled_matrix: torch.Tensor | None = None
        self._logits: torch.Tensor | None = None
        self.encoded_texts = 0

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, text: str) -> bool:
        return text in self.index

    # -- filling -------------------------------------------------------------------------------
    def ensure(self, texts: Iterable[str], progress=None) -> None:
        """Encode every text not cached yet (distinct texts, length-sorted batches).

        Rows are added in length order (shortest first), the order the batches run in.
        """
        todo = self.missing(texts)
        if not todo:
            return
        todo.sort(key=len)
        step = self.shard_rows if self.tokens.on_disk else len(todo)
        for start in range(0, len(todo), step):
            done = _offset(progress, start, len(todo))
            self._encode(todo[start : start + step], progress=done)
        self.encoded_texts += len(todo)
        self._pooled_matrix = None
        self._logits = None

    def _encode(self, todo: list[str], progress) -> None:
        own = self.own_classifier
        result = self.teacher.infer(
            todo,
            max_length=self.max_length,
            batch_size=self.batch_size,
            outputs=("pooled", "logits") if own else ("pooled",),
            hidden_layers=self.hidden_layers,
            attention_layers=self.attention_layers,
            token_dtype=torch.float16,
            progress=progress,
        )
        for row, text in enumerate(todo):
            self.index[text] = len(self._pooled)
            self._pooled.append(result.pooled[row])
            if own:
                self._own_logits.append(result.logits[row])
        rows = range(len(todo))
        features = {f"hidden.{i}": [result.hidden[i][r] for r in rows] for i in self.hidden_layers}
        for i in self.attention_layers:
            features[f"attn.{i}"] = [result.attentions[i][r] for r in rows]
        self.tokens.append(features)

    def missing(self, texts: Iterable[str]) -> list[str]:
        """The distinct ``texts`` not cached yet, in first-seen order."""
        return list(dict.fromkeys(t for t in texts if t not in self.index))

    def export(self, texts: Sequence[str]) -> dict:
        """The cached rows of ``texts`` as plain tensors (what :meth:`add` takes), so several
        processes can each encode a share of the texts and hand their rows to the others."""
        ids = self.ids(texts)
        return {
            "texts": list(texts),
            "pooled": [self._pooled[i] for i in ids],
            "logits": [self._own_logits[i] for i in ids] if self.own_classifier else [],
            "tokens": {n: self.tokens.rows(n, ids) for n in self.tokens.names},
        }

    def add(self, rows: dict) -> None:
        """Add rows from :meth:`export` of another process's cache (texts cached here are
        kept); the encoder does not run."""
        new = []
        for r, text in enumerate(rows["texts"]):
            if text in self.index:
                continue
            new.append(r)
            self.index[text] = len(self._pooled)
            self._pooled.append(rows["pooled"][r])
            if self.own_classifier:
                self._own_logits.append(rows["logits"][r])
        self.tokens.append({n: [rows["tokens"][n][r] for r in new] for n in self.tokens.names})
        self._pooled_matrix = None
        self._logits = None

    # -- reading -------------------------------------------------------------------------------
    def ids(self, texts: Sequence[str]) -> list[int]:
        return [self.index[t] for t in texts]

    def rows(self, examples) -> list[int]:
        """The cache row of each example's teacher text (what the objective's batches carry;
        several teachers: :meth:`xkd.train.teachers.TeacherMix.rows`)."""
        return self.ids(examples.teacher_texts)

    @property
    def pooled(self) -> torch.Tensor:
        if self._pooled_matrix is None or len(self._pooled_matrix) != len(self._pooled):
            self._pooled_matrix = torch.stack(self._pooled) if self._pooled else torch.empty(0)
        return self._pooled_matrix

    @property
    def own_classifier(self) -> bool:
        """Whether the teacher's logits come from its own classifier's forward pass."""
        return getattr(self.teacher, "classifier", None) is not None

    @property
    def logits(self) -> torch.Tensor | None:
        """Teacher logits for every cached text: the cached logits of an own classifier, else
        the head applied to the cached pooled vectors."""
        if self.own_classifier:
            if len(self._own_logits) != len(self._pooled):
                raise RuntimeError("the teacher's classifier logits were not cached for every text")
            if self._logits is None or len(self._logits) != len(self._own_logits):
                self._logits = torch.stack(self._own_logits) if self._own_logits else None
            return self._logits
        head = getattr(self.teacher, "head", None)
        if head is None:
            return None
        if self._logits is None or len(self._logits) != len(self._pooled):
            with torch.inference_mode():
                weight = head.weight.detach().float().cpu()
                bias = head.bias.detach().float().cpu() if head.bias is not None else 0.0
                self._logits = self.pooled @ weight.T + bias
        return self._logits

    def refresh_logits(self) -> None:
        """Forget derived logits (call after the teacher's head changed); the cached logits of
        an own classifier are kept (they come from the forward pass, not from a head)."""
        if not self.own_classifier:
            self._logits = None

    def batch(self, ids: Sequence[int], device: torch.device | str = "cpu") -> dict:
        """Teacher outputs for cache rows ``ids``: pooled, logits, padded hidden/attentions + mask."""
        idx = torch.as_tensor(list(ids), dtype=torch.long)
        out: dict = {"pooled": self.pooled[idx].to(device)}
        logits = self.logits
        out["logits"] = logits[idx].to(device) if logits is not None else None
        out["hidden"] = {}
        out["attentions"] = {}
        if self.hidden_layers or self.attention_layers:
            lengths = torch.tensor([self._length(i) for i in ids])
            width = int(lengths.max())
            mask = (torch.arange(width) < lengths[:, None]).long()  # real tokens: batch x width
            out["mask"] = mask.to(device)
            for layer in self.hidden_layers:  # rows: tokens x width
                padded = self.tokens.padded(f"hidden.{layer}", ids, width)
                out["hidden"][layer] = padded.float().to(device)
            for layer in self.attention_layers:  # rows: heads x tokens x tokens
                rows = self.tokens.rows(f"attn.{layer}", ids)
                padded = _pad(rows, (len(ids), rows[0].shape[0], width, width))
                out["attentions"][layer] = padded.to(device)
        return out

    def _length(self, i: int) -> int:
        if self.hidden_layers:
            return self.tokens.shape(f"hidden.{self.hidden_layers[0]}", i)[0]
        return self.tokens.shape(f"attn.{self.attention_layers[0]}", i)[-1]

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Save pooled vectors (and token features) with safetensors, keyed by text hashes.

        Token features in shards stay there (the file names them, ``token_shards``); token
        features in memory are written into the file (hidden states only)."""
        import json
        import os

        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"pooled": self.pooled.contiguous()}
        if self.own_classifier and self._own_logits:
            tensors["logits"] = torch.stack(self._own_logits).contiguous()
        texts = sorted(self.index, key=self.index.get)
        meta = {"keys": "\n".join(text_key(t) for t in texts), "max_length": str(self.max_length)}
        if self.tokens.on_disk and self.tokens.names:
            files, where = self.tokens.layout()
            folder = self.tokens.shard_dir
            meta["token_shards"] = json.dumps(
                [os.path.relpath(folder / f, path.parent) for f in files]
            )
            tensors["tokens.where"] = where
        else:
            for layer in self.hidden_layers:
                seqs = [self.tokens.row(f"hidden.{layer}", i) for i in range(len(self.tokens))]
                tensors[f"hidden.{layer}"] = torch.cat(seqs) if seqs else torch.empty(0)
                tensors[f"hidden.{layer}.lengths"] = torch.tensor([s.shape[0] for s in seqs])
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        tmp.replace(path)

    def load(self, path: str | Path, texts: Sequence[str]) -> int:
        """Fill the cache from ``save`` output for those of ``texts`` found there; returns count.

        Token features saved in shards are read from them when a batch needs them (only the
        rows it needs). Attention maps are not reloaded (a cache with attention layers reloads
        nothing), and neither is a file without the logits of a teacher's own classifier.
        """
        from safetensors import safe_open

        path = Path(path)
        if not path.exists() or self.attention_layers:
            return 0
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("max_length") != str(self.max_length):
                return 0
            keys = {k: i for i, k in enumerate(meta.get("keys", "").split("\n")) if k}
            pooled = f.get_tensor("pooled")
            own = self.own_classifier
            if own and "logits" not in f.keys():
                return 0
            logits = f.get_tensor("logits") if own else None
            tokens = self._saved_tokens(f, meta, path.parent)
        if tokens is None:
            return 0
        found, flat = [], {n: [] for n in self.tokens.names}
        for text in dict.fromkeys(texts):
            row = keys.get(text_key(text))
            if text in self.index or row is None:
                continue
            found.append(row)
            self.index[text] = len(self._pooled)
            self._pooled.append(pooled[row])
            if own:
                self._own_logits.append(logits[row])
            if isinstance(tokens, list):  # rows in shards: refer to them
                self.tokens.add_saved(*tokens[row])
            else:
                for name in flat:
                    flat[name].append(tokens[name][row])
        if not isinstance(tokens, list):
            self.tokens.append(flat)
        self._pooled_matrix = None
        self._logits = None
        return len(found)

    def _saved_tokens(self, f, meta: dict, folder: Path):
        """The saved token features: per saved row (shard, row) in this cache's store (shards
        opened), or ``{name: rows}`` read from the file; None when a layer is missing."""
        import json

        if not self.tokens.names:
            return {}
        if "token_shards" in meta:
            files = [folder / name for name in json.loads(meta["token_shards"])]
            where = f.get_tensor("tokens.where").tolist()
            opened = self.tokens.attach(files)
            if opened is None:
                return None
            return [(opened[s], j) for s, j in where]
        out = {}
        for layer in self.hidden_layers:
            name = f"hidden.{layer}"
            if name not in f.keys():
                return None
            lengths = f.get_tensor(name + ".lengths").tolist()
            out[name] = list(torch.split(f.get_tensor(name), lengths))
        return out


def _pad(rows: list[torch.Tensor], size: tuple) -> torch.Tensor:
    """``rows`` in a zero float tensor of ``size``: row ``r`` fills the start of ``out[r]``
    along every axis (one copy of each row, cast to float on the way)."""
    out = torch.zeros(size)
    for r, row in enumerate(rows):
        out[(r, *(slice(0, d) for d in row.shape))] = row
    return out


def _offset(progress, start: int, total: int):
    """``progress`` for one chunk of ``total`` texts that starts at ``start``."""
    if progress is None:
        return None
    return lambda done, _: progress(start + done, total)
