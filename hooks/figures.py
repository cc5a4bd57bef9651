"""Stop the build when a figure the site shows is missing or older than the code that
draws it.

The figures in ``<assets_dir>/img/blog2/`` are drawn by ``make figures``
(``python -m explainer.figures``), which records in ``manifest.json`` the hash of
each figure's code. Before every build this hook finds the figures the pages link
(``/assets/img/blog2/<file>`` in ``docs_dir`` and in ``extra.posts_dir``) and runs
``explainer.figures.check`` on them: a figure that is missing, changed by hand, or
whose code changed since it was drawn stops the build with a PluginError that says to
run ``make figures``. Only code hashes count: figures drawn on a GPU with the ``full``
profile are valid on a CPU machine.

``extra.figures_check: false`` in mkdocs.yml skips the check with a warning (e.g. for
test fixtures whose figures are placeholders).

On every page, ``on_page_markdown`` also puts numbers from the manifest into the prose
(``{{ figure.<name>.<key> | .3f }}``, see explainer/measured.py; an unknown key stops
the build naming the file and line) and ends each figure's caption with how the figure
was made (device, profile, training steps), read from the manifest. The build never
writes the manifest: one that is unreadable, or an entry a number comes from that fails
its checksum, stops the build saying to restore it from git or redraw with
``make figures``.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # the repository: explainer/

from explainer import measured  # noqa: E402
from explainer.engine import EngineError  # noqa: E402
from explainer.figures import FIGURES, check  # noqa: E402
from explainer.markdown import map_prose  # noqa: E402

log = logging.getLogger("mkdocs.hooks.figures")

FIGURES_SUBDIR = "img/blog2"  # inside extra.assets_dir
_LINK = re.compile(r"/?assets/" + re.escape(FIGURES_SUBDIR) + r"/([A-Za-z0-9_.-]+)")
_PAGES = (".md", ".html")
_OFF = {"0", "false", "no", "off"}
_ON = {"1", "true", "yes", "on"}


def referenced_figures(folders: list[str]) -> list[str]:
    """Names of the figures whose files are linked from the pages under `folders`."""
    by_file = {file: fig.name for fig in FIGURES for file in fig.files}
    names = set()
    for folder in folders:
        for current, dirs, files in os.walk(folder, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.endswith(_PAGES):
                    continue
                with open(
                    os.path.join(current, name), encoding="utf-8", errors="replace"
                ) as f:
                    for match in _LINK.finditer(f.read()):
                        if match.group(1) in by_file:
                            names.add(by_file[match.group(1)])
    return [fig.name for fig in FIGURES if fig.name in names]


def site_problems(root: str, docs_dir: str, extra: dict) -> list[str]:
    """Problems with the figures the site links; root is the folder of mkdocs.yml."""
    figures_dir = os.path.join(root, extra.get("assets_dir", "assets"), FIGURES_SUBDIR)
    folders = [docs_dir, os.path.join(root, extra.get("posts_dir", "posts"))]
    names = referenced_figures([f for f in folders if os.path.isdir(f)])
    return check(figures_dir, names)


def on_pre_build(config) -> None:
    global _entries
    root = os.path.dirname(config.config_file_path)
    extra = dict(config.extra or {})
    # read once per build (changing nothing); every page's numbers and captions come
    # from it, so an unreadable manifest stops the build, saying how to restore it
    try:
        _entries = measured.read_entries(
            Path(root) / extra.get("assets_dir", "assets") / FIGURES_SUBDIR
        )
    except EngineError as error:
        raise PluginError(str(error)) from None
    setting = str(extra.get("figures_check", True)).strip().lower()
    if setting not in _OFF | _ON:
        raise PluginError(
            "GMLP_FIGURES_CHECK (extra.figures_check) must be true or false, "
            f"got {extra.get('figures_check')!r}"
        )
    if setting in _OFF:
        log.warning(
            "extra.figures_check is off: the figures are not checked against their code"
        )
        return
    problems = site_problems(root, config.docs_dir, extra)
    if problems:
        raise PluginError(
            "Figures are missing or out of date - run `make figures` "
            "(python -m explainer.figures):\n  - " + "\n  - ".join(problems)
        )


_FIGURE = re.compile(r"(<figure\b.*?</figure>)", re.S)
# the image of a figure, root-absolute as written or already made relative by
# hooks/assets.py
_FIGURE_FILE = re.compile(
    r"\]\((?:[./]*/)?assets/" + re.escape(FIGURES_SUBDIR) + r"/([A-Za-z0-9_.-]+)\)"
)


_entries: dict = {}  # the manifest's figure entries, read by on_pre_build


def on_page_markdown(markdown, page, config, files):
    if "{{" not in markdown and "<figure" not in markdown:
        return None
    entries = _entries
    by_file = {file: fig.name for fig in FIGURES for file in fig.files}
    source = page.file.abs_src_path
    shown = os.path.relpath(source) if source else page.file.src_path

    def where(text: str, offset: int) -> str:
        token = text[offset : text.index("}}", offset) + 2]
        try:
            with open(source, encoding="utf-8") as f:
                original = f.read()
            return f"{shown}:{measured.line_of(original, original.index(token))}"
        except (OSError, TypeError, ValueError):
            return shown

    def caption(match: re.Match) -> str:
        block = match.group(1)
        found = _FIGURE_FILE.search(block)
        entry = entries.get(by_file.get(found.group(1), "")) if found else None
        if not entry or "</figcaption>" not in block:
            return block
        note = f' <span class="figure-provenance">({measured.provenance(entry)})</span>'
        return block.replace("</figcaption>", note + "</figcaption>", 1)

    def edit(text: str) -> str:
        text = measured.substitute(text, entries, lambda offset: where(text, offset))
        return _FIGURE.sub(caption, text)

    try:
        return map_prose(markdown, edit)
    except EngineError as error:
        raise PluginError(str(error)) from None
