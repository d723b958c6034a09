"""Imports go down only: cli → runtime → models/tools/store → core (design §2, style.md).

Parses every module with ``ast``; a lazy import inside a function counts the same as one at the
top. Nothing below ``cli`` may import typer or rich.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "agentrun"
ALLOWED = {
    "core": {"core"},
    "store": {"store", "core"},
    "models": {"models", "core"},
    "tools": {"tools", "core"},
    "runtime": {"runtime", "models", "tools", "store", "core"},
    "cli": {"cli", "runtime", "models", "tools", "store", "core"},
}
UI_LIBRARIES = {"typer", "rich", "click"}


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_its_own_layer_and_the_layers_below(path: Path) -> None:
    layer = path.relative_to(PACKAGE).parts[0]
    for name in imported_modules(path):
        parts = name.split(".")
        if parts[0] == "agentrun" and len(parts) > 1:
            assert parts[1] in ALLOWED[layer], f"{path.name} ({layer}) imports {name}"
        if layer != "cli":
            assert parts[0] not in UI_LIBRARIES, f"{path.name} ({layer}) imports {name}"


def test_every_layer_exists() -> None:
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name in ALLOWED} == set(ALLOWED)
