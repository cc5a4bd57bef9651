"""Cache keys, the manifest and the staleness check - no torch, no matplotlib.

Built on the site's one execution-and-cache layer (explainer.engine): the *code hash* of
a figure is `engine.code_hash` over its sources - its module and the local modules it
imports, traced (`engine.local_imports`), and the engine's shared style - so a comment
or a snippet marker does not make a figure stale. The *cache key* adds what else
decides the pixels: the torch and matplotlib versions, the device kind, the profile and
the seed. Each post's figures have their own manifest, <assets>/<FOLDER>/manifest.json:
an `engine.Store` (atomic, locked, one entry recorded per figure as it is drawn, each
with a checksum; reading it changes nothing).

The staleness check (`check`) compares code hashes only: a figure made on a GPU with the
`full` profile stays valid on a CPU machine as long as its code has not changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from explainer import engine
from explainer.engine import file_digest
from explainer.figures.registry import Figure, FigureSet

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 2  # 2: sources named relative to the repository
# every figure is drawn with the shared style, named as in the engine's own tree (so
# the manifest does not depend on where the engine is installed)
STYLE = "explainer/figures/style.py"
ENGINE = Path(__file__).resolve().parents[2]  # the folder STYLE is relative to
HINT = "run `make figures` (python -m explainer.figures) to regenerate"


def restore(path: Path) -> str:
    """What to do about a manifest that cannot be trusted."""
    return (
        f"restore it from git (git checkout -- {engine._shown(path)}), "
        "or redraw with `make figures FIGURES_ARGS=--force`"
    )


# ---- hashing -------------------------------------------------------------------------


def source_digests(fig: Figure, figset: FigureSet) -> dict[str, str]:
    """{path: digest} of the figure's sources: its module and the local modules it
    imports (relative to the repository), and STYLE."""
    path = figset.dir / f"{fig.module}.py"
    code = path.read_text(encoding="utf-8")
    digests = engine.source_digests(
        engine.local_imports(code, figset.root, path), figset.root
    )
    return dict(sorted({**digests, STYLE: engine.source_digest(STYLE, ENGINE)}.items()))


def versions() -> dict[str, str]:
    """Versions of what draws the figures, read from package metadata (nothing is
    imported)."""
    return engine.versions("torch", "matplotlib", "numpy")


def cache_key(
    code: str, vers: dict[str, str], device_kind: str, profile: str, seed: int
) -> str:
    """The key that decides rebuilding: code hash, torch and matplotlib versions, device
    kind, profile, seed."""
    return engine.key(
        code=code,
        torch=vers.get("torch"),
        matplotlib=vers.get("matplotlib"),
        device_kind=device_kind,
        profile=profile,
        seed=seed,
    )


# ---- the manifest --------------------------------------------------------------------


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("files"), dict)
        and isinstance(entry.get("code_hash"), str)
    )


def manifest(out_dir: Path) -> engine.Store:
    """The manifest of the figures in `out_dir`, as a store of {figure name: entry}."""
    return engine.Store(
        Path(out_dir) / MANIFEST,
        "figures",
        format=MANIFEST_FORMAT,
        header={"hint": HINT},
        valid=_valid_entry,
        attic=False,
        setting="--out",
    )


def remove_stale_temps(out_dir: Path, figset: FigureSet) -> None:
    """Remove temporary files an interrupted (killed) run of ours left behind."""
    engine.remove_stale_temps(
        out_dir, {MANIFEST, *(f for fig in figset.figures for f in fig.files)}
    )


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The manifest's figure entries that can be used ({} when there is none or it is
    unreadable)."""
    return dict(manifest(out_dir).entries)


def files_intact(out_dir: Path, entry: dict[str, Any], fig: Figure) -> bool:
    """True when every file of the figure exists and still has the recorded content."""
    recorded = entry.get("files") or {}
    for name in fig.files:
        path = Path(out_dir) / name
        if (
            name not in recorded
            or not path.is_file()
            or file_digest(path) != recorded[name]
        ):
            return False
    return True


# ---- the staleness check -------------------------------------------------------------


def check(
    out_dir: str | os.PathLike, names: Iterable[str] | None, figset: FigureSet
) -> list[str]:
    """Problems that make the figures of `figset` in `out_dir` unfit for the site; []
    when all is well.

    `names` are figure names or file names (None = every figure). A figure is a problem
    when the manifest does not list it, one of its files is missing or was changed after
    it was made, or the code it was made from (its sources) has changed since;
    an unreadable manifest or an entry that fails its checksum says how to restore it.
    Device, profile and library versions do not matter here: a GPU `full` figure is
    valid on a CPU.
    """
    out_dir = Path(out_dir)
    names = list(names) if names is not None else None
    if names == []:
        return []
    try:
        figures = figset.resolve(names)
    except KeyError as err:
        return [str(err.args[0])]
    if not (out_dir / MANIFEST).is_file():
        return [
            f"{out_dir / MANIFEST} is missing "
            f"({', '.join(f.name for f in figures)} unchecked)"
        ]
    store = manifest(out_dir)
    entries = store.entries
    fix = restore(store.path)
    if store.unreadable:
        return [f"{out_dir / MANIFEST} is unreadable ({store.unreadable}); {fix}"]
    problems = []
    for fig in figures:
        entry = entries.get(fig.name)
        if not isinstance(entry, dict):
            why = store.rejected.get(fig.name)
            problems.append(
                f"{fig.name}: its entry in {MANIFEST} {why}; {fix}"
                if why
                else f"{fig.name}: not in {MANIFEST}"
            )
            continue
        recorded_files = entry.get("files") or {}
        for file in fig.files:
            path = out_dir / file
            if not path.is_file():
                problems.append(f"{fig.name}: {file} is missing")
            elif recorded_files.get(file) != file_digest(path):
                problems.append(
                    f"{fig.name}: {file} differs from the file recorded in {MANIFEST} "
                    "(edited by hand, or its build was interrupted)"
                )
        digests = source_digests(fig, figset)
        if entry.get("code_hash") != engine.code_hash(digests):
            old = entry.get("sources") or {}
            changed = sorted(
                n for n in set(digests) | set(old) if digests.get(n) != old.get(n)
            )
            problems.append(
                f"{fig.name}: its code changed since it was made "
                f"({', '.join(changed) or 'sources'})"
            )
    return problems
