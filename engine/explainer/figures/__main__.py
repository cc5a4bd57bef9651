"""Command line: python -m explainer.figures [--post NAME] [--only NAME...] [--force]
...; see --help. The posts are <repository>/posts/*.md, their figures go under
<repository>/assets."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

from explainer import engine
from explainer.engine import EngineError
from explainer.figures import runner
from explainer.figures.cache import HINT, check
from explainer.figures.registry import PROFILE_RANK, find, pick

SEEDS = 2**32  # numpy takes seeds in [0, 2**32)


def whole(low: int, high: float, expected: str):
    """An argparse type: a whole number from `low` to below `high`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value < high:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def folder(text: str) -> Path:
    """--out: a folder, never the empty string (which would be the current one)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder, got {text!r}")
    return Path(text)


def summary(results: list[tuple[str, runner.Result]], total: float) -> str:
    """The table of what was rebuilt or reused; a post column when there are several."""
    posts = len({post for post, _ in results}) > 1
    rows = [("post",) * posts + ("figure", "status", "seconds", "device", "note")]
    rows += [
        (post,) * posts + (r.name, r.status, f"{r.seconds:.1f}", r.device, r.note)
        for post, r in results
    ]
    columns = [f"{{:<{max(map(len, col))}}}" for col in zip(*rows, strict=True)]
    columns[-3] = columns[-3].replace("<", ">")  # the seconds are right-aligned
    lines = ["  ".join(columns).format(*row).rstrip() for row in rows]
    lines.insert(1, "-" * max(map(len, lines)))
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
    p = argparse.ArgumentParser(
        prog="python -m explainer.figures",
        description="Regenerate the posts' figures from their code; "
        "only what changed is rebuilt.",
        epilog="Without --profile the profile is 'full' on CUDA and 'quick' on the "
        "CPU. Without --force, --profile, --device cpu|cuda or --seed, a figure whose "
        "code is unchanged and that was made with a larger profile or on a GPU is "
        "kept, so a CPU run never overwrites GPU figures.",
    )
    add = p.add_argument
    posts = ", ".join(s.name for s in sets)
    add(
        "--post",
        metavar="NAME",
        help=f"only this post's figures (its file stem, or without the date): {posts}",
    )
    add(
        "--device",
        choices=runner.DEVICES,
        help="where to train and draw (default auto: CUDA when available, else CPU)",
    )
    figures = ", ".join(f.name for s in sets for f in s.figures)
    add(
        "--only",
        nargs="+",
        metavar="NAME",
        help=f"rebuild only these figures (names or file names): {figures}",
    )
    add("--force", action="store_true", help="rebuild even when up to date")
    add(
        "--profile",
        choices=PROFILE_RANK,  # and the test suite's tiny "test", not shown
        metavar="{quick,full}",
        help="quick: CPU-sized (CI, laptops); full: GPU-sized, longer training",
    )
    add(
        "--out",
        type=folder,
        metavar="DIR",
        help="output folder, for a single post (default: its folder under assets/)",
    )
    seeds = f"0 to {SEEDS - 1}"
    add("--seed", type=whole(0, SEEDS, seeds), help=f"random seed, {seeds} (default 0)")
    threads = whole(1, float("inf"), "a positive number")
    add("--threads", type=threads, help="CPU threads for torch (default 1: fastest)")
    add("--check", action="store_true", help="only check that the figures are current")
    add("--list", action="store_true", help="list the posts, figures and their files")
    add("-q", "--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.post is not None:
        if not (sets := [s for s in sets if s.matches(args.post)]):
            why = f"no post {args.post!r} has figures; expected one of: {posts}"
            p.error(f"argument --post: {why}")
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
    problems, results, start = [], [], time.perf_counter()
    if args.check:
        for s, figures in chosen:
            problems += check(args.out or s.out, [f.name for f in figures], s)
        if problems:
            print(*problems, HINT, sep="\n", file=sys.stderr)
        return 1 if problems else 0
    keys = ("device", "profile", "seed", "force", "threads")
    options = {k: getattr(args, k) for k in keys} | {"progress": not args.quiet}
    options["command"] = shlex.join(["python", "-m", "explainer.figures", *argv])
    try:
        for s, _ in chosen:  # every argument is checked before anything is drawn
            runner.validate(args.out or s.out, args.device)
        for s, figures in chosen:
            drawn = runner.build(s, args.out, [f.name for f in figures], **options)
            results += [(s.name, r) for r in drawn]
    except runner.FigureArgumentError as err:
        p.error(str(err))
    except EngineError as err:  # a write failed (full disk, ...): nothing half-written
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(summary(results, time.perf_counter() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
