"""Write gmlp.py: the whole model in one torch-only file, assembled from the package's sections.

    python -m gmlp_snippets.export --out gmlp.py     # write it
    python -m gmlp_snippets.export --check gmlp.py   # exit 1 if it differs from the package

The file is generated, never edited by hand: the sections are the ones the post shows.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

# (module file, section) in the order a reader meets them; later sections use earlier ones
SECTIONS: list[tuple[str, str]] = [
    ("config.py", "config"),
    ("norm.py", "layernorm"),
    ("projection.py", "projection"),
    ("sgu.py", "tiny_attention"),
    ("sgu.py", "sgu"),
    ("model.py", "block"),
    ("model.py", "backbone"),
    ("model.py", "lm"),
    ("model.py", "vision"),
]

_MARKER = re.compile(r"^\s*# --8<-- \[(start|end):([\w-]+)\]\s*$")


def read_section(path: Path, name: str) -> str:
    """The lines between `# --8<-- [start:name]` and `# --8<-- [end:name]` in path."""
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if (m := _MARKER.match(line)) and m.groups() == ("start", name)]
    ends = [i for i, line in enumerate(lines) if (m := _MARKER.match(line)) and m.groups() == ("end", name)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"{path}: expected one '[start:{name}]' followed by one '[end:{name}]' marker, "
                         f"found {len(starts)} start and {len(ends)} end markers")
    body = [line for line in lines[starts[0] + 1:ends[0]] if not _MARKER.match(line)]
    return "\n".join(body).strip("\n")


def _imports(package_dir: Path) -> list[str]:
    """Every import of the modules' `imports` sections, minus the package's own."""
    seen: list[str] = []
    for file in dict.fromkeys(f for f, _ in SECTIONS):
        for line in read_section(package_dir / file, "imports").splitlines():
            if line.strip() and not line.startswith("from gmlp_snippets") and line not in seen:
                seen.append(line)
    def order(line: str) -> tuple[bool, str]:  # `import x` before `from x import y`, as isort does
        return line.startswith("from "), line

    stdlib = sorted((line for line in seen if "torch" not in line), key=order)
    third_party = sorted((line for line in seen if "torch" in line), key=order)
    return stdlib + [""] + third_party


def render(package_dir: Path = PACKAGE_DIR) -> str:
    """The text of gmlp.py."""
    from gmlp_snippets import __version__

    header = (
        f'"""gMLP (Liu, Dai, So, Le, "Pay Attention to MLPs", 2021) in one file: config, LayerNorm,\n'
        f"channel projection, Spatial Gating Unit (causal, tiny attention), block, backbone and heads.\n\n"
        f"Generated from gmlp_snippets {__version__} by `python -m gmlp_snippets.export`; needs only torch.\n"
        f'"""\n'
    )
    sections = [read_section(package_dir / file, name) for file, name in SECTIONS]
    return header + "\n" + "\n".join(_imports(package_dir)) + "\n\n\n" + "\n\n\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gmlp_snippets.export", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="write gmlp.py here")
    group.add_argument("--check", type=Path, help="fail if this file differs from what the package generates")
    args = parser.parse_args(argv)
    text = render()
    if args.check is not None:
        if not args.check.is_file() or args.check.read_text(encoding="utf-8") != text:
            print(f"{args.check} is out of date: run python -m gmlp_snippets.export --out {args.check}", file=sys.stderr)
            return 1
        return 0
    if args.out.is_dir():
        parser.error(f"--out: expected a file path, got the directory {args.out}")
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)  # atomic: a reader never sees half a file
    return 0


if __name__ == "__main__":
    sys.exit(main())
