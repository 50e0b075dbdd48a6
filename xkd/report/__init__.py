"""Reports to share: one self-contained HTML file per run or sweep (``xkd report``).

- :func:`run_report_html` (:mod:`xkd.report.run`): a run's headline, per-language accuracy
  with 95 % intervals, alignment map, loss curves, config, environment and how to reproduce it;
- :func:`sweep_report_html` (:mod:`xkd.report.sweep`): a sweep's question, members, gains per
  language, means across seeds, key effects, best member and how to reproduce it;
- :func:`write_report`: either one, written to a file.

The report layer sits above :mod:`xkd.app` (it reuses the pages' table helpers, so a number in a
report is the number on screen) and below the CLI. Charts are plotly (the ``app`` extra), with
plotly.js inlined once per file; nothing is fetched when the file is opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from xkd.report.run import run_report_html
from xkd.report.sweep import sweep_report_html

__all__ = ["REPORT_NAME", "run_report_html", "sweep_report_html", "write_report"]

#: the default file name, inside the run or sweep folder
REPORT_NAME = "report.html"


def write_report(html: str, path: str | os.PathLike) -> Path:
    """Write ``html`` to ``path`` atomically (parent folders created); returns the path."""
    from xkd.runs import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, html)
    return path
