"""Which posts have figures: <posts>/<stem>/figures.py names FOLDER (under the assets
folder) and FIGURES. The post's folder is imported as a package from its path; reading
it imports no torch and no matplotlib."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from explainer.engine import EngineError, _shown

# test: tiny, for the test suite; quick: CPU-sized (CI, laptops); full: GPU-sized
PROFILE_RANK = {"test": 0, "quick": 1, "full": 2}
DEVICE_RANK = {"cpu": 0, "cuda": 1}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}-")  # a Jekyll post's file name starts with it


@dataclass(frozen=True)
class Figure:
    """One figure: `make(ctx)` of the post folder's `module` writes `files`."""

    name: str
    module: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class FigureSet:
    """One post's figures: its .md, the repository, the assets folder, FOLDER and
    FIGURES of its figures.py, and the name its folder is imported as."""

    post: Path
    root: Path
    assets: Path
    folder: str
    figures: tuple[Figure, ...]
    package: str

    name = property(lambda self: self.post.stem)
    dir = property(lambda self: self.post.with_suffix(""))  # figures.py, the modules
    out = property(lambda self: self.assets / self.folder)  # the figures, manifest

    def matches(self, name: str) -> bool:
        """Is `name` this post: its file stem, or the stem without the date?"""
        return name in (self.name, DATE.sub("", self.name))

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{name}")

    def resolve(self, names: list[str] | tuple[str, ...] | None) -> list[Figure]:
        return pick([self], names)[0][1]


def pick(
    sets: list[FigureSet], names: list[str] | tuple[str, ...] | None
) -> list[tuple[FigureSet, list[Figure]]]:
    """(set, its figures named in `names`, by name or file name) for each set that has
    one; None: every figure. Raises KeyError naming the unknown names and the known."""
    if not names:
        return [(s, list(s.figures)) for s in sets]
    known = {key for s in sets for f in s.figures for key in (f.name, *f.files)}
    if unknown := [name for name in names if name not in known]:
        raise KeyError(
            f"unknown figure {', '.join(map(repr, unknown))}; expected one of: "
            + ", ".join(f.name for s in sets for f in s.figures)
        )
    chosen = [
        (s, [f for f in s.figures if {f.name, *f.files} & {*names}]) for s in sets
    ]
    return [(s, figures) for s, figures in chosen if figures]


def find(
    posts_dir: Path, root: Path, assets_dir: Path | None = None
) -> list[FigureSet]:
    """The FigureSet of every post in `posts_dir` with a <stem>/figures.py; `root` is
    the repository, `assets_dir` the assets folder (default <root>/assets)."""
    root = Path(root).resolve()
    assets = root / "assets" if assets_dir is None else Path(assets_dir)
    return [
        _load(post, root, assets)
        for post in sorted(Path(posts_dir).resolve().glob("*.md"))
        if (post.with_suffix("") / "figures.py").is_file()
    ]


def _load(post: Path, root: Path, assets: Path) -> FigureSet:
    folder = post.with_suffix("")
    registry = _shown(folder / "figures.py")
    # one name per folder: a copy of the post elsewhere is another package
    tag = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    package = f"explainer_post_{re.sub(r'[^A-Za-z0-9]', '_', post.stem)}_{tag}"
    if package not in sys.modules:
        if not (folder / "__init__.py").is_file():
            raise EngineError(
                f"{registry}: expected an __init__.py beside it (the folder is "
                "imported as a package)"
            )
        spec = importlib.util.spec_from_file_location(
            package, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        sys.modules[package] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[package])
    sys.modules.pop(f"{package}.figures", None)  # read as it is now
    data = importlib.import_module(f"{package}.figures")
    folder_name, figures = getattr(data, "FOLDER", None), getattr(data, "FIGURES", None)
    if not isinstance(folder_name, str) or not folder_name.strip("/"):
        raise EngineError(
            f"{registry}: expected FOLDER, a folder under the assets folder "
            f"(e.g. 'img/post'), got {folder_name!r}"
        )
    if not isinstance(figures, tuple | list) or not all(
        isinstance(f, Figure) for f in figures
    ):
        raise EngineError(f"{registry}: expected FIGURES, a tuple of Figure")
    for fig in figures:
        if not (folder / f"{fig.module}.py").is_file():
            raise EngineError(
                f"{registry}: figure {fig.name!r} is drawn by {fig.module}.py, "
                f"which is not in {_shown(folder)}"
            )
    return FigureSet(post, root, assets, folder_name, tuple(figures), package)
