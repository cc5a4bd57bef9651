"""The post's figures, drawn from the package's code: `python -m explainer.figures`
(`make figures`).

Importing this package is cheap (no matplotlib, no figure code): the CLI's up-to-date
path and the site's staleness check only hash files and read the manifest.

    from explainer.figures import build, check
    build("assets/img/blog2", names=["gmlp"])      # rebuild what is out of date
    check("assets/img/blog2")                      # [] or a list of problems
"""

from explainer.figures.cache import MANIFEST, check
from explainer.figures.registry import FIGURES, PROFILES, Figure, resolve
from explainer.figures.runner import DEFAULT_OUT, FigureArgumentError, Result, build

__all__ = [
    "DEFAULT_OUT",
    "FIGURES",
    "MANIFEST",
    "PROFILES",
    "Figure",
    "FigureArgumentError",
    "Result",
    "build",
    "check",
    "resolve",
]
