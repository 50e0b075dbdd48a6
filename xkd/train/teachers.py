"""Several teachers read as one cache: what the KD student learns from with ``teachers``.

Each teacher has its own :class:`~xkd.train.cache.TeacherCache` (its encoder runs once per
text). A :class:`TeacherMix` answers the objective like one cache (``rows`` and ``batch``), from
the first teacher's cache and the others', by ``distill.teacher_mix``:

- ``average``: the soft labels are the **mixture of the teachers' softened probabilities**,
  ``p = sum_k w_k softmax(l_k / T)`` (weights ``distill.teacher_weight`` and
  ``teachers[i].weight``, normalised), handed to the logit losses as logits whose softmax at
  ``T`` is exactly ``p`` (:func:`mix_logits`). A mixture of probabilities is an ensemble's
  prediction (Hinton et al. 2015 distil an ensemble's averaged predictions): every teacher counts
  by its weight whatever the scale of its logits, and a teacher that is unsure spreads its mass
  instead of cancelling another's logits (an average of logits is a product of the teachers'
  distributions, which a single over-confident head dominates). The KL's ``T^2`` stays right:
  ``p`` is a distribution at temperature ``T``, so the gradient ``T (softmax(s/T) - p)`` has the
  one-teacher scale. The embedding target is the weighted mean of the teachers' embeddings of
  each width; teachers of another width than the first get their own learned projection
  (:meth:`xkd.losses._common.PooledEmbeddingLoss.add_teacher_width`), weighted by their share.
- ``per_language``: a row whose student text is in language ``L`` takes everything (soft labels,
  embedding) from the teacher assigned ``L`` (``teachers[i].languages``), the first teacher for
  the other languages; rows of teachers of another width are scored through their projection,
  each width's rows weighted by their share of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from xkd.losses.base import PooledTarget

__all__ = ["AVERAGE", "PER_LANGUAGE", "TeacherMix", "mix_logits"]

AVERAGE, PER_LANGUAGE = "average", "per_language"


def mix_logits(
    logits: Sequence[torch.Tensor], weights: Sequence[float], temperature: float
) -> torch.Tensor:
    """Logits ``z`` with ``softmax(z / T) = sum_k w_k softmax(l_k / T)`` (``w`` normalised).

    ``z = T log p + sum_k w_k T logsumexp(l_k / T)``: the level term (softmax ignores it) puts
    ``z`` on the teachers' own logit scale, so teachers that agree give back their logits.

    >>> import torch
    >>> a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    >>> torch.softmax(mix_logits([a, b], [1.0, 1.0], 2.0) / 2.0, -1)  # (0.73, 0.27), (0.27, 0.73)
    tensor([[0.5000, 0.5000]])
    >>> torch.allclose(mix_logits([a, a], [3.0, 1.0], 2.0), a, atol=1e-6)
    True
    """
    t = float(temperature)
    scaled = torch.stack([x.float() / t for x in logits])  # [K, B, C]
    w = torch.as_tensor(list(weights), dtype=scaled.dtype, device=scaled.device)
    w = (w / w.sum())[:, None, None]
    lse = torch.logsumexp(scaled, dim=-1, keepdim=True)  # [K, B, 1]
    log_p = torch.logsumexp(torch.log(w) + scaled - lse, dim=0)  # [B, C]
    return t * (log_p + (w * lse).sum(0))


class TeacherMix:
    """The caches of several teachers (the first teacher's first) read as one.

    ``mode``: ``average`` or ``per_language``; ``weights``: one per cache (average);
    ``languages``: ``{language: cache index}`` (per_language; other languages: cache 0);
    ``temperature``: ``distill.temperature`` (the mixture's). :meth:`rows` gives each KD example
    a row of the mix; :meth:`batch` returns what :meth:`TeacherCache.batch` returns (no token
    features) plus ``targets`` when the embedding target is not one tensor of the first width.
    """

    def __init__(
        self,
        caches: Sequence,
        *,
        mode: str,
        weights: Sequence[float],
        languages: dict[str, int],
        temperature: float,
    ) -> None:
        if mode not in (AVERAGE, PER_LANGUAGE):
            raise ValueError(f"unknown teacher mix {mode!r}")
        self.caches = list(caches)
        self.mode = mode
        self.weights = [float(w) for w in weights]
        self.languages = dict(languages)
        self.temperature = float(temperature)
        self._index: dict[tuple[str, int], int] = {}
        self._table: list[list[int]] = []  # per mix row: the row of each cache, the teacher

    def teacher_of(self, language: str) -> int:
        """The cache whose teacher a row of this student-text language learns from (-1: all)."""
        return self.languages.get(language, 0) if self.mode == PER_LANGUAGE else -1

    def rows(self, examples) -> list[int]:
        """A mix row per example (its teacher text and, per language, its chosen teacher)."""
        out = []
        for text, language in zip(examples.teacher_texts, examples.languages, strict=True):
            key = (text, self.teacher_of(language))
            if key not in self._index:
                self._index[key] = len(self._table)
                self._table.append([cache.index[text] for cache in self.caches] + [key[1]])
            out.append(self._index[key])
        return out

    def batch(self, ids: Sequence[int], device: torch.device | str = "cpu") -> dict:
        table = torch.as_tensor([self._table[i] for i in ids], dtype=torch.long)
        if self.mode == AVERAGE:
            parts = [c.batch(table[:, k].tolist(), device) for k, c in enumerate(self.caches)]
            logits = [p["logits"] for p in parts]
            mixed = None
            if all(x is not None for x in logits):
                mixed = mix_logits(logits, self.weights, self.temperature)
            return self._out(mixed, self._average_targets(parts))
        choice = table[:, -1]
        mixed, by_width = None, {}
        for k, cache in enumerate(self.caches):
            where = (choice == k).nonzero().flatten()
            if not len(where):
                continue
            part = cache.batch(table[where, k].tolist(), device)
            if part["logits"] is not None:
                if mixed is None:
                    mixed = part["logits"].new_zeros((len(ids), part["logits"].shape[-1]))
                mixed[where.to(mixed.device)] = part["logits"]
            width = int(part["pooled"].shape[-1])
            by_width.setdefault(width, []).append((where, part["pooled"]))
        targets = []
        for width, pieces in by_width.items():
            rows = torch.cat([where for where, _ in pieces])
            pooled = torch.cat([p for _, p in pieces])
            order = rows.argsort()
            rows, pooled = rows[order], pooled[order.to(pooled.device)]
            share = len(rows) / len(ids)
            all_rows = len(rows) == len(ids)
            targets.append(
                PooledTarget(width, pooled, share, None if all_rows else rows.to(pooled.device))
            )
        return self._out(mixed, targets)

    def _average_targets(self, parts: list[dict]) -> list[PooledTarget]:
        total = sum(self.weights)
        groups: dict[int, list[int]] = {}
        for k, part in enumerate(parts):
            groups.setdefault(int(part["pooled"].shape[-1]), []).append(k)
        out = []
        for width, members in groups.items():
            share = sum(self.weights[k] for k in members)
            pooled = sum(self.weights[k] / share * parts[k]["pooled"].float() for k in members)
            out.append(PooledTarget(width, pooled, share / total))
        return out

    def _out(self, logits, targets: list[PooledTarget]) -> dict:
        """The batch dict: one target of the first teacher's width over every row is plain
        ``pooled`` (the losses then read it exactly as with one teacher)."""
        first = int(self.caches[0].pooled.shape[-1])
        single = len(targets) == 1 and targets[0].rows is None and targets[0].width == first
        return {
            "pooled": targets[0].pooled if single else None,
            "targets": None if single else targets,
            "logits": logits,
            "hidden": {},
            "attentions": {},
        }
