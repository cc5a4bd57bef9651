"""The executed posts: the engine (executor, store), the outputs of the blocks, the post
as a notebook, and the hook that shows outputs under their blocks.

The fault cases (marked `faults`) each inject one fault and check two things: the
message names the post, line or file at fault, and nothing was lost or half-written.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, article_html

from explainer import engine, measured, notebook, outputs, posts
from explainer.engine import EngineError, Store
from explainer.figures import cache, registry

POST = REPO / "posts" / "2024-02-02-blog-post-2.md"
HEAD = "---\ntitle: Một bài thử\ndate: 2024-01-01\n---\n\nMở đầu.\n\n"


def write_post(folder: Path, *blocks: str, name: str = "2024-01-01-thu.md") -> Path:
    """A post whose Python blocks are `blocks`; the first fence is on line 8."""
    body = "\n\nVăn xuôi.\n\n".join(
        f"```python\n{code.rstrip()}\n```" for code in blocks
    )
    path = folder / name
    path.write_text(HEAD + body + "\n", encoding="utf-8")
    return path


def collect(post: Path, store: Path, **kw) -> outputs.PostOutputs:
    return outputs.collect([post], store, **kw)[0]


# ---- the executor --------------------------------------------------------------------


def test_run_python_interleaves_stdout_and_stderr_in_a_fresh_empty_folder(tmp_path):
    code = (
        "import os, sys, warnings\nprint('a')\nwarnings.warn('careful')\n"
        "print(sorted(os.listdir('.')), os.environ['CUDA_VISIBLE_DEVICES'] == '')\n"
    )
    run = engine.run_python(code, timeout=30)
    assert run.ok and run.returncode == 0
    lines = run.output.splitlines()
    assert lines[0] == "a" and "UserWarning: careful" in lines[1]
    assert lines[-1] == "[] True"


def test_seeds_are_fixed():
    code = "import random\nprint(random.random())\n"
    assert engine.run_python(code, 30).output == engine.run_python(code, 30).output


@pytest.mark.faults
def test_a_block_that_writes_files_leaves_nothing_behind(tmp_path):
    before = set(os.listdir(REPO))
    run = engine.run_python(
        "open('made-by-a-block.txt', 'w').write('x')\n"
        "import os; print(os.path.exists('made-by-a-block.txt'))\n",
        30,
    )
    assert run.ok and run.output == "True\n"
    assert set(os.listdir(REPO)) == before


@pytest.mark.faults
def test_huge_output_is_cut_with_a_count(tmp_path):
    run = engine.run_python("for i in range(5000):\n    print('dòng', i)\n", 30)
    assert run.ok
    assert run.output.count("\n") <= engine.MAX_OUTPUT_LINES
    assert run.omitted_lines == 5000 - engine.MAX_OUTPUT_LINES  # the lines not shown
    html = outputs.render(outputs.Output(run.output, run.omitted_lines))
    assert f"còn {run.omitted_lines} dòng nữa" in html


# ---- a post's outputs: stored, reused, re-run only when needed -----------------------


def test_outputs_are_stored_and_reused(tmp_path):
    post = write_post(tmp_path, "print('một')", "x = 1", "print('hai')")
    result = collect(post, tmp_path / "store")
    assert [o.text for o in result.outputs] == ["một\n", "", "hai\n"]
    stored = json.loads((tmp_path / "store" / "2024-01-01-thu.json").read_text("utf-8"))
    assert [e["line"] for e in stored["blocks"].values()] == [
        8,
        14,
        20,
    ]  # in post order

    calls = []
    real = engine.run_python

    def counting(code, *args, **kw):
        calls.append(code)
        return real(code, *args, **kw)

    pytest.MonkeyPatch().setattr(engine, "run_python", counting)
    try:
        assert [o.text for o in collect(post, tmp_path / "store").outputs] == [
            "một\n",
            "",
            "hai\n",
        ]
        assert calls == []
        post.write_text(
            post.read_text("utf-8").replace("print('hai')", "print('ba')"), "utf-8"
        )
        assert collect(post, tmp_path / "store").outputs[2].text == "ba\n"
        assert calls == ["print('ba')\n"]  # only the edited block ran
    finally:
        pytest.MonkeyPatch().undo()
        engine.run_python = real


def test_the_key_covers_the_modules_a_block_imports_and_the_versions(
    tmp_path, monkeypatch
):
    """Any package at the repository root, traced through its imports: an edit to a
    module the block reaches re-runs it; a comment, or another package, does not."""
    root = tmp_path / "repo"
    for name, code in {
        "pkg_a/__init__.py": "from pkg_a.core import VALUE\n",
        "pkg_a/core.py": "from pkg_a import helper\nVALUE = helper.BASE + 1\n",
        "pkg_a/helper.py": "BASE = 1\n",
        "pkg_b/__init__.py": "OTHER = 2\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(code)
    post = write_post(tmp_path, "from pkg_a import VALUE\nprint(VALUE)")
    first = outputs.collect([post], tmp_path / "store", root=root)[0]
    assert first.outputs[0].text == "2\n"  # imported with no install step
    entry = first.store.entries[first.keys[0]]
    assert sorted(entry["sources"]) == [  # recorded as keyed
        "pkg_a/__init__.py",
        "pkg_a/core.py",
        "pkg_a/helper.py",
    ]

    def key() -> str:
        return outputs.collect([post], tmp_path / "store", root=root)[0].keys[0]

    (root / "pkg_a" / "helper.py").write_text("# the base\nBASE = 1\n")
    (root / "pkg_b" / "__init__.py").write_text("OTHER = 3\n")
    assert key() == first.keys[0]
    (root / "pkg_a" / "helper.py").write_text("BASE = 41\n")
    assert key() != first.keys[0]
    monkeypatch.setattr(engine, "versions", lambda *d: {"python": "3.99", "torch": "9"})
    assert key() != first.keys[0]


def test_no_run_blocks_are_not_run_and_have_no_output(tmp_path):
    post = tmp_path / "2024-01-01-thu.md"
    post.write_text(
        HEAD + "<!-- no-run: cần GPU -->\n```python\nraise SystemExit(3)\n```\n",
        "utf-8",
    )
    result = collect(post, tmp_path / "store")
    assert result.outputs == [None] and result.keys == [None]


def test_stale_entries_are_pruned_after_success_and_an_undo_costs_no_run(
    tmp_path, monkeypatch
):
    post = write_post(tmp_path, "print('cũ')")
    store = tmp_path / "store"
    old = collect(post, store)
    post.write_text(post.read_text("utf-8").replace("cũ", "mới"), "utf-8")
    new = collect(post, store)
    assert set(new.store.entries) == {old.keys[0], new.keys[0]}  # nothing pruned yet
    outputs.prune([new])
    assert set(json.loads(new.store.path.read_text("utf-8"))["blocks"]) == {new.keys[0]}
    monkeypatch.setattr(
        engine, "run_python", lambda *a, **k: pytest.fail("re-ran an undone edit")
    )
    post.write_text(post.read_text("utf-8").replace("mới", "cũ"), "utf-8")
    undone = collect(post, store)
    assert undone.outputs[0].text == "cũ\n"
    assert old.keys[0] in json.loads(new.store.path.read_text("utf-8"))["blocks"]


# ---- failures fail loudly, name the post and line, and lose nothing ------------------


@pytest.mark.faults
@pytest.mark.parametrize(
    "code, words",
    [
        (
            "print('trước')\nraise ValueError('hỏng')",
            ["exited with status 1", "ValueError: hỏng"],
        ),
        ("def f(:\n    pass", ["exited with status 1", "SyntaxError"]),
        (
            "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe')",
            ["not UTF-8", "byte 3"],
        ),
        ("while True:\n    pass", ["past its timeout of 2 s"]),
    ],
    ids=["raises", "syntax-error", "not-utf8", "endless-loop"],
)
def test_a_failing_block_names_its_line_and_stores_nothing_of_it(tmp_path, code, words):
    post = write_post(tmp_path, "print('tốt')", code)
    with pytest.raises(EngineError) as error:
        collect(post, tmp_path / "store", timeout=2)
    message = str(error.value)
    assert "2024-01-01-thu.md:14" in message and "failed" in message
    for word in words:
        assert word in message
    stored = json.loads((tmp_path / "store" / "2024-01-01-thu.json").read_text("utf-8"))
    assert [e["output"] for e in stored["blocks"].values()] == [
        "tốt\n"
    ]  # the good one is kept


@pytest.mark.faults
@pytest.mark.parametrize(
    "content",
    [
        '{"format": 1, "blocks": {"a": ',
        "[1, 2]",
        "<<<<<<< HEAD\n{}\n=======\n{}\n>>>>>>> other\n",
        b"\xff\xfe not text",
    ],
    ids=["truncated", "wrong-shape", "conflicted", "not-utf8"],
)
def test_an_unreadable_store_is_kept_aside_named_and_rebuilt(tmp_path, caplog, content):
    post = write_post(tmp_path, "print('một')")
    store = tmp_path / "store" / "2024-01-01-thu.json"
    store.parent.mkdir()
    store.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = collect(post, tmp_path / "store")
    assert result.outputs[0].text == "một\n"  # a clean re-run, never a wrong page
    aside = list(store.parent.glob("2024-01-01-thu.json.unreadable-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == (
        content if isinstance(content, bytes) else content.encode()
    )
    assert any(
        "unreadable" in r.message
        and "2024-01-01-thu.json" in r.message
        and aside[0].name in r.message
        for r in caplog.records
    )
    assert json.loads(store.read_text("utf-8"))["blocks"]  # a good store again


@pytest.mark.faults
def test_an_entry_of_the_wrong_shape_is_dropped_with_a_copy_kept(tmp_path, caplog):
    post = write_post(tmp_path, "print('một')")
    good = collect(post, tmp_path / "store")
    data = json.loads(good.store.path.read_text("utf-8"))
    data["blocks"][good.keys[0]]["output"] = 42
    good.store.path.write_text(json.dumps(data), "utf-8")
    assert collect(post, tmp_path / "store").outputs[0].text == "một\n"
    assert any("wrong shape" in r.message for r in caplog.records)
    assert list(good.store.path.parent.glob("*.bad-entries-*"))


def _put_many(path: str, prefix: str) -> None:
    store = Store(Path(path), "blocks")
    for i in range(30):
        store.put(f"{prefix}{i}", {"n": i})


@pytest.mark.faults
def test_concurrent_writers_keep_each_others_entries(tmp_path):
    path = tmp_path / "store.json"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_put_many, args=(str(path), p)) for p in "ab"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    entries = json.loads(path.read_text("utf-8"))["blocks"]
    assert len(entries) == 60


@pytest.mark.faults
def test_a_killed_run_keeps_what_finished_and_the_next_run_resumes(tmp_path):
    post = write_post(
        tmp_path, "print('nhanh')", "import time\ntime.sleep(60)\nprint('chậm')"
    )
    store = tmp_path / "store"
    script = (
        f"from explainer import outputs; from pathlib import Path\n"
        f"outputs.collect([Path({str(post)!r})], Path({str(store)!r}), workers=2)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, start_new_session=True
    )
    path = store / "2024-01-01-thu.json"
    deadline = time.time() + 60
    while time.time() < deadline and not (
        path.is_file() and "nhanh" in path.read_text("utf-8")
    ):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = json.loads(path.read_text("utf-8"))["blocks"]
    assert [e["output"] for e in stored.values()] == ["nhanh\n"]
    post.write_text(post.read_text("utf-8").replace("time.sleep(60)", "pass"), "utf-8")
    ran = []
    real = engine.run_python
    try:
        engine.run_python = lambda code, *a, **k: (
            ran.append(code) or real(code, *a, **k)
        )
        assert [o.text for o in collect(post, store).outputs] == ["nhanh\n", "chậm\n"]
    finally:
        engine.run_python = real
    assert len(ran) == 1  # only the block the killed run had not finished


@pytest.mark.faults
@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("timeout", "abc", "a number of seconds > 0"),
        ("timeout", -1, "a number of seconds > 0"),
        ("workers", 1.5, "a whole number > 0"),
        ("workers", 0, "a whole number > 0"),
        ("notebook_timeout", "inf", "a number of seconds > 0"),
    ],
)
def test_bad_settings_are_named(name, value, expected):
    """The plugin's settings are MkDocs config options: a bad one names itself."""
    from explainer.plugin import ExplainerConfig

    config = ExplainerConfig()
    config.load_dict({name: value})
    errors, _ = config.validate()
    assert [key for key, _ in errors] == [name]
    assert expected in str(errors[0][1]) and repr(value) in str(errors[0][1])


# ---- on the page and as a notebook ---------------------------------------------------


def test_render_escapes_and_keeps_the_output_on_one_raw_html_line():
    html = outputs.render(outputs.Output('a < b\n\n  --8<-- "x"\n$x$\n'))
    assert html.count("\n") == 3  # div, label, pre, /div: no blank line inside
    assert 'a &lt; b&#10;&#10;  --8&lt;-- "x"&#10;$x$' in html and "Kết quả" in html
    assert (
        outputs.render(outputs.Output("")) == ""
        and outputs.render(outputs.Output("\n")) == ""
    )


def test_the_post_as_a_notebook_is_valid_and_carries_the_outputs(tmp_path):
    import nbformat

    post = write_post(tmp_path, "print('một')", "x = 1")
    result = collect(post, tmp_path / "store")
    text = post.read_text("utf-8")
    nb = notebook.build(result, "Một bài thử", text)
    nbformat.validate(nb)
    kinds = [c.cell_type for c in nb.cells]
    assert kinds == ["markdown", "code", "markdown", "code"]
    assert (
        nb.cells[0].source.startswith("# Một bài thử")
        and "title:" not in nb.cells[0].source
    )
    assert nb.cells[1].outputs[0].text == "một\n" and nb.cells[3].outputs == []
    again = notebook.build(result, "Một bài thử", text)
    assert notebook.dumps(nb) == notebook.dumps(again)


def test_the_committed_post_notebooks_match_the_posts():
    """outputs/<post>.ipynb (what Colab opens) is what the build makes from the post and
    store."""
    import nbformat

    for stored in sorted((REPO / "outputs").glob("*.ipynb")):
        post = REPO / "posts" / f"{stored.stem}.md"
        assert post.is_file(), f"{stored.name}: no post {post.name}"
        read = posts.read_post(str(post), f"posts/{post.name}")
        result = outputs.collect([post], REPO / "outputs", 300, 1, texts=[read.text])[0]
        assert all(
            o is not None
            for o, b in zip(result.outputs, result.blocks, strict=True)
            if b.runs
        )
        text = stored.read_text("utf-8")
        nbformat.validate(nbformat.reads(text, as_version=4))
        [figures] = [f for f in registry.find(REPO / "posts", REPO) if f.post == post]
        entries = measured.read_entries(cache.manifest(figures.out))
        assert text == notebook.render_post(result, read, entries), (
            f"{stored.name} is out of date: run `make build`"
        )
        assert "{{ figure." not in text, "a measured number was not put in"


@pytest.mark.parametrize(
    "given, site_url, repo_url, expected",
    [
        ("owner/repo", None, None, "owner/repo"),
        ("", None, "https://github.com/owner/repo.git", "owner/repo"),
        ("", "https://owner.github.io/repo/", None, "owner/repo"),
        ("", "http://127.0.0.1:8000/", None, ""),
        ("<user>/<repo>", None, None, ""),
    ],
)
def test_one_setting_names_the_repository(given, site_url, repo_url, expected):
    assert notebook.repository(given, site_url, repo_url) == expected


# ---- in the built site ---------------------------------------------------------------

SITE_POST = "posts/2024/02/blog-post-2/index.html"


@pytest.mark.site
def test_the_built_post_shows_every_stored_output_under_its_block(site_build):
    import html
    import re

    article = article_html(site_build.site, SITE_POST)
    text = posts.read_post(str(POST), "post").text
    result = outputs.collect([POST], REPO / "outputs", 300, 1, texts=[text])[0]
    expected = [
        o.text.rstrip("\n")
        for o, b in zip(result.outputs, result.blocks, strict=True)
        if b.runs and o.text.strip()
    ]
    shown = [
        html.unescape(t)
        for t in re.findall(
            r'<div class="exec-output">\s*<p class="exec-output__label">Kết quả</p>\s*'
            r"<pre><code>(.*?)</code></pre>",
            article,
            re.S,
        )
    ]
    assert shown == expected
    assert re.findall(r'href="[^"]*downloads/2024-02-02-blog-post-2\.ipynb"', article)
    notebook_file = site_build.site / "downloads" / "2024-02-02-blog-post-2.ipynb"
    assert (
        notebook_file.read_bytes()
        == (REPO / "outputs" / "2024-02-02-blog-post-2.ipynb").read_bytes()
    )


@pytest.mark.site
def test_no_placeholder_and_no_token_on_any_built_page(site_build):
    for page in site_build.site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "<user>" not in text and "&lt;user&gt;" not in text, page
        assert "{{ figure." not in text, page


@pytest.mark.site
def test_displayed_code_fits_in_88_columns(site_build):
    import html
    import re

    for page in [SITE_POST, "code/index.html"]:
        text = (site_build.site / page).read_text(encoding="utf-8")
        for block in re.findall(
            r'<div class="language-python highlight"><pre>.*?</pre>', text, re.S
        ):
            code = html.unescape(re.sub(r"<[^>]+>", "", block))
            wide = [line for line in code.split("\n") if len(line) > 88]
            assert not wide, f"{page}: {len(wide[0])} columns: {wide[0]}"


@pytest.mark.site
def test_every_figure_caption_says_how_it_was_made(site_build):
    import re

    article = article_html(site_build.site, SITE_POST)
    figures = re.findall(r"<figure.*?</figure>", article, re.S)
    assert len(figures) >= 9
    for figure in figures:
        assert re.search(
            r'class="figure-provenance">\(vẽ bằng <code>make figures</code> trên '
            r"[^,]+, profile \w+",
            figure,
        ), figure[:300]


def test_the_install_line_follows_the_repository():
    from explainer import plugin

    line = plugin.INSTALL
    text = "1. a\n2. b\n" + line + "\n\n```bash\n" + line + "\n```\n"
    known = plugin._install(text, "owner/repo", "gmlp-snippets")
    assert 'pip install "gmlp-snippets @ git+https://github.com/owner/repo"' in known
    assert known.count(line) == 1  # the one inside a code block is left alone
    for repo, package in (("", "gmlp-snippets"), ("owner/repo", None)):
        unknown = plugin._install(text, repo, package)
        assert "pip install" not in unknown and unknown.startswith("1. a\n2. b\n\n")


@pytest.mark.faults
def test_a_failing_block_fails_the_site_build_naming_the_post_and_line(
    mkdocs, tmp_path
):
    posts = tmp_path / "posts"
    posts.mkdir()
    write_post(
        posts,
        "print('tốt')",
        "import sys\nprint('hỏng rồi', file=sys.stderr)\nsys.exit(3)",
    )
    result = mkdocs(
        "build",
        "--site-dir",
        str(tmp_path / "site"),
        posts_dir=posts,
        outputs_dir=tmp_path / "outputs",
        figures_check=False,
    )  # not --strict: a failing block fails the build anyway
    assert result.returncode != 0
    assert (
        "2024-01-01-thu.md:14" in result.stderr
        and "exited with status 3" in result.stderr
    )
    assert "hỏng rồi" in result.stderr
    stored = json.loads(
        (tmp_path / "outputs" / "2024-01-01-thu.json").read_text("utf-8")
    )
    assert [e["output"] for e in stored["blocks"].values()] == ["tốt\n"]
    assert not (tmp_path / "outputs" / "2024-01-01-thu.ipynb").exists()


def test_a_moved_block_keeps_its_output_and_the_store_its_true_line(
    tmp_path, monkeypatch
):
    post = write_post(tmp_path, "print('một')")
    first = collect(post, tmp_path / "store")
    monkeypatch.setattr(engine, "run_python", lambda *a, **k: pytest.fail("re-ran"))
    post.write_text(
        post.read_text("utf-8").replace("Mở đầu.", "Mở đầu.\n\nThêm."), "utf-8"
    )
    moved = collect(post, tmp_path / "store")
    assert moved.keys == first.keys and moved.outputs[0].text == "một\n"
    stored = json.loads(moved.store.path.read_text("utf-8"))["blocks"]
    assert [e["line"] for e in stored.values()] == [10]
