"""Serve the top-level ``assets/`` folder and make root-absolute links to it portable.

The figures live in ``assets/`` next to mkdocs.yml (outside ``docs_dir``), and the
posts link them root-absolute, Jekyll style: ``![...](/assets/img/blog2/gmlp.png)``.
A root-absolute link breaks when the site is published under a sub-path
(``https://<user>.github.io/<repo>/``), so:

* ``on_files`` adds every file of ``assets/`` to the site as ``assets/<path>``;
* ``on_page_markdown`` rewrites ``/assets/...`` in Markdown links and images into
  a link relative to the page's source, which MkDocs then checks (``--strict``
  fails on a missing file) and turns into a URL that works under any sub-path;
  ``src="/assets/..."`` / ``href="/assets/..."`` in raw HTML becomes relative to
  the page's URL, with the same check done here.

The folder is ``extra.assets_dir`` in mkdocs.yml (relative to it); the tests point
it at a copy that may hold placeholder figures. Fenced code is left alone.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re

from markdown_text import map_prose
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.assets")

PREFIX = "assets/"
# ](/assets/x.png  - inline links/images;  [ref]: /assets/x.png  - reference definitions
_MARKDOWN_LINK = re.compile(r"(\]\(\s*<?|^[ ]{0,3}\[[^\]]+\]:[ \t]*<?)/(" + PREFIX + r"[^\s)>]+)", re.M)
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
                raise PluginError(f"assets/{src_uri[len(PREFIX):]}: the site already has '{src_uri}' "
                                  "(from docs/ or the theme); rename one of them")
            files.append(File.generated(config, src_uri, abs_src_path=path))
    return files


def on_page_markdown(markdown, page, config, files):
    source_dir = posixpath.dirname(page.file.src_uri)
    url_dir = page.url.rsplit("/", 1)[0] if "/" in page.url else ""

    def markdown_link(match: re.Match) -> str:
        target = match.group(2).split("#", 1)[0].split("?", 1)[0]
        if files.get_file_from_path(target) is None:
            _missing.add(target)  # MkDocs itself warns about the broken link
        return match.group(1) + posixpath.relpath(match.group(2), source_dir or ".")

    def html_attr(match: re.Match) -> str:
        target = match.group(2).split("#", 1)[0].split("?", 1)[0]
        if files.get_file_from_path(target) is None:
            _missing.add(target)
            log.warning("Doc file '%s' links to '/%s', which is not in assets/",
                        page.file.src_uri, target)
        return match.group(1) + posixpath.relpath(match.group(2), url_dir or ".")

    def edit(text: str) -> str:
        return _HTML_ATTR.sub(html_attr, _MARKDOWN_LINK.sub(markdown_link, text))

    return map_prose(markdown, edit)


def on_post_build(config):
    if _missing:
        log.info("Missing in assets/: %s. Figures are drawn by `make figures` "
                 "(python -m gmlp_snippets.figures).", ", ".join(sorted(_missing)))
