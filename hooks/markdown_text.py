"""Text helpers shared by the hooks (not a hook itself).

The hooks edit Markdown before it is converted; these helpers keep those edits
away from fenced code blocks, where a line such as ``# comment`` or a string
like ``"/assets/x.png"`` is code, not Markdown.
"""

from __future__ import annotations

import re
from typing import Callable

# An opening or closing fence: three or more backticks or tildes (may be indented in lists).
_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")


def lines_with_code_flags(markdown: str) -> list[tuple[str, bool]]:
    """Each line of ``markdown`` (with its line end) and whether it is fenced code, fences included."""
    flagged: list[tuple[str, bool]] = []
    fence: str | None = None
    for line in markdown.splitlines(keepends=True):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
            flagged.append((line, fence is not None))
            continue
        flagged.append((line, True))
        closing = match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)
        if closing and not line[match.end():].strip():
            fence = None
    return flagged


def map_prose(markdown: str, edit: Callable[[str], str]) -> str:
    """Return ``markdown`` with ``edit`` applied to every stretch of text outside fenced code."""
    out: list[str] = []
    prose: list[str] = []
    for line, is_code in lines_with_code_flags(markdown):
        if is_code:
            out.append(edit("".join(prose)))
            prose = []
            out.append(line)
        else:
            prose.append(line)
    out.append(edit("".join(prose)))
    return "".join(out)
