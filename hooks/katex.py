"""Serve KaTeX from ``node_modules/`` so math renders without any CDN.

``npm ci`` (run by ``make``) installs the version pinned in package-lock.json.
This hook adds the files the pages need to the site under ``vendor/katex/``, as
generated files read straight from ``node_modules/katex/dist``, so they work with
``mkdocs build`` and ``mkdocs serve`` alike and are never copied into the repo:
``katex.min.js``, ``katex.min.css`` with its ``fonts/``, and
``contrib/auto-render.min.js``. mkdocs.yml loads them through ``extra_css`` and
``extra_javascript``; ``docs/javascripts/katex.js`` does the typesetting.
"""

from __future__ import annotations

import os

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

SITE_DIR = "vendor/katex"
FILES = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")
FONTS = "fonts"


def _dist(config) -> str:
    return os.path.join(
        os.path.dirname(config.config_file_path), "node_modules", "katex", "dist"
    )


def on_config(config):
    dist = _dist(config)
    missing = [
        name for name in (*FILES, FONTS) if not os.path.exists(os.path.join(dist, name))
    ]
    if missing:
        raise PluginError(
            f"KaTeX is missing ({', '.join(missing)} in {os.path.relpath(dist)}): "
            "run `make build` / `make serve`, or `npm ci`, first"
        )
    return config


def on_files(files, config):
    dist = _dist(config)
    names = list(FILES)
    names += sorted(f"{FONTS}/{font}" for font in os.listdir(os.path.join(dist, FONTS)))
    for name in names:
        files.append(
            File.generated(
                config, f"{SITE_DIR}/{name}", abs_src_path=os.path.join(dist, name)
            )
        )
    return files
