"""Each figure's recipe, the manifest and the staleness check - no torch, no matplotlib.

A figure's key is `engine.recipe` of its module: the sources (the module, the local
modules it imports, the shared style), the versions and the settings; its entry records
that recipe and its key. Each post's figures have a manifest,
<assets>/<FOLDER>/manifest.json, an `engine.Store` of {figure name: entry}.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from explainer import engine
from explainer.figures.registry import Figure, FigureSet

MANIFEST = "manifest.json"
# the shared style, named as in the engine's own tree (wherever it is installed)
STYLE = "explainer/figures/style.py"
ENGINE = Path(__file__).resolve().parents[2]  # the folder STYLE is relative to
HINT = "run `make figures` (python -m explainer.figures) to regenerate"


def restore(path: Path) -> str:
    """What to do about a manifest that cannot be trusted."""
    return (
        f"restore it from git (git checkout -- {engine._shown(path)}), "
        "or redraw with `make figures FIGURES_ARGS=--force`"
    )


def recipe(fig: Figure, figset: FigureSet, **settings: Any) -> dict[str, Any]:
    """What decides a figure (keyed, recorded): engine.recipe of its module + STYLE."""
    path = figset.dir / f"{fig.module}.py"
    code = path.read_text(encoding="utf-8")
    dists = ("torch", "matplotlib", "numpy")
    parts = engine.recipe(code, figset.root, path, dists, **settings)
    parts["sources"][STYLE] = engine.source_digest(STYLE, ENGINE)
    parts["sources"] = dict(sorted(parts["sources"].items()))
    return parts


def manifest(out_dir: Path) -> engine.Store:
    """The manifest of the figures in `out_dir`."""
    return engine.Store(
        Path(out_dir) / MANIFEST,
        "figures",
        format=2,  # 2: sources named relative to the repository
        header={"hint": HINT},
        valid=lambda entry: (
            isinstance(entry, dict)
            and isinstance(entry.get("files"), dict)
            and isinstance(entry.get("sources"), dict)
        ),
        attic=False,
        setting="--out",
    )


def read_manifest(out_dir: Path) -> dict[str, Any]:
    return dict(manifest(out_dir).entries)


def file_problems(out_dir: Path, entry: dict[str, Any], fig: Figure) -> list[str]:
    """The figure's files that are missing or not as recorded in its entry."""
    recorded, problems = entry.get("files") or {}, []
    for file in fig.files:
        if not (Path(out_dir) / file).is_file():
            problems.append(f"{fig.name}: {file} is missing")
        elif recorded.get(file) != engine.file_digest(Path(out_dir) / file):
            problems.append(
                f"{fig.name}: {file} differs from the file recorded in {MANIFEST} "
                "(edited by hand, or its build was interrupted)"
            )
    return problems


def check(
    out_dir: str | os.PathLike,
    names: Iterable[str] | None,
    figset: FigureSet,
    store: engine.Store | None = None,
) -> list[str]:
    """Why the figures `names` (None: all) of `figset` in `out_dir` are unfit for the
    site: not in the manifest (`store`: the manifest, already read), files missing or
    changed, or code changed since; [] when all is well. Device, profile and versions
    do not matter: a GPU figure is valid."""
    if names is not None and not (names := list(names)):
        return []
    try:
        figures = figset.resolve(names)
    except KeyError as err:
        return [str(err.args[0])]
    if not (Path(out_dir) / MANIFEST).is_file():
        unchecked = ", ".join(f.name for f in figures)
        return [f"{Path(out_dir) / MANIFEST} is missing ({unchecked} unchecked)"]
    store = store or manifest(Path(out_dir))
    problems, fix = [], restore(store.path)
    if store.unreadable:
        return [f"{store.path} is unreadable ({store.unreadable}); {fix}"]
    for fig in figures:
        entry, why = store.entries.get(fig.name), store.rejected.get(fig.name)
        if why:
            problems.append(f"{fig.name}: its entry in {MANIFEST} {why}; {fix}")
        elif entry is None:
            problems.append(f"{fig.name}: not in {MANIFEST}")
        else:
            problems += file_problems(out_dir, entry, fig)
            digests, old = recipe(fig, figset)["sources"], entry["sources"]
            if digests != old:
                changed = sorted({name for name, _ in digests.items() ^ old.items()})
                problems.append(
                    f"{fig.name}: its code changed since it was made "
                    f"({', '.join(changed) or 'sources'})"
                )
    return problems
