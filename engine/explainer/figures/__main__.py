"""Command line: python -m explainer.figures [--device auto|cuda|cpu] [--only NAME...]
[--force] [--profile quick|full] [--out DIR]; see --help."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time

from explainer.engine import EngineError
from explainer.figures.cache import HINT, check
from explainer.figures.registry import FIGURES, resolve
from explainer.figures.runner import (
    DEFAULT_OUT,
    DEVICES,
    FigureArgumentError,
    Result,
    build,
)

SEEDS = 2**32  # numpy takes seeds in [0, 2**32)


def seed(text: str) -> int:
    """--seed: a whole number that torch and numpy both accept."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < SEEDS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {SEEDS - 1}, got {text!r}"
        )
    return value


def folder(text: str) -> str:
    """--out: a folder, never the empty string (which would be the current one)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r}")
    return text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m explainer.figures",
        description=(
            "Regenerate the post's figures from the package's code; "
            "only what changed is rebuilt."
        ),
        epilog=(
            "Without --profile the profile is 'full' on CUDA and 'quick' on the CPU. "
            "Without --force, --profile, --device cpu|cuda or --seed, a figure whose "
            "code is unchanged and that was made with a larger profile or on a GPU is "
            "kept, so a CPU run never overwrites GPU figures."
        ),
    )
    p.add_argument(
        "--device",
        metavar="{auto,cuda,cpu}",
        help=(
            "where to train and draw (default auto: CUDA when available, else the CPU)"
        ),
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="rebuild only these figures (names or file names): "
        + ", ".join(f.name for f in FIGURES),
    )
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")
    p.add_argument(
        "--profile",
        metavar="{quick,full}",
        help=(
            "quick: CPU-sized (CI, laptops); full: GPU-sized, longer training, larger n"
        ),
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        type=folder,
        metavar="DIR",
        help=f"output folder (default {DEFAULT_OUT})",
    )
    p.add_argument(
        "--seed", type=seed, help=f"random seed, 0 to {SEEDS - 1} (default 0)"
    )
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default 1: fastest for these tiny models)",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="only check that the figures in --out are up to date",
    )
    p.add_argument(
        "--list", action="store_true", help="list the figures and their files"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def summary(results: list[Result], total: float) -> str:
    rows = [("figure", "status", "seconds", "device", "note")]
    rows += [(r.name, r.status, f"{r.seconds:.1f}", r.device, r.note) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(
            [
                *(
                    cell.ljust(w) if i != 2 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row[:4], widths, strict=True))
                ),
                row[4],
            ]
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    rebuilt = sum(r.status == "rebuilt" for r in results)
    lines.append(f"{rebuilt} rebuilt, {len(results) - rebuilt} cached, {total:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.device is not None and args.device not in DEVICES:
        p.error(
            f"argument --device: unknown device {args.device!r}; "
            f"expected one of: {', '.join(DEVICES)}"
        )
    if args.list:
        for fig in FIGURES:
            print(f"{fig.name:<20} {' '.join(fig.files)}")
        return 0
    try:
        resolve(args.only)
    except KeyError as err:
        p.error(f"argument --only: {err.args[0]}")
    if args.check:
        problems = check(args.out, args.only)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(HINT, file=sys.stderr)
        return 1 if problems else 0
    start = time.perf_counter()
    try:
        results = build(
            args.out,
            names=args.only,
            device=args.device,
            profile=args.profile,
            seed=args.seed,
            force=args.force,
            threads=args.threads,
            progress=not args.quiet,
            command=shlex.join(["python", "-m", "explainer.figures", *argv]),
        )
    except FigureArgumentError as err:
        p.error(str(err))
    except EngineError as err:  # a write failed (full disk, ...): nothing half-written
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(summary(results, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
