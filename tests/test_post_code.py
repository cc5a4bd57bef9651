"""The code the post shows: every Python block runs as a reader would copy it.

The post includes the package's code with pymdownx.snippets (``--8<-- "gmlp_snippets/sgu.py:sgu"``).
These tests expand the includes with the extension itself, cut the expanded post into fenced
blocks, and run each ```python block in a fresh interpreter on the CPU, in an empty directory,
with a timeout: no state is shared between blocks, so a block that builds on an earlier one
must import what it needs. A failing block is named by the line of its opening fence in the
post (test id ``line-123``) and its stderr is shown.

Two more checks keep the post honest about where its code comes from: every include resolves
(file and section exist), and no hand-written block re-types package code (a class deriving
from nn.Module, or three consecutive lines of a gmlp_snippets source).

Environment: POST_CODE_TIMEOUT (seconds per block, default 120), POST_CODE_WORKERS (blocks run
at the same time, default min(2, CPU count)).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import markdown
import pytest
from pymdownx.snippets import SnippetMissingError

REPO = Path(__file__).resolve().parents[1]
POSTS = REPO / "posts"
POST = POSTS / "2024-02-02-blog-post-2.md"
PACKAGE = REPO / "gmlp_snippets"

TIMEOUT = float(os.environ.get("POST_CODE_TIMEOUT", "120"))
WORKERS = max(1, int(os.environ.get("POST_CODE_WORKERS", str(min(2, os.cpu_count() or 1)))))

# a snippet include line: --8<-- "path" or --8<-- "path:section" (the inline form the posts use)
_INCLUDE = re.compile(r"""^[ \t]*-{1,}8<-{1,}[ \t]+(["'])(?P<target>.+?)\1[ \t]*$""")
_SECTION_MARKER = re.compile(r"#\s*-{1,}8<-{1,}\s*\[\s*(?P<type>start|end)\s*:\s*(?P<name>[A-Za-z][-_0-9A-Za-z]*)\s*\]")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_NN_MODULE_CLASS = re.compile(r"^\s*class\s+\w+\s*\([^)]*\bModule\b")


# ---------------------------------------------------------------------------
# expanding the includes, keeping track of where each line came from


def _snippet_preprocessor(check_paths: bool = True):
    md = markdown.Markdown(
        extensions=["pymdownx.snippets"],
        extension_configs={"pymdownx.snippets": {"base_path": [str(REPO)], "check_paths": check_paths}},
    )
    return md.preprocessors["snippet"]


def expand(lines: list[str], name: str = "post") -> list[tuple[int, str]]:
    """The lines with their includes expanded, each paired with the 1-based source line it came from."""
    snippets = _snippet_preprocessor()
    expanded: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        try:
            expanded.extend((number, new) for new in snippets.run([line]))
        except SnippetMissingError as exc:
            raise SnippetMissingError(f"{name}:{number}: {exc}") from exc
    # line by line must equal the whole at once (it would not with multi-line `-8<-` blocks)
    assert [text for _, text in expanded] == snippets.run(list(lines)), \
        "expanding line by line differs from expanding the whole file: use one-line --8<-- includes"
    return expanded


@dataclass(frozen=True)
class Block:
    line: int  # line of the opening fence in the post (1-based)
    lang: str
    code: str  # the body with includes expanded: what a reader copies
    handwritten: tuple[tuple[int, str], ...]  # (source line, text) of the lines that are not includes
    includes: tuple[str, ...]  # the targets of the block's --8<-- lines

    @property
    def id(self) -> str:
        return f"line-{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, includes expanded."""
    source = path.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    opening: tuple[int, str, str] | None = None  # (source line, fence, language)
    body: list[tuple[int, str]] = []
    for number, text in expand(source, path.name):
        match = _FENCE.match(text)
        if opening is None:
            if match:
                info = match.group("info").strip()
                if match.group("fence")[0] == "`" and "`" in info:
                    continue  # inline code such as ```x``` on one line, not a fence
                lang = info.split()[0].lstrip(".").lower() if info else ""
                opening, body = (number, match.group("fence"), lang), []
            continue
        fence = opening[1]
        if match and match.group("fence")[0] == fence[0] and len(match.group("fence")) >= len(fence) \
                and not match.group("info").strip():
            line, _, lang = opening
            source_lines = sorted({n for n, _ in body})
            handwritten = tuple((n, source[n - 1]) for n in source_lines if not _INCLUDE.match(source[n - 1]))
            includes = tuple(_INCLUDE.match(source[n - 1]).group("target")
                             for n in source_lines if _INCLUDE.match(source[n - 1]))
            code = textwrap.dedent("\n".join(t for _, t in body)) + "\n"
            blocks.append(Block(line, lang, code, handwritten, includes))
            opening = None
            continue
        body.append((number, text))
    assert opening is None, f"{path.name}:{opening[0]}: code fence never closed"
    return blocks


def python_blocks(path: Path = POST) -> list[Block]:
    return [b for b in fenced_blocks(path) if b.lang in {"python", "py", "python3"}]


try:  # a broken include must not hide the other tests: it fails test_post_has_python_blocks instead
    POST_BLOCKS, POST_BLOCKS_ERROR = python_blocks(), None
except (SnippetMissingError, AssertionError) as exc:
    POST_BLOCKS, POST_BLOCKS_ERROR = [], exc


# ---------------------------------------------------------------------------
# running the blocks: each in its own interpreter, two at a time


def run_block(block: Block, workdir: Path) -> subprocess.CompletedProcess:
    script = workdir / f"post_line_{block.line}.py"
    script.write_text(block.code, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["CUDA_VISIBLE_DEVICES"] = ""  # the reader's laptop: CPU only
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // WORKERS)))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        return subprocess.run([sys.executable, script.name], check=False, cwd=workdir, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(exc.cmd, returncode=-1, stdout=exc.stdout or "",
                                           stderr=f"timed out after {TIMEOUT:.0f} s")


@pytest.fixture(scope="module")
def block_runs(request, tmp_path_factory):
    """Start every selected block at once (WORKERS at a time); each test waits for its own."""
    selected: dict[int, Block] = {}
    for item in request.session.items:
        if getattr(item, "module", None) is request.module and item.originalname == "test_post_block_runs":
            block = item.callspec.params["block"]
            selected.setdefault(block.line, block)
    pool = ThreadPoolExecutor(max_workers=WORKERS)
    futures: dict[int, Future] = {
        line: pool.submit(run_block, block, tmp_path_factory.mktemp(block.id)) for line, block in selected.items()
    }
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def test_post_has_python_blocks():
    assert POST_BLOCKS_ERROR is None, f"could not read the post's code blocks: {POST_BLOCKS_ERROR}"
    assert len(POST_BLOCKS) >= 10
    assert any(b.includes for b in POST_BLOCKS) and any(not b.includes for b in POST_BLOCKS)


def failure_message(block: Block, result: subprocess.CompletedProcess) -> str | None:
    """None if the block ran cleanly, else what went wrong, naming the block's line in the post."""
    if result.returncode == 0:
        return None
    return (f"the Python block at {POST.relative_to(REPO)}:{block.line} failed (exit {result.returncode})\n"
            f"--- stderr ---\n{result.stderr}\n--- stdout ---\n{result.stdout}")


@pytest.mark.parametrize("block", POST_BLOCKS, ids=[b.id for b in POST_BLOCKS])
def test_post_block_runs(block, block_runs):
    message = failure_message(block, block_runs[block.line].result())
    if message:
        pytest.fail(message, pytrace=False)


def test_a_failing_block_is_reported_with_its_line(tmp_path):
    block = Block(line=123, lang="python", code="print('before')\nraise ValueError('boom')\n",
                  handwritten=(), includes=())
    message = failure_message(block, run_block(block, tmp_path))
    assert message is not None
    assert "posts/2024-02-02-blog-post-2.md:123" in message
    assert "ValueError: boom" in message and "before" in message
    assert failure_message(block, run_block(Block(1, "python", "print('ok')\n", (), ()), tmp_path)) is None


# ---------------------------------------------------------------------------
# every include resolves


def _sections(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _SECTION_MARKER.search(line):
            found.setdefault(m.group("name"), []).append(m.group("type"))
    return found


def _split_target(target: str) -> tuple[str, str | None]:
    path, _, section = target.rpartition(":")
    if path and re.fullmatch(r"[A-Za-z][-_0-9A-Za-z]*", section):
        return path, section
    return target, None


def _post_files() -> list[Path]:
    return sorted(p for p in POSTS.rglob("*.md") if p.is_file())


def _includes(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    return [(n, m.group("target")) for n, line in enumerate(lines, start=1) if (m := _INCLUDE.match(line))]


def test_post_includes_package_code():
    targets = {target for _, target in _includes(POST)}
    for needed in ["norm.py:layernorm", "projection.py:projection", "sgu.py:sgu", "sgu.py:tiny_attention",
                   "model.py:block", "model.py:backbone", "model.py:lm", "model.py:vision"]:
        assert f"gmlp_snippets/{needed}" in targets, needed


@pytest.mark.parametrize("post", _post_files(), ids=lambda p: p.name)
def test_every_include_resolves(post):
    for number, target in _includes(post):
        where = f"{post.relative_to(REPO)}:{number}: --8<-- {target!r}"
        path, section = _split_target(target)
        file = (REPO / path).resolve()
        assert file.is_relative_to(REPO) and file.is_file(), f"{where}: no such file in the repository"
        if section is not None:
            markers = _sections(file).get(section)
            assert markers == ["start", "end"], f"{where}: section {section!r} needs one start and one end " \
                                                f"marker in {path}, found {markers}"
    # and the extension itself, as strict as the site build
    _snippet_preprocessor(check_paths=True).run(post.read_text(encoding="utf-8").split("\n"))


def test_include_check_catches_a_missing_section(tmp_path):
    snippets = _snippet_preprocessor(check_paths=True)
    with pytest.raises(SnippetMissingError):
        snippets.run(['--8<-- "gmlp_snippets/sgu.py:no_such_section"'])
    with pytest.raises(SnippetMissingError):
        snippets.run(['--8<-- "gmlp_snippets/no_such_file.py"'])


def test_line_map_points_at_the_fences(tmp_path):
    post = tmp_path / "post.md"
    post.write_text('text\n\n```python\n--8<-- "gmlp_snippets/norm.py:imports"\nprint(1)\n```\n\n'
                    '```bash\nls\n```\n\n```python\nprint(2)\n```\n', encoding="utf-8")
    blocks = fenced_blocks(post)
    assert [(b.line, b.lang) for b in blocks] == [(3, "python"), (8, "bash"), (12, "python")]
    assert blocks[0].code == "import torch\nfrom torch import nn\nprint(1)\n"
    assert blocks[0].handwritten == ((5, "print(1)"),)
    assert blocks[0].includes == ("gmlp_snippets/norm.py:imports",)


# ---------------------------------------------------------------------------
# hand-written blocks do not re-type package code

_IMPORT = re.compile(r"^(import\s|from\s+\S+\s+import\s)")
_IDIOMS = {"opt.zero_grad", "optimizer.zero_grad", "loss.backward", "opt.step", "optimizer.step",
           "model.eval", "model.train"}


def _meaningful(line: str) -> str | None:
    """The stripped line, or None for lines too common to count as copied (blank, comment, import, brackets)."""
    text = line.strip()
    if not text or text.startswith("#") or _IMPORT.match(text) or not re.search(r"[A-Za-z0-9]", text):
        return None
    if text in {"else:", "try:", "finally:", "return", "pass", "continue", "break", '"""'}:
        return None
    if text.split("(")[0] in _IDIOMS and text.endswith(")"):  # every training loop has these
        return None
    return text


def _runs(lines: list[str], length: int = 3) -> set[tuple[str, ...]]:
    kept = [t for t in (_meaningful(line) for line in lines) if t is not None]
    return {tuple(kept[i:i + length]) for i in range(len(kept) - length + 1)}


# the package's model code: its top-level modules (the figures subpackage is tooling, not shown in posts)
PACKAGE_RUNS = set().union(*(_runs(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.glob("*.py")))


def copied_runs(lines: list[str]) -> set[tuple[str, ...]]:
    return _runs(lines) & PACKAGE_RUNS


def test_copy_check_catches_copied_lines():
    sgu_lines = (PACKAGE / "sgu.py").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(sgu_lines) if "z1, z2 = z.chunk" in line)
    assert copied_runs(sgu_lines[start:start + 4])
    assert not copied_runs(["import torch", "from torch import nn", "from gmlp_snippets import LayerNorm",
                            "x = torch.randn(2, 3)", "print(x)"])


@pytest.mark.parametrize("block", POST_BLOCKS, ids=[b.id for b in POST_BLOCKS])
def test_handwritten_code_does_not_copy_the_package(block):
    lines = [text for _, text in block.handwritten]
    for number, text in block.handwritten:
        assert not _NN_MODULE_CLASS.match(text), \
            f"{POST.name}:{number}: a module class belongs in gmlp_snippets and is included from there"
    copied = copied_runs(lines)
    assert not copied, f"{POST.name}:{block.line}: hand-written lines repeat gmlp_snippets code: {min(copied)}"
