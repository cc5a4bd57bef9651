"""The Python blocks of a post, as the page shows them and a reader copies them.

The site's own Markdown decides what a block is: the post is converted once with the
site's extensions (mkdocs.yml's, as MkDocs loaded them), and a superfences custom fence
collects each Python block it meets, with its includes already expanded by the site's
pymdownx.snippets. A fence that an indented code block shows as text never reaches it,
and one inside an HTML comment is dropped with the comment, so only what the page
shows is a block, and a block's code is byte for byte what the page shows.
On the page the same custom fence shows each block and its output (explainer.plugin).
A block is run unless the line just before its opening fence is
``<!-- no-run: <reason> -->`` (any case).
"""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explainer.engine import REPO, EngineError, _shown
from explainer.markdown import fences

PYTHON = ("python", "py", "python3")
_NO_RUN = re.compile(r"^\s*<!--\s*no[\W_]?run\s*:(?P<reason>.*?)-->\s*$", re.I)
_NO_RUN_LOOSE = re.compile(r"<!--\s*no[\W_]?run\b", re.I)  # meant as one
_TAG = "explainer_block"  # the option that numbers a fence in the reading pass


@dataclass(frozen=True)
class Block:
    post: str  # the post, as messages show it (relative to the repository)
    line: int  # 1-based line of the opening fence in the post file
    source: str  # the body as written (includes not expanded)
    code: str  # the body with includes expanded and dedented: what a reader copies
    includes: tuple[str, ...]  # the --8<-- lines of the body
    handwritten: tuple[tuple[int, str], ...]  # (line in the post, text) of the others
    no_run: str | None = None  # why the block is not run, when the author says so

    @property
    def where(self) -> str:
        return f"{self.post}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.no_run is None


def block_code(src: str) -> str:
    """A fence's code as superfences hands it over, as it is run and keyed."""
    return textwrap.dedent(src).rstrip("\n") + "\n"


@dataclass(frozen=True)
class Markdown:
    """The site's Markdown: its extensions and their settings, as MkDocs loaded them."""

    extensions: tuple[Any, ...]
    configs: dict[str, dict]

    @classmethod
    @functools.cache
    def of_site(cls, root: Path = REPO) -> Markdown:
        """The Markdown of the site at `root` (its mkdocs.yml, loaded by MkDocs), for
        the engine used without a build; without a mkdocs.yml: superfences and
        snippets with the settings the site uses."""
        config_file = Path(root, "mkdocs.yml")
        if config_file.is_file():
            from mkdocs.config import load_config

            config = load_config(str(config_file))
            return cls(tuple(config.markdown_extensions), dict(config.mdx_configs))
        snippets = {"base_path": [str(root)], "check_paths": True}
        return cls(
            ("pymdownx.superfences", "pymdownx.snippets", "md_in_html"),
            {"pymdownx.snippets": {**snippets, "restrict_base_path": True}},
        )

    def converter(self, fence: Callable[..., str], validator=None):
        """A Python-Markdown instance of the site whose Python fences go to `fence`."""
        import markdown
        from pymdownx.superfences import highlight_validator

        configs = {name: dict(value) for name, value in self.configs.items()}
        superfences = configs.setdefault("pymdownx.superfences", {})
        superfences["custom_fences"] = [
            *(
                f
                for f in superfences.get("custom_fences", [])
                if f["name"] not in PYTHON
            ),
            *(
                {
                    "name": name,
                    "class": name,
                    "format": fence,
                    "validator": validator or highlight_validator,
                }
                for name in PYTHON
            ),
        ]
        extensions = list(self.extensions)
        if "pymdownx.superfences" not in extensions:
            extensions.append("pymdownx.superfences")
        return markdown.Markdown(extensions=extensions, extension_configs=configs)

    @functools.cached_property
    def snippets(self):
        """The site's pymdownx.snippets preprocessor (None without the extension)."""
        if "pymdownx.snippets" not in self.extensions:
            return None
        import markdown

        md = markdown.Markdown(
            extensions=["pymdownx.snippets"],
            extension_configs={"pymdownx.snippets": self.configs["pymdownx.snippets"]},
        )
        return md.preprocessors["snippet"]


def show(src: str, language: str, class_name: str, options: dict, md, **kwargs) -> str:
    """A Python fence highlighted as superfences shows any other fence."""
    return md.preprocessors["fenced_code_block"].highlight(
        src=src, language=language, options=options, md=md, **kwargs
    )


def _numbered(line: str, number: int) -> str:
    """An opening fence line with the option that numbers it."""
    option = f' {_TAG}="{number}"'
    stripped = line.rstrip()
    if stripped.endswith("}"):
        return stripped[:-1] + option + "}"
    return stripped + option


def read_blocks(
    path: Path, root: Path = REPO, text: str | None = None, md: Markdown | None = None
) -> list[Block]:
    """The Python blocks of the Markdown file `path` that the page shows, in order."""
    path = Path(path)
    shown = _shown(path)
    text = path.read_text(encoding="utf-8") if text is None else text
    lines = text.split("\n")
    candidates = [fence for fence in fences(lines) if fence.lang in PYTHON]
    for fence in candidates:
        if fence.end is None:
            raise EngineError(
                f"{shown}:{fence.start + 1}: this code fence is never closed"
            )
    numbered = list(lines)
    if numbered and numbered[0].rstrip() == "---":  # front matter: not Markdown
        end = next((i for i, x in enumerate(numbered[1:], 1) if x.rstrip() == "---"), 0)
        numbered[: end + 1] = [""] * (end + 1)
    for number, fence in enumerate(candidates):
        numbered[fence.start] = _numbered(lines[fence.start], number)

    found: dict[int, str] = {}

    def number_of(language, inputs, options, attrs, md) -> bool:
        options[_TAG] = inputs.pop(_TAG, None)
        return True

    def collect(src, language, class_name, options, md, **kwargs) -> str:
        if options.get(_TAG) is None:
            return ""
        found[int(options[_TAG])] = src
        return f"<code>{_TAG}{options[_TAG]}x</code>"  # seen below, unless in a comment

    from pymdownx.snippets import SnippetMissingError

    md = md or Markdown.of_site(root)
    try:
        html = md.converter(collect, number_of).convert("\n".join(numbered))
    except SnippetMissingError as error:
        for fence in candidates:  # which block: its includes alone fail the same way
            try:
                md.snippets.run(lines[fence.start + 1 : fence.end])
            except SnippetMissingError:
                raise EngineError(f"{shown}:{fence.start + 1}: {error}") from None
        raise EngineError(f"{shown}: {error}") from None
    html = re.sub(r"<!--.*?-->", "", html, flags=re.S)  # what a comment hides
    shown_now = {int(n) for n in re.findall(f"<code>{_TAG}(\\d+)x</code>", html)}
    found = {n: src for n, src in found.items() if n in shown_now}
    snippet = _snippet_line()
    blocks = []
    for number in sorted(found):
        fence = candidates[number]
        body = lines[fence.start + 1 : fence.end]
        first = fence.start + 2
        blocks.append(
            Block(
                shown,
                fence.start + 1,
                "\n".join(body),
                block_code(found[number]),
                tuple(x.strip() for x in body if snippet.match(x)),
                tuple(
                    (n, x) for n, x in enumerate(body, first) if not snippet.match(x)
                ),
                _no_run(lines, fence.start, shown),
            )
        )
    return blocks


def _snippet_line() -> re.Pattern:
    """pymdownx.snippets' own pattern of an include line (or block marker)."""
    from pymdownx.snippets import SnippetPreprocessor

    return SnippetPreprocessor.RE_ALL_SNIPPETS


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
