"""Serve ``gmlp.py`` at the site root: the whole model in one file, to download.

The post links it as ``/gmlp.py`` (made relative by hooks/assets.py). It is written
at build time by the package's own exporter, ``gmlp_snippets.export.render``, from
the same marked sections the posts include, so the download cannot drift from the
code on the page. Nothing is written into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

NAME = "gmlp.py"


def on_files(files, config):
    try:
        from gmlp_snippets.export import render
    except ImportError as error:
        raise PluginError(f"{NAME}: cannot import gmlp_snippets.export ({error}); "
                          "run `make build` (it installs the package into .venv)") from None
    package_dir = Path(os.path.dirname(config.config_file_path)) / "gmlp_snippets"
    files.append(File.generated(config, NAME, content=render(package_dir)))
    return files
