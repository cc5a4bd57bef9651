"""The posts' figures, drawn from code: `python -m explainer.figures` (`make figures`).

A post <posts>/<stem>.md has figures when <posts>/<stem>/figures.py names them (see
registry). Importing this package is cheap (no matplotlib, no figure code): the CLI's
up-to-date path and the site's staleness check only hash files and read the manifest.

    from explainer.figures import build, check, find
    for figset in find("posts", "."):                  # one FigureSet per post
        build(figset, names=["gmlp"])                  # rebuild what is out of date
        check(figset.out, None, figset)                # [] or a list of problems
"""

from explainer.figures.cache import MANIFEST, check
from explainer.figures.registry import PROFILES, Figure, FigureSet, find, pick
from explainer.figures.runner import FigureArgumentError, Result, build

__all__ = [
    "MANIFEST",
    "PROFILES",
    "Figure",
    "FigureArgumentError",
    "FigureSet",
    "Result",
    "build",
    "check",
    "find",
    "pick",
]
