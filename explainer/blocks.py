"""The Python blocks of a post, as a reader copies them: includes expanded by
pymdownx.snippets.

A post includes package code with ``--8<-- "gmlp_snippets/<file>.py:<section>"`` inside
a fenced block. The extension itself (configured as in mkdocs.yml) expands them, so a
block's code here is byte for byte what the page shows. A block is run by the build
unless the line just before its opening fence is ``<!-- no-run: <reason> -->``.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from explainer.engine import REPO, EngineError, _shown
from explainer.markdown import fences

PYTHON = {"python", "py", "python3"}
_NO_RUN = re.compile(r"^\s*<!--\s*no-run\s*:(?P<reason>.*?)-->\s*$")
_NO_RUN_LOOSE = re.compile(r"<!--\s*no-?run\b", re.IGNORECASE)


@dataclass(frozen=True)
class Block:
    post: str  # the post, as messages show it (relative to the repository)
    line: int  # 1-based line of the opening fence in the post file
    source: str  # the body as written (includes not expanded)
    code: str  # the body with includes expanded and dedented: what a reader copies
    includes: tuple[str, ...]  # the --8<-- lines of the body
    handwritten: tuple[
        tuple[int, str], ...
    ]  # (line in the post, text) of the other lines
    no_run: str | None = None  # why the block is not run, when the author says so

    @property
    def where(self) -> str:
        return f"{self.post}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.no_run is None


@lru_cache(maxsize=4)
def _snippets(root: str):
    import markdown

    md = markdown.Markdown(
        extensions=["pymdownx.snippets"],
        extension_configs={
            "pymdownx.snippets": {
                "base_path": [root],
                "check_paths": True,
                "restrict_base_path": True,
            }
        },
    )
    return md.preprocessors["snippet"]


def expand(lines: list[str], where: str, root: Path = REPO) -> list[str]:
    """`lines` with their snippet includes expanded; a missing file or section names
    `where`."""
    from pymdownx.snippets import SnippetMissingError

    try:
        return _snippets(str(root)).run(list(lines))
    except SnippetMissingError as error:
        raise EngineError(f"{where}: {error}") from None


def is_include(line: str, root: Path = REPO) -> bool:
    """Whether pymdownx.snippets treats this one line as an include."""
    from pymdownx.snippets import SnippetMissingError

    try:
        return _snippets(str(root)).run([line]) != [line]
    except SnippetMissingError:
        return True


def read_blocks(path: Path, root: Path = REPO, text: str | None = None) -> list[Block]:
    """The Python blocks of the Markdown file `path`, in order."""
    path = Path(path)
    shown = _shown(path)
    if text is None:
        text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    blocks = []
    for fence in fences(lines):
        if fence.lang not in PYTHON:
            continue
        line = fence.start + 1
        if fence.end is None:
            raise EngineError(f"{shown}:{line}: this code fence is never closed")
        body = lines[fence.start + 1 : fence.end]
        code = textwrap.dedent("\n".join(expand(body, f"{shown}:{line}", root))) + "\n"
        includes, handwritten = [], []
        for number, text_line in enumerate(body, start=fence.start + 2):
            (
                includes.append(text_line.strip())
                if is_include(text_line, root)
                else handwritten.append((number, text_line))
            )
        blocks.append(
            Block(
                shown,
                line,
                "\n".join(body),
                code,
                tuple(includes),
                tuple(handwritten),
                _no_run(lines, fence.start, shown),
            )
        )
    return blocks


def _no_run(lines: list[str], start: int, shown: str) -> str | None:
    before = start - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    if before < 0 or not _NO_RUN_LOOSE.search(lines[before]):
        return None
    match = _NO_RUN.match(lines[before])
    reason = match.group("reason").strip() if match else ""
    if not reason:
        raise EngineError(
            f"{shown}:{before + 1}: a block marked not to run needs a reason: "
            "write <!-- no-run: why it is not run --> on the line before the fence"
        )
    return reason
