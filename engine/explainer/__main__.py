"""python -m explainer COMMAND: the engine without a site build.

run [POST...]        run the posts' blocks that have no stored output (all posts)
figures [...]        draw the figures that are out of date (see `figures --help`)
download POST ...    write or check a post's one-file download
new-post ...         scaffold a second explainer (see `new-post --help`)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(argv: list[str]) -> int:
    from explainer import outputs, posts
    from explainer.engine import REPO, EngineError, _shown

    parser = argparse.ArgumentParser(prog="python -m explainer run")
    parser.add_argument("posts", nargs="*", type=Path, help="default: posts/*.md")
    parser.add_argument("--outputs", type=Path, default=REPO / "outputs")
    parser.add_argument("--timeout", type=float, default=outputs.DEFAULT_TIMEOUT)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    paths = args.posts or sorted((REPO / "posts").glob("*.md"))
    try:
        texts = [posts.read_post(str(p), _shown(p)).text for p in paths]
        results = outputs.collect(
            paths, args.outputs, args.timeout, args.workers, texts=texts
        )
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for result in results:
        stored = sum(o is not None for o in result.outputs)
        print(f"{_shown(result.post)}: {stored} of {len(result.blocks)} blocks stored")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "run":
        return run(rest)
    if command == "figures":
        from explainer.figures.__main__ import main as figures

        return figures(rest)
    if command == "download":
        from explainer.export import main as download

        return download(rest)
    if command == "new-post":
        from explainer.newpost import main as new_post

        return new_post(rest)
    print(__doc__, file=sys.stderr)
    return 0 if command in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
