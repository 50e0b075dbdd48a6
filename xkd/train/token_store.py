"""Token-level teacher features (hidden states, attention maps), one tensor per text, kept in
memory or written in safetensors shards on disk and read back with file reads.

Token features are what makes a teacher cache big (a text's hidden state is tokens x width),
so a :class:`TokenStore` with a ``shard_dir`` writes each chunk the teacher encodes as one
shard file (``tokens-00000.safetensors``, ...), row by row (no copy of the whole chunk), and
keeps only where each row is. Reading rows (:meth:`TokenStore.rows`, or
:meth:`TokenStore.padded` for a batch) reads just their bytes, one read per run of rows that
lie next to each other in a shard, into a new tensor (the files of the shards read last stay
open). The bytes pass through the OS page cache, which the OS
shares and drops as it needs; no shard is memory-mapped (mapped pages count in the process's
RSS, and would add up to every row read so far). Peak memory stays one chunk however many
texts the run has. Without ``shard_dir`` rows stay in memory (small runs, tests).

Shard layout: for each feature ``name`` (``hidden.3``, ``attn.2``), ``name`` is the rows'
values flattened and concatenated (fp16), and ``name.shapes`` their shapes (rows x ndim, int64).
Values are written and read in the machine's byte order, which safetensors files need to be
little-endian (x86 and ARM machines are).
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

__all__ = ["TokenStore"]

_VALUE_DTYPE, _VALUE_BYTES = torch.float16, 2  # what shards keep: F16
_OPEN_FILES = 64  # shard files kept open for reading, at most (the most recently read)
_PREADV = hasattr(os, "preadv")  # positional reads (not on Windows)
_IOV_MAX = 1024  # buffers one preadv fills, at most (the limit on Linux and macOS)


def _header(path: Path) -> tuple[dict, int]:
    """A safetensors file's header (name -> dtype, shape, data_offsets) and where data starts."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    header.pop("__metadata__", None)
    return header, 8 + size


def _save(tensors: dict[str, tuple[str, list[int], list[torch.Tensor]]], path: Path) -> None:
    """Write a safetensors file: tensor ``name`` of ``tensors[name] = (dtype, shape, pieces)``
    is its contiguous ``pieces`` one after the other, written piece by piece (no copy of the
    whole chunk is made, unlike ``safetensors.torch.save_file``)."""
    header, end = {}, 0
    for name, (dtype, shape, pieces) in tensors.items():
        size = sum(p.numel() * p.element_size() for p in pieces)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [end, end + size]}
        end += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # values start 8-byte aligned, as safetensors writes them
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, _, pieces in tensors.values():
            for p in pieces:
                f.write(memoryview(p.numpy()).cast("B"))


class _Shard:
    """One shard file: where each feature's values begin in it, each row's shape and start."""

    def __init__(self, path: Path, names: list[str]) -> None:
        self.path = path
        header, base = _header(path)
        self.offsets: dict[str, int] = {}  # byte where feature ``name``'s values begin
        self.shapes: dict[str, list[tuple[int, ...]]] = {}
        self.starts: dict[str, list[int]] = {}  # element where each row begins, then the end
        with open(path, "rb") as f:
            for n in names:
                info, table = header[n], header[f"{n}.shapes"]
                if info["dtype"] != "F16":
                    raise ValueError(f"{path}: token feature {n} is {info['dtype']}, not F16")
                self.offsets[n] = base + info["data_offsets"][0]
                shapes: list[tuple[int, ...]] = []
                if table["shape"][0]:  # a shard of no rows has an empty (float) shape table
                    a, b = table["data_offsets"]
                    f.seek(base + a)
                    rows = np.frombuffer(f.read(b - a), "<i8").reshape(table["shape"])
                    shapes = [tuple(shape) for shape in rows.tolist()]
                self.shapes[n] = shapes
                self.starts[n] = [0, *itertools.accumulate(math.prod(s) for s in shapes)]


class TokenStore:
    """Rows of token features under ``names``; ``shard_dir`` puts them in shards on disk."""

    def __init__(self, names: list[str], shard_dir: str | Path | None = None) -> None:
        self.names = list(names)
        self.shard_dir = Path(shard_dir) if shard_dir is not None else None
        self._where: list[tuple[int, int]] = []  # row -> (shard, row in shard); shard -1: memory
        self._memory: dict[str, list[torch.Tensor]] = {n: [] for n in self.names}
        self._shards: list[_Shard] = []
        self._files: dict[int, io.FileIO] = {}  # shard -> its open file, last read last
        self._lock = threading.Lock()

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
        if n == 0:
            return
        if self.shard_dir is None:
            for name in self.names:
                self._memory[name].extend(rows[name])
            self._where += [(-1, len(self._memory[self.names[0]]) - n + i) for i in range(n)]
            return
        shard = self._write(rows)
        self._where += [(shard, i) for i in range(n)]

    # -- reading -------------------------------------------------------------------------------
    def shape(self, name: str, i: int) -> tuple[int, ...]:
        """Row ``i``'s shape under ``name`` (nothing is read)."""
        shard, j = self._where[i]
        if shard < 0:
            return tuple(self._memory[name][j].shape)
        return self._shards[shard].shapes[name][j]

    def row(self, name: str, i: int) -> torch.Tensor:
        return self.rows(name, [i])[0]

    def rows(self, name: str, ids: Sequence[int]) -> list[torch.Tensor]:
        """Rows ``ids`` under ``name``, in the order of ``ids``: rows in memory as they are,
        rows in shards as views of one new tensor read from the shard files.

        Rows that lie next to each other in a shard (``ids`` in a row, as a pass in cache order
        asks for them) come with one read; the files of the last shards read stay open."""
        shapes, memory, runs = self._plan(name, ids)
        out: list = [None] * len(ids)
        for k, row in memory:
            out[k] = row
        if not runs:
            return out
        total = sum(b - a for _, a, b, _ in runs)
        values = torch.empty(total, dtype=_VALUE_DTYPE)
        raw = memoryview(values.numpy()).cast("B")  # the bytes of ``values``, to read into
        pos = 0
        for shard, a, b, _ in runs:
            self._read(shard, name, a, [raw[pos * _VALUE_BYTES : (pos + b - a) * _VALUE_BYTES]])
            pos += b - a
        order = [k for *_, ks in runs for k in ks]
        sizes = [math.prod(shapes[k]) for k in order]
        for k, part in zip(order, values.split(sizes)):
            out[k] = part.view(shapes[k])
        return out

    def padded(self, name: str, ids: Sequence[int], width: int) -> torch.Tensor:
        """Rows ``ids`` under ``name`` (tokens x ..., the same ``...`` for all) in one zero
        tensor ``len(ids) x width x ...`` of their dtype: row ``k`` fills the start of
        ``out[k]``. Rows in shards are read straight into place (one read per run of rows next
        to each other in a shard): no other copy of them is made."""
        shapes, memory, runs = self._plan(name, ids)
        tail = shapes[0][1:] if shapes else ()
        if any(shape[1:] != tail for shape in shapes):
            raise ValueError(f"{name}: rows of different shapes past their first axis")
        dtype = _VALUE_DTYPE if runs or not memory else memory[0][1].dtype
        out = torch.zeros(len(ids), width, *tail, dtype=dtype)
        for k, row in memory:
            out[k, : row.shape[0]] = row
        if runs:
            raw = memoryview(out.numpy()).cast("B")
            slot = width * math.prod(tail) * _VALUE_BYTES  # bytes of one row of ``out``
            for shard, a, _, ks in runs:
                into = [raw[k * slot : k * slot + math.prod(shapes[k]) * _VALUE_BYTES] for k in ks]
                self._read(shard, name, a, into)
        return out

    def _plan(self, name: str, ids: Sequence[int]):
        """Rows ``ids``: their shapes; (k, tensor) of those in memory; and [shard, start, end,
        ks] runs of those in shards, ``ks`` the places in ``ids`` of the run's rows, in order."""
        shapes: list[tuple[int, ...]] = []
        memory: list[tuple[int, torch.Tensor]] = []
        runs: list[list] = []
        for k, i in enumerate(ids):
            shard, j = self._where[i]
            if shard < 0:
                row = self._memory[name][j]
                memory.append((k, row))
                shapes.append(tuple(row.shape))
                continue
            s = self._shards[shard]
            a, b = s.starts[name][j], s.starts[name][j + 1]
            shapes.append(s.shapes[name][j])
            if runs and runs[-1][0] == shard and runs[-1][2] == a:
                runs[-1][2] = b
                runs[-1][3].append(k)
            else:
                runs.append([shard, a, b, [k]])
        return shapes, memory, runs

    def _read(self, shard: int, name: str, start: int, into: list[memoryview]) -> None:
        """Fill the buffers ``into``, one after the other, with feature ``name`` of ``shard``
        from element ``start`` on: one read, unless the OS returns less."""
        s = self._shards[shard]
        at = s.offsets[name] + start * _VALUE_BYTES
        into = [b for b in into if len(b)]
        with self._lock:  # threads may share the store: one file table, one reader at a time
            f = self._files.pop(shard, None)  # the most recently read shards' files stay open
            if f is None:
                f = open(s.path, "rb", buffering=0)
                while len(self._files) >= _OPEN_FILES:
                    self._files.pop(next(iter(self._files))).close()
            self._files[shard] = f
            p = 0  # the first buffer not filled yet
            while p < len(into):
                if _PREADV:  # at a position: no file offset shared (with forked workers)
                    got = os.preadv(f.fileno(), into[p : p + _IOV_MAX], at)
                else:
                    f.seek(at)
                    got = f.readinto(into[p])
                if not got:
                    raise OSError(f"{s.path} ends before the rows it should hold (truncated?)")
                at += got
                while got and p < len(into):  # skip what was filled
                    if got >= len(into[p]):
                        got -= len(into[p])
                        p += 1
                    else:
                        into[p], got = into[p][got:], 0

    # -- writing -------------------------------------------------------------------------------
    def _write(self, rows: dict[str, list[torch.Tensor]]) -> int:
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        path = self.shard_dir / f"tokens-{self._next_number():05d}.safetensors"
        tensors = {}
        for name in self.names:
            values = [v.detach().to(_VALUE_DTYPE).contiguous().reshape(-1) for v in rows[name]]
            shapes = torch.tensor([list(v.shape) for v in rows[name]], dtype=torch.int64)
            tensors[name] = ("F16", [sum(v.numel() for v in values)], values)
            tensors[f"{name}.shapes"] = ("I64", list(shapes.shape), [shapes])
        tmp = path.with_suffix(".tmp")
        _save(tensors, tmp)
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
        for path in files:
            if not path.exists():
                return None
            keys = _header(path)[0]
            if not all(n in keys and f"{n}.shapes" in keys for n in self.names):
                return None
        return [self._open(path) for path in files]

    def add_saved(self, shard: int, j: int) -> None:
        """Add a row that is row ``j`` of opened shard ``shard``."""
        self._where.append((shard, j))
