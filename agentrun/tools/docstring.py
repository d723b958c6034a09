"""Docstring parsing for tool schemas: the description text and one line per parameter.

Understands Google style (``Args:`` / ``Arguments:`` / ``Parameters:`` sections) and reST fields
(``:param x:``, ``:param str x:``, ``:type x:``). Anything else stays in the description.
Pure text processing; no imports of the function itself.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_GOOGLE_SECTION = re.compile(
    r"^(?P<indent>\s*)(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments):\s*$"
)
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<text>.*)$")
_REST_PARAM = re.compile(
    r"^\s*:(param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?\*{0,2}(?P<name>\w+)\s*:"
    r"\s*(?P<text>.*)$"
)
_REST_TYPE = re.compile(r"^\s*:type\s+\w+\s*:")


@dataclass(frozen=True, slots=True)
class Docstring:
    """A parsed docstring: description without parameter sections, and parameter texts."""

    description: str = ""
    params: dict[str, str] = field(default_factory=dict)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _take_block(lines: list[str], start: int, min_indent: int) -> int:
    """Index after the lines from ``start`` that are blank or indented more than ``min_indent``."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > min_indent):
        end += 1
    # Trailing blank lines belong to the text after the block.
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _google_params(block: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    entry_indent = min((_indent(line) for line in block if line.strip()), default=0)
    current: str | None = None
    for line in block:
        if not line.strip():
            continue
        match = _GOOGLE_ENTRY.match(line.strip())
        if _indent(line) == entry_indent and match:
            current = match["name"]
            params[current] = match["text"].strip()
        elif current is not None:
            params[current] = f"{params[current]} {line.strip()}".strip()
    return params


def _tidy(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def parse_docstring(doc: str | None) -> Docstring:
    """Split ``doc`` into the description and per-parameter texts (whitespace collapsed)."""
    if not doc or not doc.strip():
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    kept: list[str] = []
    params: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        section = _GOOGLE_SECTION.match(line)
        if section:
            end = _take_block(lines, i + 1, len(section["indent"]))
            params.update(_google_params(lines[i + 1 : end]))
            i = end
            continue
        rest = _REST_PARAM.match(line)
        if rest or _REST_TYPE.match(line):
            end = _take_block(lines, i + 1, _indent(line))
            if rest:
                more = " ".join(part.strip() for part in lines[i + 1 : end])
                params[rest["name"]] = f"{rest['text'].strip()} {more}".strip()
            i = end
            continue
        kept.append(line)
        i += 1
    return Docstring(description=_tidy(kept), params=params)
