"""Build the figures: decide what is out of date, draw it, record it in the manifest.

What is rebuilt (see `decide`):

* a figure that is new, whose files are missing or were changed, or whose code changed;
* a figure whose manifest entry cannot be verified (the manifest is unreadable, or the
  entry fails its checksum): nothing is known of how it was made, so it is redrawn;
* with --force, every selected figure;
* a figure whose cache key differs (torch/matplotlib version, device kind, profile,
  seed). Exception, so a CPU run never silently replaces GPU work: a figure whose code
  is unchanged and that was made with a larger profile or on a GPU is kept unless
  --force is given.

Each figure is recorded in the manifest as soon as it is drawn (a killed run keeps what
it finished), under the manifest's lock (concurrent runs keep each other's entries);
entries of figures that are no longer registered are pruned only after every figure was
drawn. Without --profile, the profile is `full` on CUDA and `quick` on the CPU. The
figures of one run share `ctx.memo` (e.g. a model trained once for several figures).
torch is needed only to pick the device; matplotlib and the figure code are imported
only when something is rebuilt, so a run with nothing to do takes about as long as
`import torch`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explainer import engine
from explainer.figures import cache
from explainer.figures.registry import (
    DEVICE_RANK,
    HIDDEN_PROFILES,
    PROFILE_RANK,
    PROFILES,
    Figure,
    FigureSet,
)

log = logging.getLogger("explainer.figures")

DEVICES = ("auto", "cuda", "cpu")


class FigureArgumentError(ValueError):
    """A bad argument, found before anything is written; the message names the
    argument."""


@dataclass
class Result:
    name: str
    status: str  # "rebuilt" or "cached"
    seconds: float
    device: str
    note: str = ""


@dataclass
class FigureContext:
    """What a figure function gets: where to write, on which device, at which size, a
    progress bar, and `memo`, shared by the figures of one run."""

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
        """Render a matplotlib figure to `filename` (one of the figure's declared
        files), atomically."""
        from explainer.figures import style

        self.save_bytes(style.png_bytes(fig), filename)

    def save_bytes(self, data: bytes, filename: str) -> None:
        """Write `data` to `filename` (a declared file of the figure), atomically."""
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


# ---- arguments -----------------------------------------------------------------------


def validate(
    out_dir: str | Path,
    names: list[str] | None,
    device: str | None,
    profile: str | None,
    threads: int | None,
    figset: FigureSet,
) -> tuple[Path, list[Figure], str, str]:
    """Check every argument before anything is written; returns (out dir, figures,
    device kind, profile)."""
    try:
        figures = figset.resolve(names)
    except KeyError as err:
        raise FigureArgumentError(f"argument --only: {err.args[0]}") from None
    if profile is not None and profile not in PROFILES + HIDDEN_PROFILES:
        raise FigureArgumentError(
            f"argument --profile: unknown profile {profile!r}; "
            f"expected one of: {', '.join(PROFILES)}"
        )
    if device is not None and device not in DEVICES:
        raise FigureArgumentError(
            f"argument --device: unknown device {device!r}; "
            f"expected one of: {', '.join(DEVICES)}"
        )
    if threads is not None and threads < 1:
        raise FigureArgumentError(
            f"argument --threads: expected a positive number, got {threads}"
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FigureArgumentError(
            f"argument --out: expected a directory, but {str(out)!r} is a file"
        )
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise FigureArgumentError(
                    "argument --out: expected a directory, "
                    f"but {str(parent)!r} is a file"
                )
            break
    existing = next(p for p in (out, *out.parents) if p.exists())
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
    kind = "cuda" if device == "cuda" or (device in (None, "auto") and cuda) else "cpu"
    return out, figures, kind, profile or ("full" if kind == "cuda" else "quick")


# ---- deciding ------------------------------------------------------------------------


def decide(
    fig: Figure,
    entry: dict[str, Any] | None,
    out_dir: Path,
    code: str,
    key: str,
    profile: str,
    kind: str,
    seed: int,
    force: bool,
) -> tuple[bool, str]:
    """(rebuild?, why) for one figure; see the module docstring for the rules."""
    if force:
        return True, "--force"
    if not entry:
        return True, "new"
    if not cache.files_intact(out_dir, entry, fig):
        return True, "file missing or changed"
    if entry.get("code_hash") != code:
        return True, "code changed"
    if entry.get("key") == key:
        return False, ""
    made_profile, made_kind = entry.get("profile"), entry.get("device_kind")
    have = (PROFILE_RANK.get(made_profile, -1), DEVICE_RANK.get(made_kind, -1))
    want = (PROFILE_RANK[profile], DEVICE_RANK[kind])
    if have != want and have[0] >= want[0] and have[1] >= want[1]:
        return (
            False,
            f"kept: made with {made_profile} on {entry.get('device', made_kind)}; "
            "--force redraws it",
        )
    changed = [
        name
        for name, old, new in (
            ("profile", made_profile, profile),
            ("device", made_kind, kind),
            ("seed", entry.get("seed"), seed),
        )
        if old != new
    ]
    return True, f"{', '.join(changed) or 'library versions'} changed"


# ---- building ------------------------------------------------------------------------


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
    """Rebuild the selected figures of `figset` that are out of date into `out_dir`
    (default: <assets>/<FOLDER>); returns one Result per figure."""
    out, figures, kind, profile = validate(
        figset.out if out_dir is None else out_dir,
        names,
        device,
        profile,
        threads,
        figset,
    )
    if device in (None, "auto"):
        note = "" if kind == "cuda" else " (CUDA is not available)"
        log.info("device: auto -> %s%s", kind, note)
    seed = 0 if seed is None else seed

    store = cache.manifest(out)
    manifest = store.entries
    vers = cache.versions()
    plans = []
    for fig in figures:
        digests = cache.source_digests(fig, figset)
        code = engine.code_hash(digests)
        key = cache.cache_key(code, vers, kind, profile, seed)
        entry = manifest.get(fig.name)
        rebuild, why = decide(fig, entry, out, code, key, profile, kind, seed, force)
        if why == "new" and (store.unreadable or fig.name in store.rejected):
            why = "its manifest entry could not be verified"
        plans.append((fig, entry, digests, code, key, rebuild, why))

    results = [
        Result(fig.name, "cached", 0.0, (entry or {}).get("device", "?"), why)
        for fig, entry, _, _, _, rebuild, why in plans
        if not rebuild
    ]
    todo = [p for p in plans if p[5]]
    if not todo:
        return _in_order(results, figures)

    out.mkdir(parents=True, exist_ok=True)
    cache.remove_stale_temps(out, figset)
    command = command or "python -m explainer.figures"
    memo: dict[Any, Any] = {}  # shared by the figures of this run only
    with _runtime(kind, threads) as (dev, device_name, n_threads):
        from explainer.figures import style

        for fig, _, digests, code, key, _, why in todo:
            start = time.perf_counter()
            ctx = FigureContext(fig, out, dev, profile, seed, memo=memo)
            measures = _draw(figset.module(fig.module), ctx, progress, style)
            seconds = time.perf_counter() - start
            store.put(
                fig.name,
                {  # now, not at the end: a killed run keeps what it drew
                    "files": {
                        name: engine.file_digest(out / name) for name in fig.files
                    },
                    "key": key,
                    "code_hash": code,
                    "sources": digests,
                    "versions": vers,
                    "device": device_name,
                    "device_kind": kind,
                    "threads": n_threads,
                    "seed": seed,
                    "profile": profile,
                    "command": command,
                    "wall_s": round(seconds, 1),
                    "measures": measures,
                },
            )
            results.append(Result(fig.name, "rebuilt", seconds, device_name, why))
    store.prune(f.name for f in figset.figures)  # all drawn: forget unregistered ones
    return _in_order(results, figures)


def _in_order(results: list[Result], figures: list[Figure]) -> list[Result]:
    order = {f.name: i for i, f in enumerate(figures)}
    return sorted(results, key=lambda r: order[r.name])


def _draw(module, ctx: FigureContext, progress: bool, style) -> dict[str, Any]:
    import torch
    from tqdm.auto import tqdm

    fig = ctx.figure
    with tqdm(
        total=1,
        desc=f"{fig.name:<20}",
        file=sys.stderr,
        disable=not progress,
        leave=True,
        dynamic_ncols=True,
    ) as bar:
        ctx.bar = bar
        torch.manual_seed(ctx.seed)
        with style.context():
            module.make(ctx)
        bar.n = bar.total
        bar.refresh()
    missing = [name for name in fig.files if name not in ctx.written]
    if missing:
        raise RuntimeError(f"figure {fig.name!r} did not write {missing}")
    return ctx.measures


class _runtime:
    """Torch settings for reproducible figures, restored afterwards.

    CPU: deterministic algorithms and a fixed number of threads (default 1: the models
    are tiny, a second thread costs more in synchronisation than it saves, and the bytes
    do not depend on the machine's core count), so the same command gives the same
    bytes. CUDA: TF32 matmuls for speed (GPU figures are not expected to be
    byte-stable).
    """

    def __init__(self, kind: str, threads: int | None):
        self.kind, self.threads = kind, threads

    def __enter__(self):
        import torch

        self.saved = (
            torch.are_deterministic_algorithms_enabled(),
            torch.get_num_threads(),
            torch.get_float32_matmul_precision(),
        )
        # tiny models: one thread is fastest on a shared CPU, and core-count independent
        n = self.threads or 1
        # on a GPU machine too: the toy 1-D fits run on the CPU
        torch.set_num_threads(n)
        if self.kind == "cuda":
            dev = torch.device("cuda")
            torch.set_float32_matmul_precision("high")
            return dev, torch.cuda.get_device_name(dev), n
        torch.use_deterministic_algorithms(True)
        return torch.device("cpu"), "cpu", n

    def __exit__(self, *exc):
        import torch

        deterministic, threads, precision = self.saved
        torch.use_deterministic_algorithms(deterministic)
        torch.set_num_threads(threads)
        torch.set_float32_matmul_precision(precision)
        return False
