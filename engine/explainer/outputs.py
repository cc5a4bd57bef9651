"""What each Python block of a post prints: run at build, stored per post
(``<outputs_dir>/<post file stem>.json``, committed), shown under the block.

An entry is reused while its key (engine.recipe) holds; the other blocks run in
parallel, each recorded as soon as it finishes. A failing block stops the build with its
post, line and the end of its output, and nothing of it is stored.
"""

from __future__ import annotations

import contextlib
import html
import os
import subprocess
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from explainer import engine
from explainer.blocks import Block, Markdown, read_blocks
from explainer.engine import REPO, EngineError, Store

FORMAT = 1
DEFAULT_DIR = "outputs"
DEFAULT_TIMEOUT = 300.0  # seconds per block
HINT = (
    "written by the site build (make build / make serve): each block's output, keyed "
    "on its code, the local modules it imports (sources) and the Python and torch "
    "versions"
)
LABEL = "Kết quả"  # shown above every output
_COUNTS = ("omitted_lines", "omitted_bytes", "escaped")  # an entry's notes, as Run's


@dataclass(frozen=True)
class Output:
    text: str
    omitted_lines: int = 0
    omitted_bytes: int = 0  # a cut inside a line counts bytes only (omitted_lines 0)
    escaped: int = 0  # control characters shown as \xNN


def _valid(entry) -> bool:
    def count(value, least: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    return (
        isinstance(entry, dict)
        and isinstance(entry.get("output"), str)
        and count(entry.get("line"), 1)
        and all(count(entry.get(name, 0), 0) for name in _COUNTS)
    )


def store_for(post: Path, outputs_dir: Path) -> Store:
    return Store(
        Path(outputs_dir) / f"{Path(post).stem}.json",
        "blocks",
        format=FORMAT,
        header={"hint": HINT, "post": engine._shown(post)},
        valid=_valid,
        order=lambda name, entry: entry.get("line", 0),
        setting="GMLP_OUTPUTS_DIR (outputs_dir of the explainer plugin)",
    )


@dataclass
class PostOutputs:
    """The blocks of one post and the output of each (None: a block marked no-run)."""

    post: Path
    store: Store
    blocks: list[Block]
    keys: list[str | None]
    outputs: list[Output | None]

    def line(self, name: str) -> int:
        """The line an entry records: that of the first block with its key."""
        return self.blocks[self.keys.index(name)].line


def _output(entry: dict) -> Output:
    return Output(entry["output"], *(entry.get(name, 0) for name in _COUNTS))


def _tree(root: Path, skip: tuple[str, ...]) -> dict[str, tuple] | None:
    """(mtime, size) of each file of the git work tree at `root` that git does not
    ignore, but under `skip`; None when it is not a git work tree."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode("utf-8", "surrogateescape")
    except (OSError, subprocess.SubprocessError):
        return None
    tree = {}
    for name in filter(None, listed.split("\0")):
        with contextlib.suppress(OSError):  # a file not there: as one not listed
            if not name.startswith(skip):
                stat = os.lstat(Path(root, name))
                tree[name] = (stat.st_mtime_ns, stat.st_size)
    return tree


def _changes(before: dict, after: dict) -> list[str]:
    """The files that differ between two `_tree`s, each with what happened to it."""
    changes = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old != new:
            what = "new" if old is None else "deleted" if new is None else "changed"
            changes.append(f"{name} ({what})")
    return changes


def collect(
    posts: Iterable[Path],
    outputs_dir: Path,
    timeout: float = DEFAULT_TIMEOUT,
    workers: int = 2,
    root: Path = REPO,
    rerun: bool = False,
    md: Markdown | None = None,
    texts: Iterable[str] | None = None,
) -> list[PostOutputs]:
    """Read every post's blocks, reuse stored outputs, run the others (in parallel;
    all of them with rerun=True). Raises EngineError naming every failed block, after
    recording the others. A change of the git work tree at `root` while blocks ran
    fails them, naming the files, and stops the rest; so does Ctrl-C."""
    results: list[PostOutputs] = []
    todo: list[tuple[PostOutputs, int, dict]] = []  # the blocks to run, their recipes
    posts = list(posts)
    texts = list(texts) if texts is not None else [None] * len(posts)
    for post, text in zip(posts, texts, strict=True):
        blocks = read_blocks(Path(post), root, text, md)
        recipes = [engine.recipe(b.code, root) if b.runs else None for b in blocks]
        keys = [engine.key(**r) if r else None for r in recipes]
        result = PostOutputs(Path(post), store_for(post, outputs_dir), blocks, keys, [])
        for index, name in enumerate(keys):
            entry = result.store.get(name) if name and not rerun else None
            result.outputs.append(_output(entry) if entry else None)
            if name and entry is None:
                todo.append((result, index, recipes[index]))
            elif entry is not None and entry.get("line") != result.line(name):
                # the block moved: keep the store's line numbers true for its readers
                result.store.put(name, {**entry, "line": result.line(name)})
        results.append(result)

    stop, lock, running, changed = threading.Event(), threading.Lock(), [], []
    top = Path(root).resolve()
    skip = tuple(
        f"{folder.resolve().relative_to(top).as_posix()}/"
        for folder in {Path(outputs_dir), Path(root, DEFAULT_DIR)}
        if folder.resolve().is_relative_to(top)
    )
    before = _tree(root, skip) if todo else None

    def run(item: tuple[PostOutputs, int, dict]) -> str | None:
        result, index, recipe = item
        block, name = result.blocks[index], result.keys[index]
        if stop.is_set():
            return None
        with lock:
            running.append(block.where)
        env = {"PYTHONPATH": str(root)}  # any package at the root, no install
        done = engine.run_python(
            block.code, timeout, f"line_{block.line}.py", env, stop
        )
        with lock:
            files = _changes(before, _tree(root, skip) or before) if before else []
            if files and not changed:
                changed.append(
                    f"the repository's files changed while the Python block(s) at "
                    f"{', '.join(running)} ran: {', '.join(files[:10])}. A block "
                    "must write only in its working folder (a temporary one); its "
                    "output was not stored. If you changed these files yourself "
                    "meanwhile, build again."
                )
                stop.set()  # the other blocks: nothing is stored after a change
            running.remove(block.where)
        if stop.is_set():  # interrupted, or the tree changed: nothing of it is stored
            return None
        if not done.ok:
            return (
                f"the Python block at {block.where} failed: {done.error}\n"
                f"--- last lines of its output ---\n{done.tail()}"
            )
        entry = {
            "line": result.line(name),
            "output": done.output,
            **{count: getattr(done, count) for count in _COUNTS},
            "seconds": round(done.seconds, 1),
            **{k: v for k, v in recipe.items() if k != "code"},
        }
        result.outputs[index] = _output(entry)
        if not rerun:
            result.store.put(name, entry)
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            failures = [message for message in pool.map(run, todo) if message]
        except BaseException:  # Ctrl-C: stop the running blocks now
            stop.set()
            pool.shutdown(cancel_futures=True)
            raise
    if failures or changed:
        raise EngineError("\n\n".join(changed + failures))
    return results


def prune(results: Iterable[PostOutputs]) -> None:
    """Drop the stored entries of blocks that no longer exist (after a good build)."""
    for result in results:
        result.store.prune(k for k in result.keys if k)


def notes(output: Output) -> list[str]:
    """What the shown output is not: cut lines or bytes, escaped control characters."""
    found = []
    if output.omitted_lines:
        found.append(f"… còn {output.omitted_lines} dòng nữa, đã được cắt bớt.")
    elif output.omitted_bytes:
        found.append(
            f"… còn {output.omitted_bytes} byte nữa (dòng cuối bị cắt giữa chừng), "
            "đã được cắt bớt."
        )
    if output.escaped:
        found.append(f"{output.escaped} ký tự điều khiển được hiện dưới dạng \\xNN.")
    return found


def render(output: Output) -> str:
    """The HTML shown under a block: nothing for an empty output."""
    if not output.text.strip():
        return ""
    # newlines as &#10;: the whole output is one line of raw HTML, so no blank or
    # indented line inside it can end the HTML block or be read as Markdown
    text = html.escape(output.text.rstrip("\n"), quote=False).replace("\n", "&#10;")
    note = "".join(f'<p class="exec-output__note">{n}</p>' for n in notes(output))
    return (
        f'<div class="exec-output">\n<p class="exec-output__label">{LABEL}</p>\n'
        f"<pre><code>{text}</code></pre>{note}\n</div>"
    )
