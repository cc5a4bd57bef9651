"""Serve the top-level ``assets/`` folder and make root-absolute links portable.

The figures live in ``assets/`` next to mkdocs.yml (outside ``docs_dir``), and the
posts link them root-absolute, Jekyll style: ``![...](/assets/img/blog2/gmlp.png)``.
A root-absolute link breaks when the site is published under a sub-path
(``https://<user>.github.io/<repo>/``), so:

* ``on_files`` adds every file of ``assets/`` to the site as ``assets/<path>``;
* ``on_page_markdown`` rewrites a root-absolute Markdown link or image into one
  relative to the page's source when it points into ``assets/`` or at a file or
  page of the site (``/gmlp.py``, ``/posts/2024/02/blog-post-2/``). MkDocs then
  checks it (``--strict`` fails on a missing file) and turns it into a URL that
  works under any sub-path. ``src="/assets/..."`` / ``href="/assets/..."`` in raw
  HTML becomes relative to the page's URL, with the same check done here.
  Any other root-absolute link is left alone, and MkDocs warns about it.

The folder is ``extra.assets_dir`` in mkdocs.yml (relative to it); the tests point
it at a copy that may hold placeholder figures. Fenced code is left alone.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # the repository: explainer/

from explainer.markdown import map_prose  # noqa: E402

log = logging.getLogger("mkdocs.hooks.assets")

PREFIX = "assets/"
# ](/x  - inline links and images;  [ref]: /x  - reference definitions (not //host)
_MARKDOWN_LINK = re.compile(
    r"(\]\(\s*<?|^[ ]{0,3}\[[^\]]+\]:[ \t]*<?)/(?!/)([^\s)>]*)", re.M
)
_HTML_ATTR = re.compile(r"""\b((?:src|href)=["'])/(""" + PREFIX + r"""[^"']+)""")

# Targets of /assets/... links that are not in assets/, reported after the build.
_missing: set[str] = set()


def on_files(files, config):
    _missing.clear()
    root = os.path.dirname(config.config_file_path)
    folder = os.path.join(root, config.extra.get("assets_dir", "assets"))
    if not os.path.isdir(folder):
        return files
    for current, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(current, name)
            src_uri = PREFIX + os.path.relpath(path, folder).replace(os.sep, "/")
            if files.get_file_from_path(src_uri) is not None:
                raise PluginError(
                    f"assets/{src_uri[len(PREFIX) :]}: "
                    f"the site already has '{src_uri}' "
                    "(from docs/ or the theme); rename one of them"
                )
            files.append(File.generated(config, src_uri, abs_src_path=path))
    return files


def _source_of(target: str, files) -> str | None:
    """The src_uri of the site's file or page at the root-relative path or URL
    target."""
    path, _, anchor = target.partition("#")
    path = path.split("?", 1)[0]
    anchor = f"#{anchor}" if anchor else ""
    if files.get_file_from_path(path) is not None:
        return path + anchor
    for file in files.documentation_pages():
        if file.url == path or (path == "" and file.url in ("", "./")):
            return file.src_uri + anchor
    return None


def on_page_markdown(markdown, page, config, files):
    source_dir = posixpath.dirname(page.file.src_uri) or "."
    url_dir = page.url.rsplit("/", 1)[0] if "/" in page.url else "."

    def markdown_link(match: re.Match) -> str:
        target = match.group(2)
        source = _source_of(target, files)
        if source is None:
            if not target.startswith(PREFIX):
                return match.group(0)  # not ours: MkDocs reports the absolute link
            _missing.add(target.split("#", 1)[0])  # MkDocs reports the missing file
            source = target
        return match.group(1) + posixpath.relpath(source, source_dir)

    def html_attr(match: re.Match) -> str:
        target = match.group(2).split("#", 1)[0].split("?", 1)[0]
        if files.get_file_from_path(target) is None:
            _missing.add(target)
            log.warning(
                "Doc file '%s' links to '/%s', which is not in assets/",
                page.file.src_uri,
                target,
            )
        return match.group(1) + posixpath.relpath(match.group(2), url_dir)

    def edit(text: str) -> str:
        return _HTML_ATTR.sub(html_attr, _MARKDOWN_LINK.sub(markdown_link, text))

    return map_prose(markdown, edit)


def on_post_build(config):
    if _missing:
        log.info(
            "Missing in assets/: %s. Figures are drawn by `make figures` "
            "(python -m explainer.figures).",
            ", ".join(sorted(_missing)),
        )
