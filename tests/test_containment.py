"""What a post's Python block can do at build time, and what it cannot.

Each case injects one hostile or careless block (or an interrupt) and checks the
message, that nothing of it was stored, that no secret leaked and that no process or
folder was left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import REPO, article_html

from explainer import engine, outputs
from explainer.engine import EngineError

pytestmark = pytest.mark.faults
HEAD = "---\ntitle: Một bài thử\ndate: 2024-01-01\n---\n\nMở đầu.\n\n"
LINUX = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="processes are contained on Linux"
)


def write_post(folder: Path, *blocks: str, text: str | None = None) -> Path:
    """A post of `text`, or of Python `blocks` (the first fence is on line 8)."""
    body = "\n\nVăn xuôi.\n\n".join(f"```python\n{b.rstrip()}\n```" for b in blocks)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "2024-01-01-thu.md"
    path.write_text(HEAD + (text if text is not None else body + "\n"), "utf-8")
    return path


def stored(store: Path) -> list[dict]:
    path = store / "2024-01-01-thu.json"
    return list(json.loads(path.read_text("utf-8"))["blocks"].values())


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def all_gone(pids, within: float = 10.0) -> bool:
    deadline = time.time() + within
    while any(map(running, pids)):
        if time.time() > deadline:
            return False
        time.sleep(0.1)
    return True


def wait_for(path: Path, within: float = 120.0) -> str:
    deadline = time.time() + within
    while not (path.is_file() and path.read_text().strip()):
        assert time.time() < deadline, f"{path.name} never came"
        time.sleep(0.1)
    return path.read_text()


# ---- the environment: no secret reaches a block --------------------------------------


def test_a_block_sees_only_an_allow_listed_environment(tmp_path, monkeypatch):
    secret = "ghp_containment0123456789secret"
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "elsewhere"))
    name = f"made-by-a-block-{os.getpid()}.txt"
    post = write_post(
        tmp_path,
        "import os, pathlib\n"
        "print(os.environ.get('GITHUB_TOKEN'), os.environ['PYTHONPATH'])\n"
        "print(sorted(os.environ))\n"
        f"(pathlib.Path.home() / {name!r}).write_text('x')\n",
    )
    [result] = outputs.collect([post], tmp_path / "store")
    token, names = result.outputs[0].text.splitlines()
    assert token == f"None {REPO}"
    fixed = {"CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "COLUMNS"}
    fixed |= {"PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}
    fixed |= {"PYTHONUTF8", "MPLBACKEND", "HOME", "TMPDIR", "PYTHONPATH", "PATH"}
    extra = set(eval(names)) - fixed  # noqa: S307 - a list of names the block printed
    assert all(n == "LANG" or n.startswith("LC_") for n in extra), extra
    assert secret not in (tmp_path / "store" / "2024-01-01-thu.json").read_text("utf-8")
    assert not (Path.home() / name).exists()  # HOME was a temporary folder


# ---- the work tree: a block that writes into the repository fails the build ----------


def test_a_block_that_writes_into_the_work_tree_fails_naming_it_and_the_files(
    tmp_path,
):
    repo = tmp_path / "repo"
    (repo / "posts").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "notes.txt").write_text("gốc\n", "utf-8")
    post = write_post(
        repo / "posts",
        "print('sạch')",
        "from pathlib import Path\n"
        f"Path({str(repo / 'posts' / 'INJECTED.md')!r}).write_text('# pwned')\n"
        f"Path({str(repo / 'notes.txt')!r}).write_text('đổi')\n"
        "print('bẩn')",
    )
    store = repo / "outputs"  # in the work tree: the build's own writes do not count
    with pytest.raises(EngineError) as error:
        outputs.collect([post], store, root=repo, workers=1)
    message = str(error.value)
    assert "2024-01-01-thu.md:14" in message and "2024-01-01-thu.md:8" not in message
    assert "posts/INJECTED.md (new)" in message and "notes.txt (changed)" in message
    assert "write only in its working folder" in message
    assert [e["output"] for e in stored(store)] == ["sạch\n"]  # not the writer's
    assert (repo / "posts" / "INJECTED.md").read_text() == "# pwned"  # left to see


# ---- processes: none outlives its block, not even when the build is killed -----------

SPAWN = """\
import os, subprocess, time
pids = [subprocess.Popen(["sleep", "300"]).pid]
read, write = os.pipe()
if os.fork() == 0:  # a daemon: double fork, new session
    os.setsid()
    pid = os.fork()
    if pid == 0:
        time.sleep(300)
        os._exit(0)
    os.write(write, str(pid).encode())
    os._exit(0)
pids.append(int(os.read(read, 32)))
pids += [os.getpid(), os.getppid()]
"""


@LINUX
@pytest.mark.parametrize("then, timeout", [("", 60), ("while True:\n    pass", 3)])
def test_no_process_a_block_starts_outlives_it(tmp_path, then, timeout):
    pids = tmp_path / "pids"
    code = f"{SPAWN}open({str(pids)!r}, 'w').write(' '.join(map(str, pids)))\n{then}"
    run = engine.run_python(code, timeout)
    assert run.ok if not then else "past its timeout of 3 s" in run.error
    assert run.seconds < 30
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 4 and all_gone(started)


@LINUX
def test_a_killed_build_leaves_no_process_and_its_folder_goes_at_the_next_run(
    tmp_path,
):
    temp, pids = tmp_path / "temp", tmp_path / "pids"
    temp.mkdir()
    code = f"{SPAWN}open({str(pids)!r}, 'w').write(' '.join(map(str, pids)))\n"
    code += "time.sleep(300)\n"
    build = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from explainer import engine\nengine.run_python({code!r}, 600)",
        ],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(temp)},
        start_new_session=True,
    )
    started = [int(p) for p in wait_for(pids).split()]
    build.kill()  # kill -9: no cleanup code of the build runs
    build.wait()
    assert all_gone(started)
    left = list(temp.glob(f"explainer-run-{build.pid}-*"))
    assert len(left) == 1
    alive = temp / f"explainer-run-{os.getppid()}-of-a-live-build"
    alive.mkdir()
    engine.remove_dead_runs(temp)
    assert not left[0].exists() and alive.is_dir()


@LINUX
def test_ctrl_c_stops_the_build_within_seconds_and_stores_nothing_half_done(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    mark = f"os.path.join({str(marks)!r}, str(os.getpid()))"
    slow = (
        f"import os, time\nopen({mark}, 'w').write(str(os.getppid()))\n"
        "time.sleep(300)\nprint('chậm')"
    )
    post = write_post(
        tmp_path / "posts", "print('nhanh')", slow, slow.replace("chậm", "chậm 2")
    )
    store = tmp_path / "store"
    build = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from explainer import outputs; from pathlib import "
            f"Path\noutputs.collect([Path({str(post)!r})], Path({str(store)!r}), "
            "workers=2)",
        ],
        cwd=REPO,
        start_new_session=True,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while len([m for m in marks.iterdir() if m.read_text()]) < 2:
        assert time.time() < deadline and build.poll() is None, "the blocks never ran"
        time.sleep(0.1)
    started = [int(p.name) for p in marks.iterdir()]
    started += [int(p.read_text()) for p in marks.iterdir()]
    sent = time.time()
    build.send_signal(signal.SIGINT)
    _, err = build.communicate(timeout=60)
    assert time.time() - sent < 10, "Ctrl-C waited for the blocks"
    assert build.returncode != 0 and "KeyboardInterrupt" in err
    assert all_gone(started)
    assert [e["output"] for e in stored(store)] == ["nhanh\n"]
    assert not list(store.glob(".*.tmp"))


# ---- output: capped while it is written, and the cut note is true --------------------

M = engine.MAX_OUTPUT_BYTES


@pytest.mark.parametrize(
    "code, shown, lines, cut",
    [
        ("import sys\nsys.stdout.write('x' * 10_000_000)", "x" * M, 0, 10**7 - M),
        ("print('x' * 10_000_000)", "x" * M, 0, 10**7 + 1 - M),
        ("print('ệ' * 40_000)", "ệ" * (M // 3), 0, 120_001 - M // 3 * 3),
        (
            "for i in range(10):\n    print(str(i) * 9_999)",
            "".join(str(i) * 9_999 + "\n" for i in range(6)),
            4,
            40_000,
        ),
        (
            "for i in range(300):\n    print(i)",
            "".join(f"{i}\n" for i in range(200)),
            100,
            sum(len(f"{i}\n") for i in range(200, 300)),
        ),
    ],
    ids=[
        "10MB-no-newline",
        "10MB-line",
        "cut-inside-a-character",
        "long-lines",
        "many-lines",
    ],
)
def test_a_long_output_is_cut_and_says_what_was_cut(code, shown, lines, cut):
    run = engine.run_python(code, 60)
    assert run.ok, run.error
    assert run.output == shown
    assert (run.omitted_lines, run.omitted_bytes) == (lines, cut)
    shown_notes = outputs.notes(outputs.Output(run.output, lines, cut))
    assert shown_notes == [
        f"… còn {lines} dòng nữa, đã được cắt bớt."
        if lines
        else f"… còn {cut} byte nữa (dòng cuối bị cắt giữa chừng), đã được cắt bớt."
    ]


def test_an_endless_printer_is_stopped_at_the_cap_and_nothing_is_stored(tmp_path):
    post = write_post(tmp_path, "print('trước')", "while True:\n    print('y' * 999)")
    start = time.time()
    with pytest.raises(EngineError) as error:
        outputs.collect([post], tmp_path / "store", timeout=120)
    assert time.time() - start < 60  # stopped at the cap, not at the timeout
    message = str(error.value)
    assert "2024-01-01-thu.md:14" in message
    assert f"printed more than {engine.MAX_OUTPUT_READ / 1e6:g} MB" in message
    assert [e["output"] for e in stored(tmp_path / "store")] == ["trước\n"]


def test_control_characters_are_shown_escaped_with_a_count(tmp_path):
    post = write_post(
        tmp_path, "print('a\\x1b[31mđỏ\\x07\\x00 ok\\tcuối\\r')\nprint('\\x9b')"
    )
    [result] = outputs.collect([post], tmp_path / "store")
    expected = "a\\x1b[31mđỏ\\x07\\x00 ok\tcuối\\x0d\n\\x9b\n"
    assert result.outputs[0].text == expected and result.outputs[0].escaped == 5
    [entry] = stored(tmp_path / "store")
    assert entry["output"] == expected and entry["escaped"] == 5
    html = outputs.render(result.outputs[0])
    assert "5 ký tự điều khiển được hiện dưới dạng \\xNN." in html
    assert not any(chr(c) in html for c in (0, 7, 0x1B, 0x9B))


# ---- only what the reader sees runs --------------------------------------------------

HIDDEN = textwrap.dedent(
    """\
    ```python
    print('thấy')
    ```

    <!-- an old version, kept for later
    ```python
    print('ẩn trong comment')
    ```
    -->

    An indented code block shows a fence as text:

        ```python
        print('chỉ là chữ')
        ```

    1. A list item holds a real fence:

        ```python
        print('trong list')
        ```

    <!-- NO-RUN: cần GPU -->
    ```python
    raise SystemExit(3)
    ```

    <!--no_run :lạ-->
    ```python
    raise SystemExit(4)
    ```
    """
)


def test_only_the_blocks_the_page_shows_are_run(tmp_path):
    post = write_post(tmp_path, text=HIDDEN)
    [result] = outputs.collect([post], tmp_path / "store")
    assert [b.line for b in result.blocks] == [8, 26, 31, 36]
    assert [o and o.text for o in result.outputs] == [
        "thấy\n",
        "trong list\n",
        None,
        None,
    ]
    assert [b.no_run for b in result.blocks[2:]] == ["cần GPU", "lạ"]
    text = (tmp_path / "store" / "2024-01-01-thu.json").read_text("utf-8")
    assert "ẩn trong comment" not in text and "chỉ là chữ" not in text


@pytest.mark.parametrize("mark", ["<!-- NO-RUN -->", "<!-- No-Run: -->"])
def test_an_opt_out_without_a_reason_is_named(tmp_path, mark):
    post = write_post(tmp_path, text=f"{mark}\n```python\nprint(1)\n```\n")
    with pytest.raises(EngineError, match=r"2024-01-01-thu\.md:8: .*needs a reason"):
        outputs.collect([post], tmp_path / "store")
    assert not (tmp_path / "store").exists()


@pytest.mark.site
def test_the_built_page_shows_an_output_under_each_shown_block_only(mkdocs, tmp_path):
    posts = tmp_path / "posts"
    write_post(posts, text=HIDDEN)
    result = mkdocs(
        "build",
        "--site-dir",
        str(tmp_path / "site"),
        posts_dir=posts,
        outputs_dir=tmp_path / "outputs",
        figures_check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    [page] = (tmp_path / "site").glob("posts/2024/01/*/index.html")
    article = article_html(tmp_path / "site", page.relative_to(tmp_path / "site"))
    shown = [o.split("</code>")[0] for o in article.split('class="exec-output"')[1:]]
    assert len(shown) == 2 and "thấy" in shown[0] and "trong list" in shown[1]
