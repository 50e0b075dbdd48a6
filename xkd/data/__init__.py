"""Data: one schema (``TextDataset``) for every source. See docs/data.md.

- ``load_data(path, *, columns=None, languages=None) -> TextDataset`` with ``path`` one of
  ``demo``, ``hf:<dataset id>``, a ``.csv``/``.tsv``/``.jsonl``/``.parquet`` file or a folder.
- ``check_data(path, columns=None) -> DataReport`` (``.format()`` for ``xkd data check``).
- ``validate_frame(frame, file=None)`` normalises a DataFrame to the schema or raises
  ``DataError``.

Importing this package loads nothing heavy: the submodules (pandas, and ``datasets`` for the
Hub) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xkd.data.dataset import TextDataset
    from xkd.data.demo import demo_summary, load_demo
    from xkd.data.load import DataReport, check_data, load_data
    from xkd.data.schema import COLUMNS, SPLITS, assign_split, validate_frame

_EXPORTS = {
    "TextDataset": "xkd.data.dataset",
    "validate_frame": "xkd.data.schema",
    "assign_split": "xkd.data.schema",
    "COLUMNS": "xkd.data.schema",
    "SPLITS": "xkd.data.schema",
    "load_data": "xkd.data.load",
    "check_data": "xkd.data.load",
    "DataReport": "xkd.data.load",
    "load_demo": "xkd.data.demo",
    "demo_summary": "xkd.data.demo",
}

__all__ = [
    "COLUMNS",
    "SPLITS",
    "DataReport",
    "TextDataset",
    "assign_split",
    "check_data",
    "demo_summary",
    "load_data",
    "load_demo",
    "validate_frame",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'xkd.data' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
