"""Cache keys, the manifest, atomic writes and the staleness check - no torch, no matplotlib.

The *code hash* of a figure covers the source files it declares (see registry.Figure.sources),
with blank and comment-only lines left out, so editing a comment or a snippet marker does not
make a figure stale. The *cache key* adds what else decides the pixels: the torch and
matplotlib versions, the device kind, the profile and the seed.

The staleness check (`check`) compares code hashes only: a figure made on a GPU with the
`full` profile stays valid on a CPU machine as long as its code has not changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from gmlp_snippets.figures.registry import FIGURES, Figure, resolve

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the gmlp_snippets folder
PACKAGE_NAME = PACKAGE_DIR.name
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
HINT = "run `make figures` (python -m gmlp_snippets.figures) to regenerate"


# ---- hashing ---------------------------------------------------------------------------------

def normalized_source(text: str) -> str:
    """The code of a source file without blank lines, comment-only lines and trailing spaces."""
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line and not line.lstrip().startswith("#"))


def source_digest(relpath: str) -> str:
    """sha256 of one package file's normalized code (relpath is relative to the package folder)."""
    text = (PACKAGE_DIR / relpath).read_text(encoding="utf-8")
    return hashlib.sha256(normalized_source(text).encode("utf-8")).hexdigest()


def source_digests(fig: Figure) -> dict[str, str]:
    """{'gmlp_snippets/<relpath>': digest} for every source the figure declares."""
    return {f"{PACKAGE_NAME}/{rel}": source_digest(rel) for rel in fig.sources}


def code_hash(digests: dict[str, str]) -> str:
    """One hash over the declared sources (names and digests)."""
    blob = "\n".join(f"{name} {digest}" for name, digest in sorted(digests.items()))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def versions() -> dict[str, str]:
    """Versions of what draws the figures, read from package metadata (nothing is imported)."""
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for dist in ("torch", "matplotlib", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "missing"
    return out


def cache_key(code: str, vers: dict[str, str], device_kind: str, profile: str, seed: int) -> str:
    """The key that decides rebuilding: code hash, torch and matplotlib versions, device kind, profile, seed."""
    parts = {"code": code, "torch": vers.get("torch"), "matplotlib": vers.get("matplotlib"),
             "device_kind": device_kind, "profile": profile, "seed": seed}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


# ---- atomic writes and the manifest ----------------------------------------------------------

def temp_name(path: Path) -> Path:
    """The temporary sibling a write of `path` goes through (hidden, same folder, same disk)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write `path` through a temporary file in the same folder and os.replace it into place.

    If `write` raises, the temporary file is removed and `path` keeps its old content.
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def remove_stale_temps(out_dir: Path) -> None:
    """Remove temporary files an interrupted (killed) run of ours left behind."""
    names = {MANIFEST, *(file for fig in FIGURES for file in fig.files)}
    for name in names:
        for tmp in out_dir.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The manifest's figure entries ({} when there is none or it cannot be read)."""
    try:
        data = json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    figures = data.get("figures") if isinstance(data, dict) else None
    return figures if isinstance(figures, dict) else {}


def write_manifest(out_dir: Path, entries: dict[str, Any]) -> None:
    """Write manifest.json atomically, keys sorted, for the registered figures only."""
    known = {f.name for f in FIGURES}
    data = {"format": MANIFEST_FORMAT, "hint": HINT,
            "figures": {name: entries[name] for name in sorted(entries) if name in known}}
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_bytes(Path(out_dir) / MANIFEST, text.encode("utf-8"))


def files_intact(out_dir: Path, entry: dict[str, Any], fig: Figure) -> bool:
    """True when every file of the figure exists and still has the recorded content."""
    recorded = entry.get("files") or {}
    for name in fig.files:
        path = Path(out_dir) / name
        if name not in recorded or not path.is_file() or file_digest(path) != recorded[name]:
            return False
    return True


# ---- the staleness check ---------------------------------------------------------------------

def check(out_dir: str | os.PathLike, names: Iterable[str] | None = None) -> list[str]:
    """Problems that make the figures in `out_dir` unfit for the site; [] when all is well.

    `names` are figure names or file names (None = every figure). A figure is a problem when
    the manifest does not list it, one of its files is missing or was changed after it was
    made, or the code it was made from (its declared sources) has changed since. Device,
    profile and library versions do not matter here: a GPU `full` figure is valid on a CPU.
    """
    out_dir = Path(out_dir)
    names = list(names) if names is not None else None
    if names == []:
        return []
    try:
        figures = resolve(names)
    except KeyError as err:
        return [str(err.args[0])]
    if not (out_dir / MANIFEST).is_file():
        return [f"{out_dir / MANIFEST} is missing ({', '.join(f.name for f in figures)} unchecked)"]
    manifest = read_manifest(out_dir)
    problems = []
    for fig in figures:
        entry = manifest.get(fig.name)
        if not isinstance(entry, dict):
            problems.append(f"{fig.name}: not in {MANIFEST}")
            continue
        recorded_files = entry.get("files") or {}
        for file in fig.files:
            path = out_dir / file
            if not path.is_file():
                problems.append(f"{fig.name}: {file} is missing")
            elif recorded_files.get(file) != file_digest(path):
                problems.append(f"{fig.name}: {file} differs from the file recorded in {MANIFEST}")
        digests = source_digests(fig)
        if entry.get("code_hash") != code_hash(digests):
            old = entry.get("sources") or {}
            changed = sorted(n for n in set(digests) | set(old) if digests.get(n) != old.get(n))
            problems.append(f"{fig.name}: its code changed since it was made ({', '.join(changed) or 'sources'})")
    return problems
