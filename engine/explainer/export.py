"""A post's one-file download (e.g. gmlp.py): its package's shown sections in one file.

The sections its ``post.yml`` ``download`` names, read as the post includes them, after
the imports of their modules' `imports` sections (minus the package's own). The site
serves it; ``python -m explainer download POST --out FILE`` writes it, ``--check FILE``
exits 1 if FILE differs."""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

from explainer import engine, posts
from explainer.blocks import Markdown
from explainer.engine import REPO, EngineError


def read_section(target: str, root: Path = REPO, md: Markdown | None = None) -> str:
    """A section `<file>:<name>` as `--8<-- "<file>:<name>"` includes it in a post (a
    missing file or section raises EngineError naming both)."""
    from pymdownx.snippets import SnippetMissingError

    snippets = (md or Markdown.of_site(root)).snippets
    try:
        return "\n".join(snippets.run([f'--8<-- "{target}"'])).strip("\n")
    except SnippetMissingError as error:
        raise EngineError(f"{target}: {error}") from None


def _statements(text: str) -> list[str]:
    """The import statements of an `imports` section (a parenthesised one as one)."""
    statements, current = [], ""
    for line in text.splitlines():
        if line.strip() or current:
            current = f"{current}\n{line}" if current else line
            if current.count("(") == current.count(")"):
                statements.append(current)
                current = ""
    return statements


def render(
    download: dict, root: Path = REPO, where: str = "", md: Markdown | None = None
) -> str:
    """The text of a post's download (its settings' `download`)."""
    named = isinstance(download, dict) and isinstance(download.get("file"), str)
    sections = download.get("sections") if named else None
    if not (sections and isinstance(sections, list)):
        raise EngineError(
            f"{where}: field 'download' must give 'file' (e.g. gmlp.py), 'title' and "
            "'sections' (a list of <package>/<file>.py:<section>)"
        )
    sections = [str(target) for target in download["sections"]]
    package = sections[0].split("/", 1)[0]
    found = dict.fromkeys(
        statement
        for file in dict.fromkeys(target.rsplit(":", 1)[0] for target in sections)
        for statement in _statements(read_section(f"{file}:imports", root, md))
        if not statement.startswith(f"from {package}")
    )
    groups: tuple[list[str], list[str]] = ([], [])  # the standard library's, others
    for statement in sorted(found, key=lambda x: (x.startswith("from "), x)):
        top = statement.split()[1].split(".")[0]
        groups[top not in sys.stdlib_module_names].append(statement)
    needs = ", ".join(sorted({x.split()[1].split(".")[0] for x in groups[1]}))
    # read, not imported: importing the package would import its dependencies
    init = (Path(root) / package / "__init__.py").read_text(encoding="utf-8")
    version = re.search(r'^__version__ = "([^"]+)"', init, re.M)
    title = textwrap.fill(str(download.get("title", download["file"])), 80)
    imports = "\n".join([*groups[0], "", *groups[1]])
    body = "\n\n\n".join(read_section(target, root, md) for target in sections)
    return (
        f'"""{title}\n\nGenerated from {package} {version[1] if version else ""} by '
        f'the site build; needs only {needs}.\n"""\n\n{imports}\n\n\n{body}\n'
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explainer download", description=__doc__.splitlines()[0]
    )
    parser.add_argument("post", type=Path, help="the post whose download to write")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write gmlp.py here")
    group.add_argument(
        "--check",
        type=Path,
        help="fail if this file differs from what the package generates",
    )
    args = parser.parse_args(argv)
    try:
        post = posts.read_post(str(args.post), engine._shown(args.post))
        text = render(post.settings.get("download"), REPO, post.path)
    except (EngineError, OSError) as error:
        parser.error(f"{args.post}: {error}")
    if args.check is not None:
        if args.check.is_file() and args.check.read_text(encoding="utf-8") == text:
            return 0
        print(
            f"{args.check} is out of date: run python -m explainer download "
            f"{args.post} --out {args.check}",
            file=sys.stderr,
        )
        return 1
    out = args.out
    if out.is_dir():
        parser.error(f"--out: expected a file path, got the directory {out}")
    if not out.parent.is_dir():
        parser.error(f"--out: {out.parent} is not an existing directory")
    if out.exists() and not out.stat().st_mode & 0o222:
        parser.error(f"--out: {out} is read-only (make it writable or choose another)")
    try:
        engine.atomic_write_bytes(out, text.encode("utf-8"))  # never half a file
    except EngineError as error:
        parser.error(f"--out: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
