"""Token-level teacher features (hidden states, attention maps), one tensor per text, kept in
memory or written in safetensors shards and read back through memory maps.

Token features are what makes a teacher cache big (a text's hidden state is tokens x width),
so a :class:`TokenStore` with a ``shard_dir`` writes each chunk the teacher encodes as one
shard file (``tokens-00000.safetensors``, ...) and keeps only where each row is. Reading a row
slices its shard, which safetensors memory-maps: only the rows a batch needs are read, and peak
memory stays one chunk however many texts the run has. Without ``shard_dir`` rows stay in
memory (small runs, tests).

Shard layout: for each feature ``name`` (``hidden.3``, ``attn.2``), ``name`` is the rows'
values flattened and concatenated (fp16), and ``name.shapes`` their shapes (rows x ndim).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

__all__ = ["TokenStore"]


class _Shard:
    def __init__(self, path: Path, names: list[str]) -> None:
        from safetensors import safe_open

        self.path = path
        self.file = safe_open(str(path), framework="pt")  # memory-mapped; kept open
        self.shapes = {n: self.file.get_tensor(f"{n}.shapes").tolist() for n in names}
        self.starts = {}
        for n, shapes in self.shapes.items():
            sizes = [math.prod(s) for s in shapes]
            self.starts[n] = [0, *torch.tensor(sizes).cumsum(0).tolist()] if sizes else [0]

    def row(self, name: str, i: int) -> torch.Tensor:
        a, b = self.starts[name][i], self.starts[name][i + 1]
        return self.file.get_slice(name)[a:b].reshape(self.shapes[name][i])


class TokenStore:
    """Rows of token features under ``names``; ``shard_dir`` puts them in shards on disk."""

    def __init__(self, names: list[str], shard_dir: str | Path | None = None) -> None:
        self.names = list(names)
        self.shard_dir = Path(shard_dir) if shard_dir is not None else None
        self._where: list[tuple[int, int]] = []  # row -> (shard, row in shard); shard -1: memory
        self._memory: dict[str, list[torch.Tensor]] = {n: [] for n in self.names}
        self._shards: list[_Shard] = []

    def __len__(self) -> int:
        return len(self._where)

    @property
    def in_memory(self) -> int:
        """How many rows are held in memory (not in a shard)."""
        return sum(1 for shard, _ in self._where if shard < 0)

    @property
    def on_disk(self) -> bool:
        return self.shard_dir is not None

    def append(self, rows: dict[str, list[torch.Tensor]]) -> None:
        """Add one chunk of rows (the same count under every name): one shard, or memory."""
        if not self.names:
            return
        n = len(rows[self.names[0]])
        if self.shard_dir is None:
            for name in self.names:
                self._memory[name].extend(rows[name])
            self._where += [(-1, len(self._memory[self.names[0]]) - n + i) for i in range(n)]
            return
        shard = self._write(rows)
        self._where += [(shard, i) for i in range(n)]

    def row(self, name: str, i: int) -> torch.Tensor:
        shard, j = self._where[i]
        return self._memory[name][j] if shard < 0 else self._shards[shard].row(name, j)

    def _write(self, rows: dict[str, list[torch.Tensor]]) -> int:
        from safetensors.torch import save_file

        self.shard_dir.mkdir(parents=True, exist_ok=True)
        path = self.shard_dir / f"tokens-{self._next_number():05d}.safetensors"
        tensors = {}
        for name in self.names:
            values = rows[name]
            flat = [v.detach().to(torch.float16).reshape(-1) for v in values]
            tensors[name] = torch.cat(flat) if flat else torch.empty(0, dtype=torch.float16)
            tensors[f"{name}.shapes"] = torch.tensor([list(v.shape) for v in values])
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp))
        tmp.replace(path)
        return self._open(path)

    def _next_number(self) -> int:
        taken = [int(p.stem.split("-")[1]) for p in self.shard_dir.glob("tokens-*.safetensors")]
        return max(taken, default=-1) + 1

    def _open(self, path: Path) -> int:
        self._shards.append(_Shard(path, self.names))
        return len(self._shards) - 1

    # -- persistence (the teacher cache's index file names the shards) -------------------------
    def flush(self) -> None:
        """Write the rows held in memory (rows other processes sent) to a shard."""
        if self.shard_dir is None or not any(s < 0 for s, _ in self._where):
            return
        moved = [i for i, (s, _) in enumerate(self._where) if s < 0]
        shard = self._write({n: [self.row(n, i) for i in moved] for n in self.names})
        for k, i in enumerate(moved):
            self._where[i] = (shard, k)
        self._memory = {n: [] for n in self.names}

    def layout(self) -> tuple[list[str], torch.Tensor]:
        """The shard file names and each row's (shard, row in shard), after :meth:`flush`."""
        self.flush()
        names = [s.path.name for s in self._shards]
        return names, torch.tensor(self._where, dtype=torch.long).reshape(-1, 2)

    def attach(self, files: list[Path]) -> list[int] | None:
        """Open saved shards; returns their indexes in this store, or None when one is missing
        or lacks a feature this store needs (then nothing is opened)."""
        from safetensors import safe_open

        for path in files:
            if not path.exists():
                return None
            with safe_open(str(path), framework="pt") as f:
                if not all(n in f.keys() for n in self.names):
                    return None
        return [self._open(path) for path in files]

    def add_saved(self, shard: int, j: int) -> None:
        """Add a row that is row ``j`` of opened shard ``shard``."""
        self._where.append((shard, j))
