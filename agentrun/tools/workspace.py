"""Path confinement: a path a model gives is resolved inside the workspace root, or refused.

Refused, with a ``WorkspaceEscapeError`` the model reads: absolute paths, ``..`` climbing above
the root, symbolic links anywhere in the path that lead outside, a symbolic link as the final
component of a path to write, and regular files with more than one hard link (the other link may
be outside). Reading and writing is the file tools' job; this module only looks (``lstat``,
``realpath``).

The check and the later open are two steps; the file tools open the final component with
``O_NOFOLLOW`` and re-check the link count on the open descriptor, which leaves only a
concurrent swap of an intermediate directory (not something a tool call can do) unguarded.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from agentrun.core.errors import WorkspaceEscapeError
from agentrun.tools.outcome import ToolError


def real_root(root: Path) -> Path:
    """The workspace root with every symbolic link resolved (the root itself may be a link).

    Raises ``ToolError`` if it is not an existing directory: tools never create the workspace.
    """
    resolved = Path(os.path.realpath(root))
    if not resolved.is_dir():
        raise ToolError(f"the workspace {root} is not an existing directory")
    return resolved


def relative(root: Path, path: Path) -> str:
    """``path`` (already resolved inside ``root``) as a POSIX path relative to the root."""
    rel = path.relative_to(os.path.realpath(root)).as_posix()
    return rel or "."


def check_hard_links(user_path: str, st: os.stat_result) -> None:
    """Refuse a regular file with several hard links: another one may be outside the workspace,
    and a hard link cannot be told apart from the original."""
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        raise WorkspaceEscapeError(
            f"path {user_path!r} is a file with {st.st_nlink} hard links, and another link may be "
            "outside the workspace; refused"
        )


def resolve_inside(root: Path, user_path: str, *, for_write: bool = False) -> Path:
    """The real path (no symbolic links) of ``user_path`` inside ``root``, or a refusal.

    ``user_path`` is relative to the workspace; ``""`` means the root. The path need not exist.
    With ``for_write`` a symbolic link as the final component is refused even if it points inside.
    Raises ``WorkspaceEscapeError`` with a message for the model.
    """
    if "\0" in user_path:
        raise WorkspaceEscapeError(f"path {user_path!r} contains a NUL character")
    pure = PurePosixPath(user_path or ".")
    if pure.is_absolute() or os.path.isabs(user_path):
        raise WorkspaceEscapeError(
            f"path {user_path!r} is absolute; give a path relative to the workspace"
        )
    parts: list[str] = []
    for part in pure.parts:
        if part == "..":
            if not parts:
                raise WorkspaceEscapeError(f"path {user_path!r} leaves the workspace")
            parts.pop()
        elif part != ".":
            parts.append(part)

    base = real_root(root)
    candidate = base.joinpath(*parts)
    resolved = Path(os.path.realpath(candidate))
    if resolved != base and not resolved.is_relative_to(base):
        raise WorkspaceEscapeError(
            f"path {user_path!r} leads outside the workspace through a symbolic link"
        )
    if for_write and parts and os.path.islink(candidate):
        raise WorkspaceEscapeError(
            f"path {user_path!r} is a symbolic link; file tools do not write through links"
        )
    try:
        st = os.lstat(resolved)
    except FileNotFoundError:
        return resolved
    except NotADirectoryError:  # a file used as a directory: let the caller report it
        return resolved
    check_hard_links(user_path, st)
    return resolved
