"""The tools layer uses the standard library and ``agentrun.core`` only, and never prints or
exits (the layer direction itself is ``tests/test_layers.py``'s)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import agentrun.tools

TOOLS = Path(agentrun.tools.__file__).parent


@pytest.mark.parametrize("path", sorted(TOOLS.glob("*.py")), ids=lambda p: p.name)
def test_standard_library_only_and_no_output(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots = [node.module.split(".")[0]]
        else:
            roots = []
        for root in roots:
            assert root == "agentrun" or root in sys.stdlib_module_names, f"{path.name}: {root}"
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            assert called not in {"print", "sys.exit", "exit", "os._exit"}, f"{path.name}: {called}"
