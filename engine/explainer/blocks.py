"""The Python blocks of a post, as a reader copies them: includes expanded by
pymdownx.snippets.

A post includes package code with ``--8<-- "gmlp_snippets/<file>.py:<section>"`` inside
a fenced block. The extension itself (configured as in mkdocs.yml) expands them, so a
block's code here is byte for byte what the page shows. Only the blocks the page shows
as code are blocks: Python-Markdown with mkdocs.yml's extensions decides, so a fence in
an HTML comment, or one that an indented code block shows as text, is none. A block is
run by the build unless the line just before its opening fence is
``<!-- no-run: <reason> -->`` (any case).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from explainer.engine import REPO, EngineError, _shown
from explainer.markdown import Fence, fences

PYTHON = {"python", "py", "python3"}
_NO_RUN = re.compile(r"^\s*<!--\s*no[\W_]?run\s*:(?P<reason>.*?)-->\s*$", re.I)
_NO_RUN_LOOSE = re.compile(r"<!--\s*no[\W_]?run\b", re.I)  # meant as one


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


@lru_cache(maxsize=4)
def _renderer(root: str):
    """Python-Markdown with the extensions of mkdocs.yml (and MkDocs' own), without
    includes and with plain HTML code blocks: to see which fences are shown as code."""
    import markdown
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)  # !relative...
    config = Path(root, "mkdocs.yml")
    listed = yaml.load(config.read_text("utf-8"), Loader) if config.is_file() else {}
    names = ["toc", "tables", "fenced_code", "pymdownx.highlight"] + [
        next(iter(item)) if isinstance(item, dict) else str(item)
        for item in (listed or {}).get("markdown_extensions") or []
    ]
    return markdown.Markdown(
        extensions=[n for n in dict.fromkeys(names) if n != "pymdownx.snippets"],
        extension_configs={"pymdownx.highlight": {"use_pygments": False}},
    )


def python_fences(lines: list[str], root: Path = REPO) -> list[Fence]:
    """The Python fences among a page's `lines` that the page shows as code blocks."""
    found = [fence for fence in fences(lines) if fence.lang in PYTHON]
    marked = list(lines)
    if marked and marked[0].rstrip() == "---":  # front matter: not Markdown
        end = next((i for i, x in enumerate(marked[1:], 1) if x.rstrip() == "---"), 0)
        marked[: end + 1] = [""] * (end + 1)
    for number, fence in reversed(list(enumerate(found))):
        end = len(lines) if fence.end is None else fence.end
        marked[fence.start + 1 : end] = [f"{fence.indent}gmlpblock{number}x"]
    html = _renderer(str(root)).reset().convert("\n".join(marked))
    html = re.sub(r"<!--.*?-->", "", html, flags=re.S)  # what a comment hides
    shown = set(
        map(int, re.findall(r'<code class="language-[^"]*">gmlpblock(\d+)x', html))
    )
    return [fence for number, fence in enumerate(found) if number in shown]


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
    for fence in fences(lines):
        if fence.lang in PYTHON and fence.end is None:
            raise EngineError(
                f"{shown}:{fence.start + 1}: this code fence is never closed"
            )
    blocks = []
    for fence in python_fences(lines, root):
        line = fence.start + 1
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
