from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agentrun.tools import files
from agentrun.tools.context import FileChange, ToolContext
from agentrun.tools.invoke import invoke
from agentrun.tools.outcome import ToolOutcome
from agentrun.tools.registry import make_tool

from .conftest import Guard

TOOLS = {t.__name__: make_tool(t) for t in files.TOOLS}


def call(ctx: ToolContext, name: str, **arguments: Any) -> ToolOutcome:
    return invoke(TOOLS[name], arguments, ctx)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_effect_classes() -> None:
    assert {n: t.effect for n, t in TOOLS.items()} == {
        "read_file": "read",
        "write_file": "idempotent",
        "edit_file": "idempotent",
        "list_files": "read",
        "search_files": "read",
    }
    assert all(t.wants_ctx and "ctx" not in t.parameters["properties"] for t in TOOLS.values())


# write_file


def test_write_creates_file_and_parents_and_records_the_change(
    ctx: ToolContext, workspace: Path
) -> None:
    outcome = call(ctx, "write_file", path="src/pkg/a.txt", content="héllo\n")
    data = "héllo\n".encode()
    assert outcome == ToolOutcome(f"wrote {len(data)} bytes to src/pkg/a.txt")
    assert (workspace / "src/pkg/a.txt").read_bytes() == data
    assert stat.S_IMODE((workspace / "src/pkg/a.txt").stat().st_mode) == 0o600
    assert ctx.file_changes == [FileChange("src/pkg/a.txt", None, sha(data), data)]


def test_overwrite_records_before_and_after_and_keeps_the_mode(
    ctx: ToolContext, workspace: Path
) -> None:
    (workspace / "run.sh").write_bytes(b"old")
    (workspace / "run.sh").chmod(0o755)
    call(ctx, "write_file", path="run.sh", content="new")
    assert (workspace / "run.sh").read_bytes() == b"new"
    assert stat.S_IMODE((workspace / "run.sh").stat().st_mode) == 0o755
    assert ctx.file_changes == [FileChange("run.sh", sha(b"old"), sha(b"new"), b"new")]
    assert [p.name for p in workspace.iterdir()] == ["run.sh"]  # no temp file left


def test_rerun_of_write_is_harmless_and_still_recorded(make_ctx: Any, workspace: Path) -> None:
    first, second = make_ctx(), make_ctx()
    a = call(first, "write_file", path="a.txt", content="x")
    mtime = (workspace / "a.txt").stat().st_mtime_ns
    b = call(second, "write_file", path="a.txt", content="x")
    assert a == b  # the same text, so a re-run after a crash reads the same (rule 28)
    assert (workspace / "a.txt").stat().st_mtime_ns == mtime
    assert second.file_changes == [FileChange("a.txt", sha(b"x"), sha(b"x"), b"x")]


def test_write_to_a_directory_is_an_error(ctx: ToolContext, workspace: Path) -> None:
    (workspace / "d").mkdir()
    assert call(ctx, "write_file", path="d", content="x") == ToolOutcome.failure("d is a directory")
    assert ctx.file_changes == []


# read_file


def test_read(ctx: ToolContext, workspace: Path) -> None:
    (workspace / "a.txt").write_text("line 1\nline 2\n")
    assert call(ctx, "read_file", path="a.txt") == ToolOutcome("line 1\nline 2\n")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda ws: None, "error: a.txt does not exist"),
        (lambda ws: (ws / "a.txt").mkdir(), "error: a.txt is a directory"),
    ],
)
def test_read_errors(ctx: ToolContext, workspace: Path, setup: Any, message: str) -> None:
    setup(workspace)
    assert call(ctx, "read_file", path="a.txt") == ToolOutcome(message, is_error=True)


def test_read_binary_and_too_big(
    ctx: ToolContext, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workspace / "img.png").write_bytes(b"\x89PNG\0\0data")
    assert (
        call(ctx, "read_file", path="img.png").output
        == "img.png is a binary file (10 bytes); not shown"
    )
    monkeypatch.setattr(files, "MAX_READ_BYTES", 5)
    (workspace / "big.txt").write_text("0123456789")
    outcome = call(ctx, "read_file", path="big.txt")
    assert outcome.is_error and "10 bytes, more than the 5 bytes" in outcome.output


# edit_file


def test_edit_replaces_one_occurrence_and_records(ctx: ToolContext, workspace: Path) -> None:
    (workspace / "a.py").write_text("x = 1\ny = 2\n")
    outcome = call(ctx, "edit_file", path="a.py", old="y = 2", new="y = 3")
    assert outcome == ToolOutcome("edited a.py: replaced 1 occurrence")
    assert (workspace / "a.py").read_text() == "x = 1\ny = 3\n"
    before, after = b"x = 1\ny = 2\n", b"x = 1\ny = 3\n"
    assert ctx.file_changes == [FileChange("a.py", sha(before), sha(after), after)]


@pytest.mark.parametrize(
    ("text", "old", "new", "final"),
    [
        ("a = 1\n", "a = 1", "a = 2", "a = 2\n"),
        ("call()\n", "call()", "call()\ncall_again()", "call()\ncall_again()\n"),  # old in new
        ("one two\n", "one", "1", "1 two\n"),
    ],
)
def test_edit_rerun_is_already_applied(
    make_ctx: Any, workspace: Path, text: str, old: str, new: str, final: str
) -> None:
    (workspace / "f.txt").write_text(text)
    first, again = make_ctx(), make_ctx()
    a = call(first, "edit_file", path="f.txt", old=old, new=new)
    b = call(again, "edit_file", path="f.txt", old=old, new=new)
    assert a == b == ToolOutcome("edited f.txt: replaced 1 occurrence")
    assert (workspace / "f.txt").read_text() == final
    data = final.encode()
    assert again.file_changes == [FileChange("f.txt", sha(data), sha(data), data)]


@pytest.mark.parametrize(
    ("text", "old", "new", "message"),
    [
        ("abc", "xyz", "q", "the old text was not found in f.txt; read the file and retry"),
        ("abc", "b", "", "not found"),
        ("a a", "a", "b", "the old text occurs 2 times in f.txt"),
        ("abc", "", "x", "old must not be empty"),
    ],
)
def test_edit_errors(
    ctx: ToolContext, workspace: Path, text: str, old: str, new: str, message: str
) -> None:
    (workspace / "f.txt").write_text(text.replace("b", "") if new == "" else text)
    outcome = call(ctx, "edit_file", path="f.txt", old=old, new=new)
    assert outcome.is_error and message in outcome.output
    assert ctx.file_changes == []


def test_edit_of_a_deletion_that_was_done_hints_at_it(ctx: ToolContext, workspace: Path) -> None:
    (workspace / "f.txt").write_text("ac")
    outcome = call(ctx, "edit_file", path="f.txt", old="b", new="")
    assert "if you deleted it already" in outcome.output


def test_edit_refuses_non_utf8(ctx: ToolContext, workspace: Path) -> None:
    (workspace / "f.bin").write_bytes(b"\xff\xfe")
    assert "not UTF-8 text" in call(ctx, "edit_file", path="f.bin", old="a", new="b").output


# list_files and search_files


@pytest.fixture
def tree(workspace: Path) -> Path:
    for rel in ["b.py", "a.txt", "src/m.py", "src/sub/n.py", "src/sub/readme.md", ".git/HEAD"]:
        (workspace / rel).parent.mkdir(parents=True, exist_ok=True)
        (workspace / rel).write_text(f"content of {rel}\nTODO: fix {rel}\n")
    return workspace


@pytest.mark.parametrize(
    ("arguments", "output"),
    [
        ({}, "a.txt\nb.py\nsrc/m.py\nsrc/sub/n.py\nsrc/sub/readme.md"),
        ({"pattern": "*.py"}, "b.py\nsrc/m.py\nsrc/sub/n.py"),
        ({"path": "src/sub"}, "src/sub/n.py\nsrc/sub/readme.md"),
        ({"pattern": "src/*.py"}, "src/m.py\nsrc/sub/n.py"),
        ({"path": "a.txt"}, "a.txt"),
        ({"pattern": "*.rs"}, "no files match '*.rs' under ."),
    ],
)
def test_list_files(ctx: ToolContext, tree: Path, arguments: dict[str, Any], output: str) -> None:
    assert call(ctx, "list_files", **arguments) == ToolOutcome(output)


def test_list_files_is_capped(
    ctx: ToolContext, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "MAX_LISTED", 2)
    assert (
        call(ctx, "list_files").output
        == "a.txt\nb.py\n… and 3 more; narrow the path or the pattern"
    )


def test_list_missing_directory(ctx: ToolContext, tree: Path) -> None:
    assert call(ctx, "list_files", path="nope").output == "error: nope does not exist"


def test_search_files(ctx: ToolContext, tree: Path) -> None:
    (tree / "img.bin").write_bytes(b"TODO\0binary")
    outcome = call(ctx, "search_files", pattern=r"TODO: fix [\w/]+\.py")
    assert outcome.output.splitlines() == [
        "b.py:2: TODO: fix b.py",
        "src/m.py:2: TODO: fix src/m.py",
        "src/sub/n.py:2: TODO: fix src/sub/n.py",
    ]


def test_search_one_file_and_no_match(ctx: ToolContext, tree: Path) -> None:
    assert (
        call(ctx, "search_files", pattern="content", path="a.txt").output
        == "a.txt:1: content of a.txt"
    )
    assert call(ctx, "search_files", pattern="zzz").output == "no matches for 'zzz' under ."


def test_search_is_capped_and_long_lines_are_cut(
    ctx: ToolContext, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "MAX_MATCHES", 3)
    (workspace / "long.txt").write_text(("x" * 1000 + "\n") * 10)
    lines = call(ctx, "search_files", pattern="x").output.splitlines()
    assert len(lines) == 4 and lines[-1].startswith("… more matches not shown")
    assert lines[0] == "long.txt:1: " + "x" * files.MAX_LINE_CHARS + "…"


def test_search_bad_regex(ctx: ToolContext) -> None:
    outcome = call(ctx, "search_files", pattern="(unclosed")
    assert outcome.is_error and "invalid regular expression '(unclosed'" in outcome.output


# confinement through the tools: refused, and nothing outside is opened or changed


@pytest.fixture
def traps(workspace: Path, outside: Path) -> Path:
    (workspace / "out_dir").symlink_to(outside)
    (workspace / "out_file.txt").symlink_to(outside / "secret.txt")
    (workspace / "inside.txt").write_text("inside\n")
    (workspace / "alias.txt").symlink_to("inside.txt")
    os.link(outside / "secret.txt", workspace / "hard.txt")
    return workspace


ESCAPES = [
    ("read_file", {"path": "../outside/secret.txt"}),
    ("read_file", {"path": "/etc/hostname"}),
    ("read_file", {"path": "out_dir/secret.txt"}),
    ("read_file", {"path": "out_file.txt"}),
    ("read_file", {"path": "hard.txt"}),
    ("write_file", {"path": "../outside/secret.txt", "content": "pwned"}),
    ("write_file", {"path": "out_dir/secret.txt", "content": "pwned"}),
    ("write_file", {"path": "out_dir/new.txt", "content": "pwned"}),
    ("write_file", {"path": "out_file.txt", "content": "pwned"}),
    ("write_file", {"path": "hard.txt", "content": "pwned"}),
    ("write_file", {"path": "alias.txt", "content": "through a link"}),
    ("edit_file", {"path": "out_file.txt", "old": "outside", "new": "pwned"}),
    ("edit_file", {"path": "hard.txt", "old": "outside", "new": "pwned"}),
    ("list_files", {"path": "out_dir"}),
    ("list_files", {"path": ".."}),
    ("search_files", {"pattern": "outside", "path": "out_dir"}),
    ("search_files", {"pattern": "outside", "path": "../outside"}),
]


@pytest.mark.parametrize(("name", "arguments"), ESCAPES)
def test_escapes_are_refused(
    ctx: ToolContext, traps: Path, guard: Guard, name: str, arguments: dict[str, Any]
) -> None:
    outcome = call(ctx, name, **arguments)
    assert outcome.is_error, outcome
    assert ctx.file_changes == []
    assert (traps / "inside.txt").read_text() == "inside\n"


def test_walking_the_tree_does_not_follow_links_out(
    ctx: ToolContext, traps: Path, guard: Guard
) -> None:
    assert "outside the workspace" not in call(ctx, "search_files", pattern="outside").output
    assert call(ctx, "search_files", pattern=".", path=".").output == "inside.txt:1: inside"
    listed = call(ctx, "list_files").output.splitlines()
    assert "out_dir/secret.txt" not in listed


def test_reading_through_an_inside_symlink_is_allowed(ctx: ToolContext, traps: Path) -> None:
    assert call(ctx, "read_file", path="alias.txt") == ToolOutcome("inside\n")


def test_a_missing_workspace_is_never_created(make_ctx: Any, tmp_path: Path) -> None:
    ctx = make_ctx(workspace=tmp_path / "gone")
    outcome = call(ctx, "write_file", path="a/b.txt", content="x")
    assert outcome.is_error and "is not an existing directory" in outcome.output
    assert not (tmp_path / "gone").exists()
