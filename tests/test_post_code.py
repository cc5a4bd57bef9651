"""The code the posts show: every Python block runs as a reader would copy it, and
prints what the page shows.

The blocks are read by the build's own reader (explainer.blocks: includes expanded by
pymdownx.snippets, exactly what the page shows) and run by the build's own executor
(explainer.engine.run_python: a fresh interpreter, an empty folder, the CPU, fixed
seeds). `test_outputs_match_a_fresh_run` runs every block of every post afresh and
compares what it prints with the stored output the site shows (outputs/<post>.json); a
block that fails, or prints something else, is named by its post and line, with a diff.
Blocks marked ``<!-- no-run: reason -->`` are the only ones not run.

Two more checks keep the posts honest about where their code comes from: every include
resolves, and no hand-written block re-types package code (a class deriving from
nn.Module, or three consecutive lines of a gmlp_snippets source).
"""

from __future__ import annotations

import difflib
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import REPO

from explainer import engine, export, outputs, posts
from explainer.blocks import Block, read_blocks
from explainer.engine import EngineError

POSTS = REPO / "posts"
POST = POSTS / "2024-02-02-blog-post-2.md"
PACKAGE = REPO / "gmlp_snippets"
STORE = REPO / "outputs"

_NN_MODULE_CLASS = re.compile(r"^\s*class\s+\w+\s*\([^)]*\bModule\b")


def _post_files() -> list[Path]:
    return sorted(p for p in POSTS.glob("*.md") if p.is_file())


# a broken include must not hide the other tests: it fails test_post_has_python_blocks
try:
    POST_BLOCKS, POST_BLOCKS_ERROR = read_blocks(POST), None
except EngineError as exc:
    POST_BLOCKS, POST_BLOCKS_ERROR = [], exc


def test_post_has_python_blocks():
    assert POST_BLOCKS_ERROR is None, (
        f"could not read the post's code blocks: {POST_BLOCKS_ERROR}"
    )
    assert len(POST_BLOCKS) >= 10
    assert any(b.includes for b in POST_BLOCKS) and any(
        not b.includes for b in POST_BLOCKS
    )


# ---------------------------------------------------------------------------
# every block runs, and prints what the page shows


def mismatches(results: list[outputs.PostOutputs], stored_dir: Path) -> list[str]:
    """For each block whose fresh output differs from the stored one: post, line and a
    diff."""
    problems = []
    for result in results:
        store = outputs.store_for(result.post, stored_dir)
        for block, key, fresh in zip(
            result.blocks, result.keys, result.outputs, strict=True
        ):
            if key is None:
                continue
            entry = store.entries.get(key)
            if entry is None:
                problems.append(
                    f"{block.where}: {store.path.name} has no output for this block "
                    "(its code or the package changed): run `make build`"
                )
                continue
            if entry["output"] != fresh.text:
                diff = "\n".join(
                    difflib.unified_diff(
                        entry["output"].splitlines(),
                        fresh.text.splitlines(),
                        f"stored ({store.path.name})",
                        "fresh run",
                        lineterm="",
                    )
                )
                problems.append(
                    f"{block.where}: prints something else than the page shows\n{diff}"
                )
    return problems


@pytest.mark.parametrize("post", _post_files(), ids=lambda p: p.name)
def test_outputs_match_a_fresh_run(post, tmp_path):
    try:
        fresh = outputs.collect([post], tmp_path, rerun=True)
    except EngineError as error:
        pytest.fail(str(error), pytrace=False)
    assert fresh[0].blocks, f"{post.name} has no Python block"
    problems = mismatches(fresh, STORE)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def test_a_changed_output_is_reported_with_its_line_and_a_diff(tmp_path):
    post = tmp_path / "2024-01-01-post.md"
    post.write_text(
        "---\ntitle: t\ndate: 2024-01-01\n---\n\ntext\n\n```python\nprint(1)\n```\n",
        encoding="utf-8",
    )
    results = outputs.collect([post], tmp_path / "store")
    assert mismatches(results, tmp_path / "store") == []
    block = results[0].blocks[0]
    outputs.store_for(post, tmp_path / "store").put(
        results[0].keys[0], {"line": block.line, "output": "2\n", "omitted_lines": 0}
    )
    (problem,) = mismatches(results, tmp_path / "store")
    assert problem.startswith(f"{block.post}:8: prints something else")
    assert "-2" in problem and "+1" in problem


# ---------------------------------------------------------------------------
# every include resolves (pymdownx.snippets, as strict as the site build)


def test_post_includes_package_code():
    targets = {target for b in POST_BLOCKS for target in b.includes}
    for needed in [
        "norm.py:layernorm",
        "projection.py:projection",
        "sgu.py:sgu",
        "sgu.py:tiny_attention",
        "model.py:block",
        "model.py:backbone",
        "model.py:lm",
        "model.py:vision",
    ]:
        assert f'--8<-- "gmlp_snippets/{needed}"' in targets, needed


@pytest.mark.parametrize("post", _post_files(), ids=lambda p: p.name)
def test_every_include_resolves(post):
    read_blocks(
        post
    )  # raises EngineError naming the post and line of a missing file or section


def test_a_missing_section_is_named_with_its_line(tmp_path):
    post = tmp_path / "post.md"
    post.write_text(
        'text\n\n```python\n--8<-- "gmlp_snippets/sgu.py:no_such_section"\n```\n',
        encoding="utf-8",
    )
    with pytest.raises(EngineError, match=r"post\.md:3: .*no_such_section"):
        read_blocks(post)
    post.write_text(
        '```python\n--8<-- "gmlp_snippets/no_such_file.py"\n```\n', encoding="utf-8"
    )
    with pytest.raises(EngineError, match=r"post\.md:1: .*no_such_file"):
        read_blocks(post)


def test_line_map_points_at_the_fences(tmp_path):
    post = tmp_path / "post.md"
    post.write_text(
        'text\n\n```python\n--8<-- "gmlp_snippets/norm.py:imports"\nprint(1)\n```\n\n'
        "```bash\nls\n```\n\n<!-- no-run: needs a GPU -->\n```python\nprint(2)\n```\n",
        encoding="utf-8",
    )
    blocks = read_blocks(post)
    assert [(b.line, b.runs, b.no_run) for b in blocks] == [
        (3, True, None),
        (13, False, "needs a GPU"),
    ]
    source = (PACKAGE / "norm.py").read_text(encoding="utf-8")
    section = source.split("# --8<-- [start:imports]\n")[1]
    imports = section.split("# --8<-- [end:imports]")[0]
    # the section as written, then the hand-written line
    assert blocks[0].code == imports + "print(1)\n"
    assert blocks[0].handwritten == ((5, "print(1)"),)
    assert blocks[0].includes == ('--8<-- "gmlp_snippets/norm.py:imports"',)


def test_a_no_run_mark_needs_a_reason(tmp_path):
    post = tmp_path / "post.md"
    post.write_text("<!-- no-run: -->\n```python\nprint(2)\n```\n", encoding="utf-8")
    with pytest.raises(
        EngineError, match=r"post\.md:1: a block marked not to run needs a reason"
    ):
        read_blocks(post)


# ---------------------------------------------------------------------------
# hand-written blocks do not re-type package code

_IMPORT = re.compile(r"^(import\s|from\s+\S+\s+import\s)")
_IDIOMS = {
    "opt.zero_grad",
    "optimizer.zero_grad",
    "loss.backward",
    "opt.step",
    "optimizer.step",
    "model.eval",
    "model.train",
}


def _meaningful(line: str) -> str | None:
    """The stripped line, or None for lines too common to count as copied (blank,
    comment, import, brackets)."""
    text = line.strip()
    if (
        not text
        or text.startswith("#")
        or _IMPORT.match(text)
        or not re.search(r"[A-Za-z0-9]", text)
    ):
        return None
    if text in {
        "else:",
        "try:",
        "finally:",
        "return",
        "pass",
        "continue",
        "break",
        '"""',
    }:
        return None
    if text.split("(")[0] in _IDIOMS and text.endswith(
        ")"
    ):  # every training loop has these
        return None
    return text


def _runs(lines: list[str], length: int = 3) -> set[tuple[str, ...]]:
    kept = [t for t in (_meaningful(line) for line in lines) if t is not None]
    return {tuple(kept[i : i + length]) for i in range(len(kept) - length + 1)}


# the package's model code: its top-level modules (the figures subpackage is tooling,
# not shown in posts)
PACKAGE_RUNS = set().union(
    *(_runs(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py"))
)


def copied_runs(lines: list[str]) -> set[tuple[str, ...]]:
    return _runs(lines) & PACKAGE_RUNS


def test_copy_check_catches_copied_lines():
    sgu_lines = (PACKAGE / "sgu.py").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(sgu_lines) if "z1, z2 = z.chunk" in line)
    assert copied_runs(sgu_lines[start : start + 4])
    assert not copied_runs(
        [
            "import torch",
            "from torch import nn",
            "from gmlp_snippets import LayerNorm",
            "x = torch.randn(2, 3)",
            "print(x)",
        ]
    )


@pytest.mark.parametrize(
    "block", POST_BLOCKS, ids=[f"line-{b.line}" for b in POST_BLOCKS]
)
def test_handwritten_code_does_not_copy_the_package(block: Block):
    lines = [text for _, text in block.handwritten]
    for number, text in block.handwritten:
        assert not _NN_MODULE_CLASS.match(text), (
            f"{block.post}:{number}: "
            "a module class belongs in gmlp_snippets and is included from there"
        )
    copied = copied_runs(lines)
    assert not copied, (
        f"{block.where}: hand-written lines repeat gmlp_snippets code: {min(copied)}"
    )


# ---------------------------------------------------------------------------
# a reader without the repository: the one-file gmlp.py and `from gmlp import ...`

_FROM_PACKAGE = re.compile(r"^from gmlp_snippets(\.\w+)? import", re.MULTILINE)


def test_every_block_prints_the_same_with_the_one_file_gmlp_py(tmp_path):
    """What the post tells a reader to do when the package is not installed: put gmlp.py
    beside the code and import from `gmlp`. Every block must then print what the page
    shows, with gmlp_snippets out of reach."""
    download = posts.read_post(str(POST), "post").settings["download"]
    (tmp_path / "gmlp.py").write_text(export.render(download), encoding="utf-8")
    store = outputs.store_for(POST, STORE)
    runs = [b for b in POST_BLOCKS if b.runs]
    keys = [engine.key(**engine.recipe(b.code)) for b in runs]
    stored = [store.entries.get(key) for key in keys]
    assert None not in stored, "the store is out of date: run `make build`"

    def run(block: Block) -> engine.Run:
        code = _FROM_PACKAGE.sub("from gmlp import", block.code)
        assert "gmlp_snippets" not in code, f"{block.where}: imports the package"
        return engine.run_python(code, 300, env={"PYTHONPATH": str(tmp_path)})

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, runs))
    problems = [
        f"{block.where}: {result.error or 'prints something else'}\n{result.tail()}"
        for block, entry, result in zip(runs, stored, results, strict=True)
        if not result.ok or result.output != entry["output"]
    ]
    assert not problems, "\n\n".join(problems)
