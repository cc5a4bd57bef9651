"""The one fence walker: the hooks that edit prose and the executor that reads the
posts' Python blocks all find fenced code here, so code is never mistaken for prose and
the blocks run are exactly the blocks the page shows."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import groupby

# An opening or closing fence: three or more backticks or tildes (indented in lists).
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Fence:
    """One fenced block: lines are 0-based indexes into the text's lines."""

    start: int  # the opening fence line
    end: int | None  # the closing fence line (None: never closed, runs to the end)
    indent: str
    info: str  # what follows the opening fence, stripped

    @property
    def lang(self) -> str:
        """The language: first word of the info string (``python``, ``{ .python }``)."""
        return (self.info.strip("{} ").split() or [""])[0].lstrip(".").lower()


def fences(lines: list[str]) -> list[Fence]:
    """The fenced blocks among `lines` (with or without their line ends)."""
    found: list[Fence] = []
    opening, mark = None, ""
    for number, line in enumerate(lines):
        match = _FENCE.match(line.rstrip("\r\n"))
        if not match:
            continue
        fence, info = match["fence"], match["info"].strip()
        if opening is None:
            if fence[0] != "`" or "`" not in info:  # ```x``` on one line: inline code
                opening, mark = Fence(number, None, match["indent"], info), fence
        elif fence[0] == mark[0] and len(fence) >= len(mark) and not info:
            found.append(replace(opening, end=number))
            opening = None
    return found + [opening] if opening else found


def lines_with_code_flags(markdown: str) -> list[tuple[str, bool]]:
    """Each line of ``markdown`` (with its line end) and whether it is fenced code."""
    lines = markdown.splitlines(keepends=True)
    code = set()
    for fence in fences(lines):
        code.update(
            range(fence.start, len(lines) if fence.end is None else fence.end + 1)
        )
    return [(line, number in code) for number, line in enumerate(lines)]


def map_prose(markdown: str, edit: Callable[[str], str]) -> str:
    """``markdown`` with ``edit`` applied to each stretch of prose (not fenced code)."""
    out = []
    for is_code, lines in groupby(lines_with_code_flags(markdown), lambda x: x[1]):
        text = "".join(line for line, _ in lines)
        out.append(text if is_code else edit(text))
    return "".join(out)
