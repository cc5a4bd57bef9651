"""The Python blocks of a post, as the page shows them and a reader copies them.

The post is converted once with the site's own Markdown (its extensions, as MkDocs
loaded them): a superfences custom fence collects each Python block it meets, with its
includes expanded by pymdownx.snippets, so a fence shown as text or hidden in an HTML
comment is no block. A block is run unless the line before its opening fence is
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
        """The Markdown of the site at `root` (its mkdocs.yml); without one: superfences
        and snippets with the settings the site uses."""
        if Path(root, "mkdocs.yml").is_file():
            from mkdocs.config import load_config

            config = load_config(str(Path(root, "mkdocs.yml")))
            return cls(tuple(config.markdown_extensions), dict(config.mdx_configs))
        snippets = {"base_path": [str(root)], "check_paths": True}
        return cls(
            ("pymdownx.superfences", "pymdownx.snippets", "md_in_html"),
            {"pymdownx.snippets": {**snippets, "restrict_base_path": True}},
        )

    def converter(self, fence: Callable[..., str], validator: Callable[..., bool]):
        """A Python-Markdown instance of the site whose Python fences go to `fence`."""
        import markdown

        configs = {name: dict(value) for name, value in self.configs.items()}
        superfences = configs.setdefault("pymdownx.superfences", {})
        old = superfences.get("custom_fences", [])
        superfences["custom_fences"] = [f for f in old if f["name"] not in PYTHON] + [
            {"name": n, "class": n, "format": fence, "validator": validator}
            for n in PYTHON
        ]
        extensions = list(dict.fromkeys([*self.extensions, "pymdownx.superfences"]))
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


def read_blocks(
    path: Path, root: Path = REPO, text: str | None = None, md: Markdown | None = None
) -> list[Block]:
    """The Python blocks of the Markdown file `path` that the page shows, in order."""
    from pymdownx.snippets import SnippetMissingError, SnippetPreprocessor

    shown = _shown(path)
    text = Path(path).read_text(encoding="utf-8") if text is None else text
    lines = text.split("\n")
    candidates = [fence for fence in fences(lines) if fence.lang in PYTHON]
    numbered = list(lines)  # each candidate's opening fence numbered by an option
    if lines[0].rstrip() == "---":  # front matter: not Markdown
        end = next((i for i, x in enumerate(lines[1:], 1) if x.rstrip() == "---"), 0)
        numbered[: end + 1] = [""] * (end + 1)
    for number, fence in enumerate(candidates):
        if fence.end is None:
            raise EngineError(
                f"{shown}:{fence.start + 1}: this code fence is never closed"
            )
        opening = lines[fence.start].rstrip()
        option = f' {_TAG}="{number}"'
        numbered[fence.start] = (
            opening[:-1] + option + "}" if opening.endswith("}") else opening + option
        )

    found: dict[int, str] = {}

    def number_of(language, inputs, options, attrs, md) -> bool:
        options[_TAG] = inputs.pop(_TAG, None)
        return True

    def collect(src, language, class_name, options, md, **kwargs) -> str:
        if options.get(_TAG) is None:
            return ""
        found[int(options[_TAG])] = src
        return f"<code>{_TAG}{options[_TAG]}x</code>"  # seen below, unless in a comment

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
    visible = {int(n) for n in re.findall(f"<code>{_TAG}(\\d+)x</code>", html)}
    included = SnippetPreprocessor.RE_ALL_SNIPPETS.match  # an include (block) line
    blocks = []
    for number in sorted(visible & found.keys()):
        fence = candidates[number]
        first, body = fence.start + 1, lines[fence.start + 1 : fence.end]
        own = tuple((n, x) for n, x in enumerate(body, first + 1) if not included(x))
        includes = tuple(x.strip() for x in body if included(x))
        code, no_run = block_code(found[number]), _no_run(lines, fence.start, shown)
        blocks.append(Block(shown, first, code, includes, own, no_run))
    return blocks


def _no_run(lines: list[str], start: int, shown: str) -> str | None:
    before = start - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    if before < 0 or not _NO_RUN_LOOSE.search(lines[before]):
        return None
    match = _NO_RUN.match(lines[before])
    if not (reason := match.group("reason").strip() if match else ""):
        raise EngineError(
            f"{shown}:{before + 1}: a block marked not to run needs a reason: "
            "write <!-- no-run: why it is not run --> on the line before the fence"
        )
    return reason
