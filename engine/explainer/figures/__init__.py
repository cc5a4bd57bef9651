"""The posts' figures, drawn from code: `python -m explainer.figures` (`make figures`).
Importing it is cheap: no matplotlib, no figure code."""

from explainer.figures.cache import MANIFEST, check
from explainer.figures.registry import Figure, FigureSet, find, pick
from explainer.figures.runner import FigureArgumentError, Result, build

__all__ = ["MANIFEST", "check"]  # cache
__all__ += ["Figure", "FigureSet", "find", "pick"]  # registry
__all__ += ["FigureArgumentError", "Result", "build"]  # runner
