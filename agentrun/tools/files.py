"""The ``files`` toolset: read, write, edit, list and search files inside the workspace.

Every path goes through ``workspace.resolve_inside``; nothing outside the workspace is read or
written. Writes are atomic and recorded with ``ctx.record_file_change`` (design §5 "File
state"), which is what lets ``write_file`` and ``edit_file`` be classed idempotent (rule 28).
Results are short texts for the model.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from agentrun.tools.context import ToolContext
from agentrun.tools.decorator import tool
from agentrun.tools.fileio import make_parents, read_regular, sha256, write_atomic
from agentrun.tools.outcome import ToolError
from agentrun.tools.workspace import real_root, relative, resolve_inside

MAX_READ_BYTES = 4 * 1024 * 1024
MAX_LISTED = 1000
MAX_MATCHES = 200
MAX_LINE_CHARS = 300
_SKIPPED_DIRS = frozenset({".git"})
_BINARY_PROBE = 8192


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:_BINARY_PROBE]


def _walk(base: Path) -> Iterator[Path]:
    """Files under ``base`` in sorted order, without following links or entering ``.git``."""
    for directory, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in sorted(filenames):
            yield Path(directory, name)


def _record(ctx: ToolContext, rel: str, before: bytes | None, after: bytes) -> None:
    before_sha = sha256(before) if before is not None else None
    ctx.record_file_change(rel, before_sha, sha256(after), after)


def _replace(target: Path, data: bytes, mode: int | None) -> None:
    make_parents(target.parent)
    write_atomic(target, data, mode)


@tool(effect="read")
def read_file(path: str, ctx: ToolContext) -> str:
    """Read a text file from the workspace and return its content.

    Args:
        path: Path of the file, relative to the workspace root.
    """
    target = resolve_inside(ctx.workspace, path)
    rel = relative(ctx.workspace, target)
    current = read_regular(target, rel, limit=MAX_READ_BYTES)
    if current is None:
        raise ToolError(f"{rel} does not exist")
    if _is_binary(current.data):
        return f"{rel} is a binary file ({len(current.data)} bytes); not shown"
    return current.data.decode("utf-8", "replace")


@tool(effect="idempotent")
def write_file(path: str, content: str, ctx: ToolContext) -> str:
    """Create or replace a text file in the workspace with the given content.

    Missing parent directories are created.

    Args:
        path: Path of the file, relative to the workspace root.
        content: The complete new content of the file.
    """
    target = resolve_inside(ctx.workspace, path, for_write=True)
    rel = relative(ctx.workspace, target)
    current = read_regular(target, rel)
    data = content.encode("utf-8")
    if current is None or current.data != data:
        _replace(target, data, current.mode if current else None)
    # Recorded even when unchanged: a re-run after a crash must still report the change (rule 28).
    _record(ctx, rel, current.data if current else None, data)
    return f"wrote {len(data)} bytes to {rel}"


def _is_applied(text: str, old: str, new: str) -> bool:
    """Whether ``text`` already shows the edit ``old`` → ``new`` (a re-run after a crash).

    True when ``new`` is present and every occurrence of ``old`` is inside one of ``new``.
    """
    if not new or new not in text:
        return False
    return text.count(old) == text.count(new) * new.count(old)


@tool(effect="idempotent")
def edit_file(path: str, old: str, new: str, ctx: ToolContext) -> str:
    """Replace one exact occurrence of a text in a workspace file.

    The old text must occur exactly once; include enough surrounding lines to make it unique.
    If the file already contains the new text and not the old one, the edit counts as done.

    Args:
        path: Path of the file, relative to the workspace root.
        old: The exact text to replace, including whitespace and indentation.
        new: The text to put in its place.
    """
    if not old:
        raise ToolError("old must not be empty; use write_file to create a file")
    target = resolve_inside(ctx.workspace, path, for_write=True)
    rel = relative(ctx.workspace, target)
    current = read_regular(target, rel)
    if current is None:
        raise ToolError(f"{rel} does not exist")
    try:
        text = current.data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{rel} is not UTF-8 text; edit_file changes text files only") from None
    done = f"edited {rel}: replaced 1 occurrence"
    if _is_applied(text, old, new):
        _record(ctx, rel, current.data, current.data)
        return done
    count = text.count(old)
    if count == 0:
        hint = " (if you deleted it already, nothing is left to do)" if not new else ""
        raise ToolError(f"the old text was not found in {rel}{hint}; read the file and retry")
    if count > 1:
        raise ToolError(
            f"the old text occurs {count} times in {rel}; include more context to pick one"
        )
    data = text.replace(old, new, 1).encode("utf-8")
    _replace(target, data, current.mode)
    _record(ctx, rel, current.data, data)
    return done


def _matches(rel: str, name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(rel if "/" in pattern else name, pattern)


@tool(effect="read")
def list_files(path: str = ".", pattern: str = "*", *, ctx: ToolContext) -> str:
    """List the files under a directory of the workspace, recursively, one path a line.

    Paths are relative to the workspace root; .git is skipped.

    Args:
        path: Directory to list, relative to the workspace root.
        pattern: Glob matched against file names (e.g. "*.py"), or against the whole path if it
            contains "/" (e.g. "src/*/test_*.py").
    """
    base = resolve_inside(ctx.workspace, path)
    shown_base = relative(ctx.workspace, base)
    if not base.exists():
        raise ToolError(f"{shown_base} does not exist")
    root = real_root(ctx.workspace)
    candidates = [base] if not base.is_dir() else _walk(base)
    found: list[str] = []
    extra = 0
    for file in candidates:
        rel = file.relative_to(root).as_posix()
        if not _matches(rel, file.name, pattern):
            continue
        if len(found) < MAX_LISTED:
            found.append(rel)
        else:
            extra += 1
    if not found:
        return f"no files match {pattern!r} under {shown_base}"
    if extra:
        found.append(f"… and {extra} more; narrow the path or the pattern")
    return "\n".join(found)


def _searchable(file: Path) -> bytes | None:
    """The bytes of a regular, singly linked, text file of modest size; ``None`` otherwise."""
    try:
        st = os.lstat(file)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1 or st.st_size > MAX_READ_BYTES:
        return None
    try:
        current = read_regular(file, file.name, limit=MAX_READ_BYTES)
    except Exception:  # changed under us, or refused: skip it, it is a search
        return None
    if current is None or _is_binary(current.data):
        return None
    return current.data


@tool(effect="read")
def search_files(pattern: str, path: str = ".", *, ctx: ToolContext) -> str:
    """Search the text files of the workspace for a regular expression.

    Returns matching lines as "file:line: text". Binary files, links and .git are skipped.

    Args:
        pattern: Python regular expression searched in each line (e.g. "def \\w+_test").
        path: File or directory to search, relative to the workspace root.
    """
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ToolError(f"invalid regular expression {pattern!r}: {exc}") from None
    base = resolve_inside(ctx.workspace, path)
    shown_base = relative(ctx.workspace, base)
    if not base.exists():
        raise ToolError(f"{shown_base} does not exist")
    root = real_root(ctx.workspace)
    lines: list[str] = []
    for file in [base] if not base.is_dir() else _walk(base):
        data = _searchable(file)
        if data is None:
            continue
        rel = file.relative_to(root).as_posix()
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            if not regex.search(line):
                continue
            if len(lines) == MAX_MATCHES:
                lines.append("… more matches not shown; narrow the pattern or the path")
                return "\n".join(lines)
            if len(line) > MAX_LINE_CHARS:
                line = line[:MAX_LINE_CHARS] + "…"
            lines.append(f"{rel}:{number}: {line}")
    if not lines:
        return f"no matches for {pattern!r} under {shown_base}"
    return "\n".join(lines)


TOOLS = (read_file, write_file, edit_file, list_files, search_files)
