"""Write gmlp.py: the whole model in one torch-only file, from the package's sections.

    python -m explainer.export --out gmlp.py     # write it
    python -m explainer.export --check gmlp.py   # exit 1 if the package differs

The file is generated, never edited by hand: the sections are the ones the post shows,
read by pymdownx.snippets exactly as the post includes them (explainer.blocks.expand).
The site serves it as /gmlp.py (hooks/downloads.py).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from pathlib import Path

from explainer.blocks import expand
from explainer.engine import REPO

PACKAGE = "gmlp_snippets"

# (module file, section) in the order a reader meets them; later ones use earlier ones
SECTIONS: list[tuple[str, str]] = [
    ("checks.py", "checks"),
    ("norm.py", "layernorm"),
    ("projection.py", "projection"),
    ("config.py", "config"),  # its presets are checked against projection's ACTIVATIONS
    ("sgu.py", "tiny_attention"),
    ("sgu.py", "sgu"),
    ("model.py", "block"),
    ("model.py", "backbone"),
    ("model.py", "lm"),
    ("model.py", "vision"),
]


def read_section(file: str, name: str, root: Path = REPO) -> str:
    """Section `name` of gmlp_snippets/<file>, as `--8<-- "gmlp_snippets/<file>:<name>"`
    includes it in a post (a missing file or section raises EngineError naming both)."""
    target = f"{PACKAGE}/{file}:{name}"
    return "\n".join(expand([f'--8<-- "{target}"'], target, root)).strip("\n")


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


def _imports(root: Path) -> list[str]:
    """Every import of the modules' `imports` sections, minus the package's own."""
    seen: list[str] = []
    for file in dict.fromkeys(f for f, _ in SECTIONS):
        for statement in _statements(read_section(file, "imports", root)):
            if not statement.startswith("from gmlp_snippets") and statement not in seen:
                seen.append(statement)

    def order(line: str) -> tuple[bool, str]:  # `import x` before `from x import y`
        return line.startswith("from "), line

    stdlib = sorted((line for line in seen if "torch" not in line), key=order)
    third_party = sorted((line for line in seen if "torch" in line), key=order)
    return stdlib + [""] + third_party


def render(root: Path = REPO) -> str:
    """The text of gmlp.py."""
    # read, not imported: importing the package would import torch (seconds per build)
    init = (root / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    __version__ = re.search(r'^__version__ = "([^"]+)"', init, re.M).group(1)

    header = (
        '"""gMLP (Liu, Dai, So, Le, "Pay Attention to MLPs", 2021) in one file:\n'
        "config, LayerNorm, channel projection, Spatial Gating Unit (causal, tiny\n"
        "attention), block, backbone and heads.\n\n"
        f"Generated from gmlp_snippets {__version__} by\n"
        "`python -m explainer.export`; needs only torch.\n"
        '"""\n'
    )
    sections = [read_section(file, name, root) for file, name in SECTIONS]
    imports = "\n".join(_imports(root))
    return header + "\n" + imports + "\n\n\n" + "\n\n\n".join(sections) + "\n"


def _write(parser: argparse.ArgumentParser, out: Path, text: str) -> None:
    """Write text to out through a temporary file; a bad --out is a parser error."""
    if out.is_dir():
        parser.error(f"--out: expected a file path, got the directory {out}")
    if not out.parent.is_dir():
        parser.error(f"--out: {out.parent} is not an existing directory")
    if out.exists() and not out.stat().st_mode & 0o222:
        parser.error(f"--out: {out} is read-only (make it writable or choose another)")
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)  # atomic: a reader never sees half a file
    except OSError as error:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        parser.error(f"--out: cannot write {out}: {error.strerror or error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explainer.export", description=__doc__.splitlines()[0]
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write gmlp.py here")
    group.add_argument(
        "--check",
        type=Path,
        help="fail if this file differs from what the package generates",
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check is not None:
        if not args.check.is_file() or args.check.read_text(encoding="utf-8") != text:
            print(
                f"{args.check} is out of date: run python -m explainer.export "
                f"--out {args.check}",
                file=sys.stderr,
            )
            return 1
        return 0
    _write(parser, args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
