"""Build the figures: decide what is out of date, draw it, record it in the manifest
(torch is imported to pick the device; matplotlib and figure code only to draw)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explainer import engine
from explainer.figures import cache
from explainer.figures.registry import DEVICE_RANK, PROFILE_RANK, Figure, FigureSet

log = logging.getLogger("explainer.figures")

DEVICES = ("auto", "cuda", "cpu")
PROG = "python -m explainer.figures"


class FigureArgumentError(ValueError):
    """A bad argument, found before anything is written; the message names it."""


@dataclass
class Result:
    name: str
    status: str  # "rebuilt" or "cached"
    seconds: float
    device: str
    note: str = ""


@dataclass
class FigureContext:
    """What a figure's `make` gets: where to write, the device, the profile, the seed,
    a progress bar, and `memo`, shared by the figures of one run."""

    figure: Figure
    out_dir: Path
    device: Any  # torch.device
    profile: str
    seed: int
    bar: Any = None  # a tqdm bar, or None
    memo: dict[Any, Any] = field(default_factory=dict)
    measures: dict[str, Any] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)

    def save(self, fig, filename: str) -> None:
        """Render a matplotlib figure to `filename`, one of the figure's files."""
        from explainer.figures import style

        self.save_bytes(style.png_bytes(fig), filename)

    def save_bytes(self, data: bytes, filename: str) -> None:
        """Write `data` to `filename`, one of the figure's files, atomically."""
        if filename not in self.figure.files:
            raise ValueError(
                f"figure {self.figure.name!r} may only write {self.figure.files}, "
                f"not {filename!r}"
            )
        engine.atomic_write_bytes(self.out_dir / filename, data)
        self.written.add(filename)

    def progress(self, total: int) -> None:
        """Set the number of steps the progress bar counts."""
        if self.bar is not None:
            self.bar.reset(total=total)

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)


def validate(out_dir: Path, device: str | None) -> str:
    """Check --out and --device before anything is written; returns the device kind."""
    existing = next(p for p in (out_dir, *out_dir.parents) if p.exists())
    if not existing.is_dir():
        raise FigureArgumentError(
            f"argument --out: expected a directory, but {str(existing)!r} is a file"
        )
    if not os.access(existing, os.W_OK):
        raise FigureArgumentError(
            f"argument --out: {str(existing)!r} is not writable (a read-only file "
            "system, or no permission); make it writable, or pass --out another folder"
        )
    import torch

    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise FigureArgumentError(
            "argument --device: 'cuda' was asked for but CUDA is not available here "
            f"(torch {torch.__version__}); use --device auto or --device cpu"
        )
    return "cuda" if cuda and device != "cpu" else "cpu"


def decide(
    fig, entry, out_dir, sources, key, profile, kind, seed, force
) -> tuple[bool, str]:
    """(rebuild?, why): forced, new, files not as recorded, code changed or another
    key - but a figure whose code is unchanged and that was made with a larger profile
    or on a GPU is kept, so a CPU run never replaces GPU work."""
    if force:
        return True, "--force"
    if not entry:
        return True, "new"
    if cache.file_problems(out_dir, entry, fig):
        return True, "file missing or changed"
    if entry.get("sources") != sources:
        return True, "code changed"
    if entry.get("key") == key:
        return False, ""
    made = {"profile": entry.get("profile"), "device": entry.get("device_kind")}
    have = (PROFILE_RANK.get(made["profile"], -1), DEVICE_RANK.get(made["device"], -1))
    want = (PROFILE_RANK[profile], DEVICE_RANK[kind])
    if have != want and have[0] >= want[0] and have[1] >= want[1]:
        on = entry.get("device", made["device"])
        return False, f"kept: made with {made['profile']} on {on}; --force redraws it"
    made["seed"] = entry.get("seed")
    now = {"profile": profile, "device": kind, "seed": seed}
    changed = ", ".join(name for name in made if made[name] != now[name])
    return True, f"{changed or 'library versions'} changed"


def build(
    figset: FigureSet,
    out_dir: str | Path | None = None,
    names: list[str] | None = None,
    device: str | None = None,
    profile: str | None = None,
    seed: int | None = None,
    force: bool = False,
    threads: int | None = None,
    progress: bool = True,
    command: str | None = None,
) -> list[Result]:
    """Redraw the figures `names` (None: all) of `figset` that are out of date into
    `out_dir` (default <assets>/<FOLDER>); one Result per figure, in order."""
    try:
        figures = figset.resolve(names)
    except KeyError as err:
        raise FigureArgumentError(f"argument --only: {err.args[0]}") from None
    if device not in (None, *DEVICES):
        raise FigureArgumentError(f"argument --device: unknown device {device!r}")
    if profile not in (None, *PROFILE_RANK):
        raise FigureArgumentError(f"argument --profile: unknown profile {profile!r}")
    out = Path(figset.out if out_dir is None else out_dir)
    kind = validate(out, device)
    if device in (None, "auto"):
        note = "" if kind == "cuda" else " (CUDA is not available)"
        log.info("device: auto -> %s%s", kind, note)
    profile, seed = profile or ("full" if kind == "cuda" else "quick"), seed or 0
    store, results, todo = cache.manifest(out), {}, []
    for fig in figures:
        recipe = cache.recipe(fig, figset, device_kind=kind, profile=profile, seed=seed)
        key, entry = engine.key(**recipe), store.entries.get(fig.name)
        sources = recipe["sources"]
        rebuild, why = decide(fig, entry, out, sources, key, profile, kind, seed, force)
        if why == "new" and (store.unreadable or fig.name in store.rejected):
            why = "its manifest entry could not be verified"
        if rebuild:
            todo.append((fig, {"key": key, **recipe}, why))
        else:
            on = entry.get("device", "?")
            results[fig.name] = Result(fig.name, "cached", 0.0, on, why)
    if todo:
        out.mkdir(parents=True, exist_ok=True)
        drawn = {cache.MANIFEST, *(f for fig in figset.figures for f in fig.files)}
        engine.remove_stale_temps(out, drawn)  # left by a killed run
        with _runtime(kind, threads) as (dev, on, n):
            made = {"device": on, "threads": n, "command": command or PROG}
            memo: dict[Any, Any] = {}  # shared by the figures of this run only
            for fig, recipe, why in todo:
                start = time.perf_counter()
                ctx = FigureContext(fig, out, dev, profile, seed, memo=memo)
                _draw(figset.module(fig.module), ctx, progress)
                seconds = time.perf_counter() - start
                files = {name: engine.file_digest(out / name) for name in fig.files}
                entry = {"files": files, **recipe, **made}
                entry |= {"wall_s": round(seconds, 1), "measures": ctx.measures}
                store.put(fig.name, entry)  # now: a killed run keeps what it drew
                results[fig.name] = Result(fig.name, "rebuilt", seconds, on, why)
        store.prune(f.name for f in figset.figures)  # forget unregistered figures
    return [results[f.name] for f in figures]


def _draw(module, ctx: FigureContext, progress: bool) -> None:
    """`module.make(ctx)` with the shared style and a progress bar."""
    import torch
    from tqdm.auto import tqdm

    from explainer.figures import style

    fig = ctx.figure
    with tqdm(
        total=1,
        desc=f"{fig.name:<20}",
        file=sys.stderr,
        disable=not progress,
        dynamic_ncols=True,
    ) as ctx.bar:
        torch.manual_seed(ctx.seed)
        with style.context():
            module.make(ctx)
        ctx.bar.n = ctx.bar.total
        ctx.bar.refresh()
    if missing := [name for name in fig.files if name not in ctx.written]:
        raise RuntimeError(f"figure {fig.name!r} did not write {missing}")


@contextlib.contextmanager
def _runtime(kind: str, threads: int | None):
    """Torch settings for reproducible figures, restored afterwards: `threads` threads
    (default 1: the models are tiny, and the bytes do not depend on the core count),
    deterministic algorithms on the CPU, TF32 matmuls on CUDA."""
    import torch

    before = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    precision = torch.get_float32_matmul_precision()
    torch.set_num_threads(threads or 1)  # on a GPU machine too: 1-D toy fits use it
    if kind == "cuda":
        torch.set_float32_matmul_precision("high")
    else:
        torch.use_deterministic_algorithms(True)
    try:
        name = torch.cuda.get_device_name() if kind == "cuda" else "cpu"
        yield torch.device(kind), name, threads or 1
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.set_num_threads(before[1])
        torch.set_float32_matmul_precision(precision)
