"""A post's one-file download (e.g. gmlp.py): its package's shown sections in one file.

A post asks for it in its settings (``<post folder>/post.yml``)::

    download:
      file: gmlp.py                                  # served at the site root
      title: gMLP ... in one file                    # the file's docstring
      sections: [gmlp_snippets/norm.py:layernorm, ...]   # in the reader's order

Each section is read by the site's pymdownx.snippets exactly as the post includes it,
and the `imports` sections of the same modules give the file's imports (minus the
package's own). The site serves it (explainer.plugin), and

    python -m explainer download POST --out FILE     # write it
    python -m explainer download POST --check FILE   # exit 1 if it differs

writes or checks a copy.
"""

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
    statements: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if not line.strip() and not current:
            continue
        current.append(line)
        text_so_far = "\n".join(current)
        if text_so_far.count("(") == text_so_far.count(")"):
            statements.append(text_so_far)
            current = []
    return statements


def _imports(sections: list[str], package: str, root: Path, md) -> list[str]:
    """Every import of the modules' `imports` sections, minus the package's own."""
    seen: list[str] = []
    for file in dict.fromkeys(target.rsplit(":", 1)[0] for target in sections):
        for statement in _statements(read_section(f"{file}:imports", root, md)):
            if not statement.startswith(f"from {package}") and statement not in seen:
                seen.append(statement)

    def order(line: str) -> tuple[bool, str]:  # `import x` before `from x import y`
        return line.startswith("from "), line

    stdlib = [x for x in seen if x.split()[1].split(".")[0] in sys.stdlib_module_names]
    others = [x for x in seen if x not in stdlib]
    return sorted(stdlib, key=order) + [""] + sorted(others, key=order)


def render(
    download: dict, root: Path = REPO, where: str = "", md: Markdown | None = None
) -> str:
    """The text of a post's download (its front matter's `download`)."""
    if not (
        isinstance(download, dict)
        and isinstance(download.get("file"), str)
        and isinstance(download.get("sections"), list)
        and download["sections"]
    ):
        raise EngineError(
            f"{where}: field 'download' must give 'file' (e.g. gmlp.py), 'title' and "
            "'sections' (a list of <package>/<file>.py:<section>)"
        )
    sections = [str(target) for target in download["sections"]]
    package = sections[0].split("/", 1)[0]
    # read, not imported: importing the package would import its dependencies
    init = (Path(root) / package / "__init__.py").read_text(encoding="utf-8")
    version = re.search(r'^__version__ = "([^"]+)"', init, re.M)
    imports = _imports(sections, package, root, md)
    needs = sorted(
        {x.split()[1].split(".")[0] for x in imports[imports.index("") + 1 :]}
    )
    header = (
        f'"""{textwrap.fill(str(download.get("title", download["file"])), 80)}\n\n'
        f"Generated from {package} {version.group(1) if version else ''} "
        f"by the site build; needs only {', '.join(needs)}.\n"
        '"""\n'
    )
    body = [read_section(target, root, md) for target in sections]
    return header + "\n" + "\n".join(imports) + "\n\n\n" + "\n\n\n".join(body) + "\n"


def _write(parser: argparse.ArgumentParser, out: Path, text: str) -> None:
    """Write text to out through a temporary file; a bad --out is a parser error."""
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
        if not args.check.is_file() or args.check.read_text(encoding="utf-8") != text:
            print(
                f"{args.check} is out of date: run python -m explainer download "
                f"{args.post} --out {args.check}",
                file=sys.stderr,
            )
            return 1
        return 0
    _write(parser, args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
