"""The tree reads as the data flows: no layer of ``xkd`` imports a layer below it in the flow.

Layers, first to last: config/errors/presets, data, models, losses, train, evaluate, runs,
experiment, sweep, app (the app's helpers), report, cli. A module may import its own layer and
earlier ones. Imports inside functions count too (they are how a layer would sneak a dependency
in).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "xkd"
LAYERS = [
    {"xkd", "xkd.config", "xkd.config_parse", "xkd.errors", "xkd.presets"},
    {"xkd.data"},
    {"xkd.models"},
    {"xkd.losses"},
    {"xkd.train"},
    {"xkd.evaluate"},
    {"xkd.runs"},
    {"xkd.experiment"},
    {"xkd.sweep"},
    {"xkd.app"},
    {"xkd.report"},  # above app: reports reuse the pages' table helpers
    {"xkd.cli"},
]
TESTING = "xkd.testing"  # fixtures: may import anything; nothing in xkd imports them


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int | None:
    best = None
    for i, names in enumerate(LAYERS):
        for name in names:
            if module == name or (name != "xkd" and module.startswith(name + ".")):
                best = i
    if best is None and module in ("xkd",):
        best = 0
    return best


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    base = _module(path)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                pkg = base.split(".") if path.name == "__init__.py" else base.split(".")[:-1]
                pkg = pkg[: len(pkg) - node.level + 1]
                name = ".".join(pkg + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = [_module(p) for p in _sources() if _layer(_module(p)) is None]
    missing = [m for m in missing if not m.startswith(TESTING)]
    assert not missing, f"modules outside the layer list: {missing}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_later_layer(path):
    module = _module(path)
    if module.startswith(TESTING):
        return
    mine = _layer(module)
    bad = []
    for line, name in _imports(path):
        if name == "streamlit" or name.startswith("streamlit."):
            bad.append(f"line {line}: xkd never imports streamlit")
        if not name.startswith("xkd"):
            continue
        if name.startswith(TESTING):
            bad.append(f"line {line}: {name} (test fixtures are for tests only)")
            continue
        theirs = _layer(name)
        if theirs is not None and theirs > mine:
            bad.append(f"line {line}: {name} (layer {theirs} > {mine})")
    assert not bad, f"{module} imports a later layer: {bad}"


def test_no_file_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*_sources(), *sorted((ROOT / "pages").glob("*.py")), ROOT / "app.py"]
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, f"files over 400 lines: {long}"
