"""The pieces of a self-contained HTML report: the page, sections, tables, code, charts.

Every string that comes from a run (names, config values, texts, languages) goes through
:func:`esc`; charts are plotly figures whose data plotly writes as escaped JSON. The page holds
its styles and plotly.js inline (once per file), so it opens offline and fetches nothing: no
CDN, no web fonts (system font stacks only), no MathJax.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from xkd.errors import XKDError

__all__ = ["Page", "code", "details", "esc", "facts", "figure", "table"]

CSS = """
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6472; --line: #dde1e8;
        --bg: #ffffff; --soft: #f5f6f9; --accent: #16a085; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.2em; margin: 34px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.0em; margin: 18px 0 6px; }
p.sub, p.note, .muted { color: var(--muted); }
p.note { font-size: 0.88em; margin: 6px 0; }
nav { font-size: 0.9em; margin: 10px 0 0; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.88em; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
         vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
      padding: 10px 12px; overflow-x: auto; font-size: 0.85em; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.metrics { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0; }
.metric { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 200px; }
.metric .label { color: var(--muted); font-size: 0.85em; }
.metric .value { font-size: 1.5em; font-weight: 600; }
.metric .detail { font-size: 0.85em; }
.metric .help { color: var(--muted); font-size: 0.78em; max-width: 240px; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--muted); }
.chart { margin: 8px 0; }
footer { margin-top: 48px; color: var(--muted); font-size: 0.8em; }
"""


def esc(value: Any) -> str:
    """``value`` as text, HTML-escaped (quotes too); ``None`` as empty."""
    return "" if value is None else html.escape(str(value), quote=True)


def _plotly():
    try:
        import plotly.graph_objects as go
        import plotly.offline
    except ImportError as exc:  # plotly comes with the app extra
        raise XKDError(
            'reports draw their charts with plotly: pip install "xkd[app]" (or plotly)'
        ) from exc
    return go, plotly.offline


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def table(frame, *, numeric: Sequence[str] = (), empty: str = "nothing to show") -> str:
    """A DataFrame as an HTML table, every header and cell escaped. Columns in ``numeric``
    (and cells that are numbers) are right-aligned."""
    if frame is None or len(frame) == 0:
        return f'<p class="note">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    rows = []
    for values in frame.itertuples(index=False, name=None):
        cells = []
        for col, value in zip(frame.columns, values):
            right = col in numeric or _is_number(value)
            cls = ' class="num"' if right else ""
            cells.append(f"<td{cls}>{esc(_cell(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if value != value else f"{value:.3f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def facts(pairs: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of ``(name, value)`` facts."""
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(_cell(v))}</td></tr>" for k, v in pairs if v is not None
    )
    return f"<table>{rows}</table>"


def code(text: str, *, language: str = "") -> str:
    """A preformatted block (config YAML, commands), escaped."""
    cls = f' class="language-{esc(language)}"' if language else ""
    return f"<pre><code{cls}>{esc(text.rstrip())}</code></pre>"


def details(summary: str, body: str) -> str:
    """A collapsed block; ``body`` is HTML already built from escaped parts."""
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


class Page:
    """One report file: sections in order, each chart's div, plotly.js once in the head."""

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title, self.subtitle = title, subtitle
        self.sections: list[tuple[str, str, str]] = []  # (anchor, heading, body html)
        self._charts = 0

    def section(self, heading: str, *parts: str) -> None:
        anchor = f"s{len(self.sections) + 1}"
        self.sections.append((anchor, heading, "".join(parts)))

    def figure(self, fig, *, height: int = 380) -> str:
        """``fig``'s div and its drawing script (no plotly.js: the page holds it once)."""
        self._charts += 1
        return figure(fig, div_id=f"chart-{self._charts}", height=height)

    def render(self) -> str:
        from xkd import __version__

        nav = "".join(f'<a href="#{a}">{esc(h)}</a>' for a, h, _ in self.sections)
        body = "".join(f'<h2 id="{a}">{esc(h)}</h2>{b}' for a, h, b in self.sections)
        script = ""
        if self._charts:
            _, offline = _plotly()
            script = f'<script type="text/javascript">{offline.get_plotlyjs()}</script>'
        when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        sub = f'<p class="sub">{esc(self.subtitle)}</p>' if self.subtitle else ""
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(self.title)}</title><style>{CSS}</style>{script}</head>"
            f"<body><main><h1>{esc(self.title)}</h1>{sub}<nav>{nav}</nav>{body}"
            f"<footer>Written by xkd {esc(__version__)} on {esc(when)}. One self-contained "
            "file: it fetches nothing when opened.</footer></main></body></html>\n"
        )


def figure(fig, *, div_id: str, height: int = 380) -> str:
    """A plotly figure as a div plus its script, without plotly.js (see :class:`Page`)."""
    _plotly()
    fig.update_layout(height=height, template="plotly_white", font_family="system-ui, sans-serif")
    div = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=div_id,
        default_height=f"{height}px",
        default_width="100%",
        config={"displaylogo": False, "responsive": True},
    )
    return f'<div class="chart">{div}</div>'


def metrics(items: Iterable[tuple[str, str, str, str]]) -> str:
    """Headline cards: ``(label, value, detail, help)``, all escaped."""
    cards = []
    for label, value, detail, help_ in items:
        cards.append(
            '<div class="metric">'
            f'<div class="label">{esc(label)}</div><div class="value">{esc(value)}</div>'
            + (f'<div class="detail">{esc(detail)}</div>' if detail else "")
            + (f'<div class="help">{esc(help_)}</div>' if help_ else "")
            + "</div>"
        )
    return f'<div class="metrics">{"".join(cards)}</div>'
