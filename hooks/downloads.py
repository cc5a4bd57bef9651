"""Serve ``gmlp.py`` at the site root: the whole model in one file, to download.

The post links it as ``/gmlp.py`` (made relative by hooks/assets.py). It is written
at build time by the exporter, ``explainer.export.render``, from
the same marked sections the posts include, so the download cannot drift from the
code on the page. Nothing is written into the repository.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1])
)  # the repository: explainer/

NAME = "gmlp.py"


def on_files(files, config):
    from explainer.engine import EngineError
    from explainer.export import render

    try:
        text = render(Path(os.path.dirname(config.config_file_path)))
    except EngineError as error:
        raise PluginError(f"{NAME}: {error}") from None
    files.append(File.generated(config, NAME, content=text))
    return files
