"""The project's own error types.

Every problem a user can fix (bad data, bad config, missing model) raises an ``XKDError``
subclass whose message says what is wrong, where (file, row, field) and what to do.
The CLI prints the message and exits with status 2; the app shows it with ``st.error``.
"""

from __future__ import annotations


class XKDError(Exception):
    """Base class for user-facing errors (exit code 2, no traceback shown)."""


class ConfigError(XKDError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


class ModelError(XKDError):
    """A teacher or student model cannot be found, loaded or combined."""


class ResourceError(XKDError):
    """The machine ran out of a resource (memory) for this configuration; the message says
    which settings to lower."""


class DataError(XKDError):
    """A data source is unreadable or violates the schema.

    ``file``, ``row`` (1-based line or row number as a user sees it) and ``field`` locate the
    problem; they are prefixed to the message when given.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.row = row
        self.field = field
        self.detail = message
        where = []
        if self.file:
            where.append(self.file)
        if row is not None:
            where.append(f"row {row}")
        if field:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
