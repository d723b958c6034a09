"""Building a task's ``Toolbox`` from the ``tools`` entries of an agent spec.

An entry is a built-in toolset (``files``, ``shell``, ``finish``), a Python file (``./tools.py``,
relative to the spec's directory) or an importable module (``mypkg.tools``). A file or module
contributes every top-level public function defined in it (or the functions named in its
``__all__``); ``finish`` is always included. Every failure is a ``ToolLoadError`` that names the
file and, where there is one, the line. Importing user code is the only I/O here.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from agentrun.core.errors import ToolLoadError
from agentrun.tools.decorator import meta_of
from agentrun.tools.finish import FINISH
from agentrun.tools.registry import Tool, Toolbox, make_tool

BUILTIN_TOOLSETS: dict[str, str] = {
    "files": "agentrun.tools.files",
    "shell": "agentrun.tools.shell",
    "finish": "agentrun.tools.finish",
}


def _same_file(a: str | os.PathLike[str] | None, b: Path) -> bool:
    if not a:
        return False
    try:
        return Path(a).resolve() == b.resolve()
    except OSError:
        return False


# Frames in these directories are Python's or agentrun's own, never where a user's bug is.
_NOT_USER_CODE = tuple(
    {sysconfig.get_path(name) for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {str(Path(__file__).resolve().parent.parent)}
)


def _is_user_code(filename: str) -> bool:
    return not filename.startswith(_NOT_USER_CODE)


def _failure(label: str, path: Path | None, exc: BaseException) -> str:
    """One line naming what failed to load, where (the line in ``path`` if known) and why."""
    line: int | None = None
    elsewhere = ""
    if isinstance(exc, SyntaxError) and path is not None and _same_file(exc.filename, path):
        line, detail = exc.lineno, f"{type(exc).__name__}: {exc.msg}"
    else:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename[:1] != "<"]
        own = [f for f in frames if path is not None and _same_file(f.filename, path)]
        if own:
            line = own[-1].lineno
        user = [f for f in frames if (own and f is own[-1]) or _is_user_code(f.filename)]
        if user and (not own or user[-1] is not own[-1]):
            elsewhere = f" (raised in {user[-1].filename}, line {user[-1].lineno})"
    where = f"{label}, line {line}" if line else label
    return f"could not load {where}{elsewhere}: {detail}"


@contextmanager
def _importable_from(directory: Path) -> Iterator[None]:
    """Let user code import its sibling modules while it is being loaded, as a script could."""
    entry = str(directory)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def _module_name(path: Path) -> str:
    """A name no other tools file shares: two ``tools.py`` in different folders must not collide."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    return f"agentrun_tools_{digest}_{stem}"


def _load_file(entry: str, path: Path) -> ModuleType:
    label = f"tools file {entry}"
    if not path.exists():
        raise ToolLoadError(f"{label} not found (looked for {path})")
    if path.is_dir():
        raise ToolLoadError(f"{label} is a directory; name a .py file")
    name = _module_name(path)
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as import does: dataclasses and pickling look the module up
    try:
        with _importable_from(path.parent):
            loader.exec_module(module)
    except ToolLoadError:  # a misused @tool: the message names file and line already
        sys.modules.pop(name, None)
        raise
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        raise ToolLoadError(_failure(label, path, exc)) from exc
    return module


def _load_module(name: str, base_dir: Path) -> ModuleType:
    label = f"tools module {name}"
    with _importable_from(base_dir):
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None
        except (Exception, SystemExit) as exc:  # a parent package failed to import
            raise ToolLoadError(_failure(label, None, exc)) from exc
        if spec is None:
            raise ToolLoadError(
                f"{label} not found: no module named {name!r}; check the name, install it, or "
                "give a path to a .py file"
            )
        origin = Path(spec.origin) if spec.origin and spec.has_location else None
        try:
            return importlib.import_module(name)
        except ToolLoadError:
            raise
        except (Exception, SystemExit) as exc:
            raise ToolLoadError(_failure(label, origin, exc)) from exc


def module_functions(module: ModuleType) -> list[Callable[..., Any]]:
    """The functions a module offers as tools, in definition order.

    With ``__all__``: the functions it names. Without: top-level functions defined in the module
    (not imported) whose names do not start with ``_`` and that are not another tool's
    ``reconcile`` (a check of the world, not something the model should call).
    """
    exported = getattr(module, "__all__", None)
    if exported is not None:
        candidates = [getattr(module, name, None) for name in exported]
    else:
        defined = [
            value
            for name, value in vars(module).items()
            if not name.startswith("_")
            and inspect.isfunction(value)
            and value.__module__ == module.__name__
        ]
        reconciles = {meta_of(fn).reconcile for fn in defined} - {None}
        candidates = [fn for fn in defined if fn not in reconciles]
    functions: list[Callable[..., Any]] = []
    for fn in candidates:
        if inspect.isfunction(fn) and fn.__name__ != "<lambda>" and fn not in functions:
            functions.append(fn)
    return functions


def _tools_of(module: ModuleType, shown: str) -> list[Tool]:
    return [
        make_tool(fn, source=f"{shown}:{inspect.unwrap(fn).__code__.co_firstlineno}")
        for fn in module_functions(module)
    ]


def _is_path(entry: str) -> bool:
    return entry.endswith(".py") or "/" in entry or os.sep in entry or entry[:1] in (".", "~")


def load_toolbox(entries: Sequence[str], *, base_dir: Path) -> Toolbox:
    """The toolbox of an agent: the entries' tools in order, then ``finish`` if not listed.

    Paths are relative to ``base_dir`` (the agent spec's directory). The same entry given twice
    counts once. Raises ``ToolLoadError`` for an unknown toolset, a missing file or module, one
    that fails to import (naming file and line), an unusable signature, or two tools with one
    name.
    """
    tools: list[Tool] = []
    seen: set[str] = set()
    listed = list(entries) if FINISH in entries else [*entries, FINISH]
    for entry in listed:
        if entry in BUILTIN_TOOLSETS:
            key = f"builtin:{entry}"
            if key not in seen:
                module = importlib.import_module(BUILTIN_TOOLSETS[entry])
                tools += [make_tool(fn, source=f"built-in toolset {entry}") for fn in module.TOOLS]
        elif entry and _is_path(entry):
            path = Path(entry).expanduser()
            path = (path if path.is_absolute() else base_dir / path).resolve()
            key = f"file:{path}"
            if key not in seen:
                tools += _tools_of(_load_file(entry, path), entry)
        elif entry and all(part.isidentifier() for part in entry.split(".")):
            key = f"module:{entry}"
            if key not in seen:
                tools += _tools_of(_load_module(entry, base_dir), entry)
        else:
            raise ToolLoadError(
                f"tools entry {entry!r} is not a built-in toolset "
                f"({', '.join(BUILTIN_TOOLSETS)}), a path to a .py file or a module name"
            )
        seen.add(key)
    return Toolbox(tools)
