from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentrun.core.errors import ToolLoadError
from agentrun.tools.context import ToolContext
from agentrun.tools.invoke import invoke
from agentrun.tools.loader import load_toolbox

FILES = ["read_file", "write_file", "edit_file", "list_files", "search_files"]


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


@pytest.fixture(autouse=True)
def clean_modules() -> Iterator[None]:
    """Forget the modules a test imported, so tests cannot see each other's tools."""
    before = set(sys.modules)
    path = list(sys.path)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]
    assert sys.path == path  # the loader put sys.path back


TOOLS_PY = '''
from __future__ import annotations

import os.path
from os.path import join
from typing import TYPE_CHECKING

from agentrun import tool

if TYPE_CHECKING:
    from agentrun import ToolContext


@tool(effect="read")
def lookup(key: str) -> str:
    """Look a key up."""
    return key.upper()


def deploy(env: str, ctx: ToolContext) -> str:
    return f"{env} {ctx.idempotency_key}"


@tool(effect="idempotent", name="renamed")
def original() -> str:
    return "x"


def _helper() -> None: ...


alias = lookup
CONSTANT = 3
'''


def test_file_contributes_its_public_functions(tmp_path: Path) -> None:
    write(tmp_path / "agent" / "tools.py", TOOLS_PY)
    box = load_toolbox(["./tools.py"], base_dir=tmp_path / "agent")
    assert box.names() == ("lookup", "deploy", "renamed", "finish")
    effects = {name: box[name].effect for name in box}
    assert effects == {
        "lookup": "read",
        "deploy": "side_effect",
        "renamed": "idempotent",
        "finish": "read",
    }
    assert box["deploy"].wants_ctx
    assert box["lookup"].source == "./tools.py:13"
    ctx = ToolContext(task_id="t", call_id="c", workspace=tmp_path)
    assert invoke(box["deploy"], {"env": "prod"}, ctx).output == "prod agentrun-t-c"


def test_builtin_toolsets_and_finish_always_last(tmp_path: Path) -> None:
    assert load_toolbox([], base_dir=tmp_path).names() == ("finish",)
    assert load_toolbox(["files"], base_dir=tmp_path).names() == (*FILES, "finish")
    box = load_toolbox(["finish", "shell", "files", "files"], base_dir=tmp_path)
    assert box.names() == ("finish", "shell", *FILES)
    assert box["shell"].source == "built-in toolset shell"


def test_shell_is_off_unless_listed(tmp_path: Path) -> None:
    assert "shell" not in load_toolbox(["files"], base_dir=tmp_path)


def test_same_file_twice_loads_once(tmp_path: Path) -> None:
    write(tmp_path / "tools.py", "def one() -> int:\n    return 1\n")
    box = load_toolbox(["tools.py", "./tools.py", str(tmp_path / "tools.py")], base_dir=tmp_path)
    assert box.names() == ("one", "finish")


def test_two_files_with_one_name_do_not_collide(tmp_path: Path) -> None:
    write(tmp_path / "a" / "tools.py", "X = 'a'\ndef from_a() -> str:\n    return X\n")
    write(tmp_path / "b" / "tools.py", "X = 'b'\ndef from_b() -> str:\n    return X\n")
    box = load_toolbox(["a/tools.py", "b/tools.py"], base_dir=tmp_path)
    assert box["from_a"].fn() == "a" and box["from_b"].fn() == "b"
    assert box["from_a"].fn.__module__ != box["from_b"].fn.__module__


def test_all_narrows_what_a_file_offers(tmp_path: Path) -> None:
    write(
        tmp_path / "tools.py",
        """
        from os.path import basename
        __all__ = ["kept", "basename"]
        def kept() -> None: ...
        def dropped() -> None: ...
        """,
    )
    assert load_toolbox(["tools.py"], base_dir=tmp_path).names() == ("kept", "basename", "finish")


def test_file_may_import_its_siblings_and_define_dataclasses(tmp_path: Path) -> None:
    helper = f"helper_{uuid.uuid4().hex[:8]}"
    write(tmp_path / f"{helper}.py", "def shout(s: str) -> str:\n    return s.upper()\n")
    write(
        tmp_path / "tools.py",
        f"""
        from dataclasses import dataclass
        from {helper} import shout

        @dataclass
        class Point:
            x: int

        def yell(text: str) -> str:
            return shout(text) + str(Point(1).x)
        """,
    )
    box = load_toolbox(["tools.py"], base_dir=tmp_path)
    assert box.names() == ("yell", "finish")  # shout was imported, not defined here
    assert box["yell"].fn("hi") == "HI1"


def test_module_entry(tmp_path: Path) -> None:
    package = f"pkg_{uuid.uuid4().hex[:8]}"
    write(tmp_path / package / "__init__.py", "")
    write(
        tmp_path / package / "tools.py",
        """
        from agentrun import tool

        @tool(effect="read")
        def ping() -> str:
            return "pong"
        """,
    )
    box = load_toolbox([f"{package}.tools"], base_dir=tmp_path)
    assert box.names() == ("ping", "finish")
    assert box["ping"].source == f"{package}.tools:3"  # the decorator line


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "x = 1\ny = (\n",
            r"could not load tools file \./bad\.py, line 2: SyntaxError: '\(' was never closed",
        ),
        (
            "def f() -> None:\nreturn 1\n",
            r"\./bad\.py, line 2: IndentationError: expected an indented block",
        ),
        (
            "import os\nimport no_such_module_xyz\n",
            r"\./bad\.py, line 2: ModuleNotFoundError: No module named 'no_such_module_xyz'",
        ),
        (
            "def boom():\n    raise RuntimeError('at import')\n\n\nboom()\n",
            r"\./bad\.py, line 2: RuntimeError: at import",
        ),
        ("import sys\nsys.exit(2)\n", r"\./bad\.py, line 2: SystemExit: 2"),
    ],
)
def test_file_that_fails_to_import_names_file_and_line(
    tmp_path: Path, source: str, message: str
) -> None:
    write(tmp_path / "bad.py", source)
    with pytest.raises(ToolLoadError, match=message):
        load_toolbox(["./bad.py"], base_dir=tmp_path)
    assert not any("bad" in name for name in sys.modules if name.startswith("agentrun_tools_"))


def test_failure_in_an_imported_sibling_names_both(tmp_path: Path) -> None:
    helper = f"broken_{uuid.uuid4().hex[:8]}"
    write(tmp_path / f"{helper}.py", "x = 1\nraise ValueError('bad helper')\n")
    write(tmp_path / "tools.py", f"import os\nimport {helper}\n")
    with pytest.raises(
        ToolLoadError,
        match=rf"tools file tools\.py, line 2 \(raised in .*{helper}\.py, line 2\): ValueError",
    ):
        load_toolbox(["tools.py"], base_dir=tmp_path)


def test_module_that_fails_to_import_names_its_file_and_line(tmp_path: Path) -> None:
    package = f"pkg_{uuid.uuid4().hex[:8]}"
    write(tmp_path / package / "__init__.py", "")
    write(tmp_path / package / "tools.py", "a = 1\nb = a / 0\n")
    with pytest.raises(
        ToolLoadError, match=rf"tools module {package}\.tools, line 2: ZeroDivisionError"
    ):
        load_toolbox([f"{package}.tools"], base_dir=tmp_path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("./missing.py", r"tools file \./missing\.py not found \(looked for .*missing\.py\)"),
        ("no_such_pkg_xyz.tools", "tools module no_such_pkg_xyz.tools not found"),
        ("no_such_module_xyz", "no module named 'no_such_module_xyz'"),
        ("web search", "not a built-in toolset \\(files, shell, finish\\)"),
        ("", "not a built-in toolset"),
    ],
)
def test_missing_or_unknown_entries(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(ToolLoadError, match=message):
        load_toolbox([entry], base_dir=tmp_path)


def test_directory_entry(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    with pytest.raises(ToolLoadError, match="is a directory"):
        load_toolbox(["./tools"], base_dir=tmp_path)


def test_duplicate_names_name_both_sources(tmp_path: Path) -> None:
    write(tmp_path / "a.py", "def lookup() -> None: ...\n")
    write(tmp_path / "b.py", "X = 1\n\n\ndef lookup() -> None: ...\n")
    with pytest.raises(
        ToolLoadError, match=r"'lookup' is defined twice: in a\.py:1 and in b\.py:4"
    ):
        load_toolbox(["a.py", "b.py"], base_dir=tmp_path)


def test_a_tools_file_cannot_redefine_finish(tmp_path: Path) -> None:
    write(tmp_path / "t.py", "def finish(summary: str) -> str:\n    return summary\n")
    with pytest.raises(
        ToolLoadError, match=r"'finish' is defined twice: in t\.py:1 and in built-in toolset finish"
    ):
        load_toolbox(["t.py"], base_dir=tmp_path)


def test_unusable_signature_names_file_line_and_tool(tmp_path: Path) -> None:
    write(tmp_path / "t.py", "def ok() -> None: ...\n\ndef upload(data: bytes) -> None: ...\n")
    with pytest.raises(
        ToolLoadError, match=r"t\.py:3: tool upload: parameter 'data': bytes has no JSON form"
    ):
        load_toolbox(["t.py"], base_dir=tmp_path)


def test_bad_decorator_use_in_a_file_is_a_load_error(tmp_path: Path) -> None:
    write(
        tmp_path / "t.py",
        "from agentrun import tool\n\n@tool(effect='write')\ndef f() -> None: ...\n",
    )
    with pytest.raises(
        ToolLoadError,
        match=r"t\.py:3: @tool on 'f': effect must be",
    ):
        load_toolbox(["t.py"], base_dir=tmp_path)


def test_a_reconcile_function_is_not_offered_to_the_model_as_a_tool(tmp_path: Path) -> None:
    write(
        tmp_path / "agent" / "tools.py",
        '''from agentrun import ToolContext, tool


def already_sent(ctx: ToolContext) -> str | None:
    return None


@tool(effect="side_effect", reconcile=already_sent)
def send(text: str) -> str:
    """Send a message.

    Args:
        text: What to send.
    """
    return "sent"
''',
    )
    box = load_toolbox(["./tools.py"], base_dir=tmp_path / "agent")
    assert box.names() == ("send", "finish")
    assert box["send"].reconcile is not None
