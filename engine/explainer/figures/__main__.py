"""Command line: python -m explainer.figures [--post NAME] [--device auto|cuda|cpu]
[--only NAME...] [--force] [--profile quick|full] [--out DIR]; see --help.

The posts are <repository>/posts/*.md, their figures go under <repository>/assets."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time

from explainer import engine
from explainer.engine import EngineError
from explainer.figures.cache import HINT, check
from explainer.figures.registry import FigureSet, find, pick
from explainer.figures.runner import (
    DEVICES,
    FigureArgumentError,
    Result,
    build,
    validate,
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


def parser(sets: list[FigureSet]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m explainer.figures",
        description=(
            "Regenerate the posts' figures from their code; "
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
        "--post",
        metavar="NAME",
        help="only this post's figures (its file stem, or the stem without the date): "
        + ", ".join(s.name for s in sets),
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
        + ", ".join(f.name for s in sets for f in s.figures),
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
        type=folder,
        metavar="DIR",
        help="output folder, for a single post (default: its folder under assets/)",
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
        help="only check that the figures are up to date",
    )
    p.add_argument(
        "--list", action="store_true", help="list the posts, figures and their files"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return p


def summary(results: list[tuple[str, Result]], total: float) -> str:
    """The table of what was rebuilt or reused; a post column when there are several."""
    posts = len({post for post, _ in results}) > 1
    rows = [("post",) * posts + ("figure", "status", "seconds", "device", "note")]
    rows += [
        (post,) * posts + (r.name, r.status, f"{r.seconds:.1f}", r.device, r.note)
        for post, r in results
    ]
    n, seconds = len(rows[0]) - 1, len(rows[0]) - 3  # the last column is not padded
    widths = [max(len(row[i]) for row in rows) for i in range(n)]
    lines = [
        "  ".join(
            [
                *(
                    cell.ljust(w) if i != seconds else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(row[:n], widths, strict=True))
                ),
                row[n],
            ]
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    rebuilt = sum(r.status == "rebuilt" for _, r in results)
    lines.append(f"{rebuilt} rebuilt, {len(results) - rebuilt} cached, {total:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        sets = find(engine.REPO / "posts", engine.REPO)
    except EngineError as err:  # a post's figures.py is wrong
        print(f"error: {err}", file=sys.stderr)
        return 1
    p = parser(sets)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.device is not None and args.device not in DEVICES:
        p.error(
            f"argument --device: unknown device {args.device!r}; "
            f"expected one of: {', '.join(DEVICES)}"
        )
    if args.post is not None:
        known, sets = sets, [s for s in sets if s.matches(args.post)]
        if not sets:
            p.error(
                f"argument --post: no post {args.post!r} has figures; expected one "
                f"of: {', '.join(s.name for s in known)}"
            )
    if args.list:
        for s in sets:
            for fig in s.figures:
                print(f"{s.name:<24} {fig.name:<20} {' '.join(fig.files)}")
        return 0
    try:
        chosen = pick(sets, args.only)
    except KeyError as err:
        p.error(f"argument --only: {err.args[0]}")
    if args.out is not None and len(chosen) > 1:
        p.error(
            "argument --out: only with a single post; choose one with --post "
            f"({', '.join(s.name for s, _ in chosen)})"
        )
    if args.check:
        problems = [
            problem
            for s, figures in chosen
            for problem in check(args.out or s.out, [f.name for f in figures], s)
        ]
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(HINT, file=sys.stderr)
        return 1 if problems else 0
    start, results = time.perf_counter(), []
    try:
        for s, _ in chosen:  # every argument is checked before anything is drawn
            validate(
                args.out or s.out, None, args.device, args.profile, args.threads, s
            )
        for s, figures in chosen:
            results += [
                (s.name, r)
                for r in build(
                    s,
                    args.out,
                    names=[f.name for f in figures],
                    device=args.device,
                    profile=args.profile,
                    seed=args.seed,
                    force=args.force,
                    threads=args.threads,
                    progress=not args.quiet,
                    command=shlex.join(["python", "-m", "explainer.figures", *argv]),
                )
            ]
    except FigureArgumentError as err:
        p.error(str(err))
    except EngineError as err:  # a write failed (full disk, ...): nothing half-written
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(summary(results, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
