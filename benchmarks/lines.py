"""Size of the explainer engine, per room, against its target.

    python benchmarks/lines.py

Counts the lines of every file (as `wc -l` does) in the three rooms the target covers:
the engine's core (engine/explainer/*.py but the plugin and the new-post scaffold),
its MkDocs layer (plugin.py) and the figure machinery (engine/explainer/figures/).
The paper's code (gmlp_snippets/) is printed beside them for scale.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "engine" / "explainer"
TARGET = 1600  # lines for the three rooms together
NOT_COUNTED = ("plugin.py", "newpost.py")


def lines(paths: list[Path]) -> dict[str, int]:
    return {
        p.relative_to(REPO).as_posix(): len(p.read_text("utf-8").splitlines())
        for p in sorted(paths)
    }


def main() -> None:
    rooms = {
        "core": lines([p for p in ENGINE.glob("*.py") if p.name not in NOT_COUNTED]),
        "plugin": lines([ENGINE / "plugin.py"]),
        "figures": lines(list((ENGINE / "figures").glob("*.py"))),
    }
    total = 0
    for room, files in rooms.items():
        total += sum(files.values())
        shown = ", ".join(f"{Path(f).name} {n}" for f, n in files.items())
        print(f"{room:<8} {sum(files.values()):>5}  ({shown})")
    print(f"{'total':<8} {total:>5}  target {TARGET}, ratio {total / TARGET:.2f}")
    scaffold = sum(lines([ENGINE / "newpost.py"]).values())
    print(f"{'newpost':<8} {scaffold:>5}  (the new-post scaffold, not counted)")
    paper = sum(lines(list((REPO / "gmlp_snippets").glob("*.py"))).values())
    print(f"{'paper':<8} {paper:>5}  (gmlp_snippets/, for scale)")


if __name__ == "__main__":
    main()
