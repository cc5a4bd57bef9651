"""The one fence walker: where the fenced code blocks of a Markdown text are.

The hooks edit Markdown before it is converted and the executor reads the posts' Python
blocks; all of them find fences here, so a line such as ``# comment`` or a string like
``"/assets/x.png"`` inside code is never mistaken for prose, and the blocks the build
runs are exactly the blocks the page shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# An opening or closing fence: three or more backticks or tildes (may be indented in
# lists).
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
        word = self.info.strip("{} ").split()[0] if self.info.strip("{} ") else ""
        return word.lstrip(".").lower()


def fences(lines: list[str]) -> list[Fence]:
    """The fenced blocks among `lines` (with or without their line ends)."""
    found: list[Fence] = []
    opening: re.Match | None = None
    start = 0
    for number, line in enumerate(lines):
        match = _FENCE.match(line.rstrip("\r\n"))
        if opening is None:
            if match:
                fence, info = match.group("fence"), match.group("info").strip()
                if fence[0] == "`" and "`" in info:
                    continue  # inline code such as ```x``` on one line, not a fence
                opening, start = match, number
            continue
        closing = (
            match
            and match.group("fence")[0] == opening.group("fence")[0]
            and len(match.group("fence")) >= len(opening.group("fence"))
            and not match.group("info").strip()
        )
        if closing:
            found.append(
                Fence(
                    start,
                    number,
                    opening.group("indent"),
                    opening.group("info").strip(),
                )
            )
            opening = None
    if opening is not None:
        found.append(
            Fence(start, None, opening.group("indent"), opening.group("info").strip())
        )
    return found


def lines_with_code_flags(markdown: str) -> list[tuple[str, bool]]:
    """Each line of ``markdown`` (with its line end) and whether it is fenced code."""
    lines = markdown.splitlines(keepends=True)
    code = [False] * len(lines)
    for fence in fences(lines):
        end = len(lines) - 1 if fence.end is None else fence.end
        for number in range(fence.start, end + 1):
            code[number] = True
    return list(zip(lines, code, strict=True))


def map_prose(markdown: str, edit: Callable[[str], str]) -> str:
    """Return ``markdown`` with ``edit`` applied to every stretch of text outside fenced
    code."""
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
