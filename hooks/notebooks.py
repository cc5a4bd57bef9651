"""Glue for the executed notebook pages (mkdocs-jupyter), so they behave like the posts.

- Cache: mkdocs-jupyter keys its cache of executed notebooks on the notebook's text
  only. Ours import gmlp_snippets, so the key must also cover the package's code and the
  Python and torch versions - the same rule as the posts' outputs and the figures
  (explainer.engine): the cache directory is given a subfolder named after that key. An
  unchanged notebook with unchanged dependencies is not re-run; anything else is.
  Unreadable cache entries (an interrupted write) are dropped instead of breaking the
  build.
- Timeout: every cell must finish within ``extra.notebook_timeout`` seconds
  (env NOTEBOOK_TIMEOUT, default 300); a value that is not a positive number is named.
- Errors: a failing cell fails the build with a message that names the notebook.
- Offline: nbconvert's template loads MathJax (and mermaid) from a CDN; those tags are
  dropped, and the page's math is typeset by the site's own KaTeX
  (docs/javascripts/katex.js).
- Downloads: the ``.ipynb`` next to each notebook source (a jupytext pair written by
  ``make notebooks``) is published beside the page; the build refuses a pair that
  differs from its source. The page gets a download link and, when the GitHub repository
  is known (explainer.notebook.repository), an "Open in Colab" link to that file on the
  main branch.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # the repository: explainer/

from explainer import engine  # noqa: E402
from explainer.notebook import repository  # noqa: E402

log = logging.getLogger("mkdocs.hooks.notebooks")

PLUGIN = "mkdocs-jupyter"
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)
# a script loaded from, or importing from, another host; or MathJax's inline
# configuration
_REMOTE = re.compile(
    r"\bsrc=\"https?://|import\(\"https?://|from \"https?://|text/x-mathjax-config"
)


def _dependency_hash(root: Path) -> str:
    """The package's code and the versions, by the engine's one rule."""
    return engine.key(**engine.recipe("import gmlp_snippets", root))[:16]


def _drop_broken_cache_entries(cache_dir: Path) -> None:
    for entry in cache_dir.glob("*.json"):
        try:
            json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.info("dropping unreadable notebook cache entry %s", entry)
            entry.unlink(missing_ok=True)


def _with_timeout(get_app, timeout: int):
    @functools.wraps(get_app)
    def get_nbconvert_app(*args, **kwargs):
        app = get_app(*args, **kwargs)
        app.config["ExecutePreprocessor"]["timeout"] = (
            timeout  # a plain dict once mkdocs-jupyter set it
        )
        return app

    get_nbconvert_app.wrapped_by_hook = True
    return get_nbconvert_app


def _naming_the_notebook(nb2html):
    @functools.wraps(nb2html)
    def convert(nb_path, *args, **kwargs):
        try:
            return nb2html(nb_path, *args, **kwargs)
        except (
            Exception
        ) as error:  # nbclient's CellExecutionError, CellTimeoutError, kernel death ...
            raise PluginError(
                f"notebook {os.path.relpath(nb_path)} failed to execute: "
                f"{type(error).__name__}: {error}"
            ) from None

    convert.wrapped_by_hook = True
    return convert


def on_config(config):
    plugin = config.plugins.get(PLUGIN)
    if plugin is None:
        return config
    root = Path(config.config_file_path).parent
    cache_root = root / plugin.config["cache_dir"]
    cache_dir = cache_root / _dependency_hash(root)
    if cache_root.is_dir():
        for stale in cache_root.iterdir():  # caches of older package versions
            if stale.is_dir() and stale != cache_dir:
                for entry in stale.glob("*.json"):
                    entry.unlink()
                stale.rmdir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    _drop_broken_cache_entries(cache_dir)
    plugin.config["cache_dir"] = str(cache_dir)

    from mkdocs_jupyter import convert, nbconvert2

    try:
        timeout = engine.positive_number(
            config.extra.get("notebook_timeout"),
            "NOTEBOOK_TIMEOUT (extra.notebook_timeout)",
            300,
        )
    except engine.EngineError as error:
        raise PluginError(str(error)) from None
    if not getattr(nbconvert2.get_nbconvert_app, "wrapped_by_hook", False):
        nbconvert2.get_nbconvert_app = _with_timeout(
            nbconvert2.get_nbconvert_app, timeout
        )
    if not getattr(convert.nb2html, "wrapped_by_hook", False):
        convert.nb2html = _naming_the_notebook(convert.nb2html)
    return config


def _pair_problem(source: Path, ipynb: Path) -> str | None:
    """Why the .ipynb pair cannot be published beside its source, or None."""
    import jupytext

    if not ipynb.is_file():
        return f"its pair {ipynb.name} is missing"
    script, pair = jupytext.read(source), jupytext.read(ipynb)
    if [(c.cell_type, c.source) for c in script.cells] != [
        (c.cell_type, c.source) for c in pair.cells
    ]:
        return (
            f"its pair {ipynb.name} differs from it "
            "(the download would not match the page)"
        )
    return None


def on_page_content(html, page, config, files):
    plugin = config.plugins.get(PLUGIN)
    if plugin is None or not plugin.should_include(page.file):
        return html
    source = Path(page.file.abs_src_path)
    ipynb = source.with_suffix(".ipynb")
    problem = _pair_problem(source, ipynb)
    if problem:
        raise PluginError(
            f"{os.path.relpath(source)}: {problem}; run `make notebooks` to write it"
        )
    links = [f'<a href="../{ipynb.name}" download>Tải notebook ({ipynb.name})</a>']
    repo = repository(config.extra, config.site_url, config.repo_url)
    if repo:
        path = ipynb.relative_to(Path(config.config_file_path).parent).as_posix()
        links.append(
            '<a href="https://colab.research.google.com/github/'
            f'{repo}/blob/main/{path}">Mở trong Colab</a>'
        )
    return f'<p class="notebook-links">{" · ".join(links)}</p>\n' + html


def on_post_page(output, page, config):
    plugin = config.plugins.get(PLUGIN)
    if plugin is None or not plugin.should_include(page.file):
        return output
    return _SCRIPT.sub(
        lambda m: "" if _REMOTE.search(m.group(0)) else m.group(0), output
    )
