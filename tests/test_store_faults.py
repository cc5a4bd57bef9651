"""Faults of the two stores (a post's outputs/<post>.json and the figures manifest) and
of the figures command line.

Each case injects one fault and checks that the message names the file or argument and
the fix, and that the stores are intact: byte-identical where nothing should change.
"""

from __future__ import annotations

import builtins
import dataclasses
import errno
import html
import io
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO, figure_checker, run_mkdocs, snapshot

from explainer import engine, measured, outputs
from explainer.engine import EngineError
from explainer.figures import MANIFEST, build, cache, check, find
from explainer.figures.__main__ import main

pytestmark = pytest.mark.faults
POST2 = next(s for s in find(REPO / "posts", REPO) if s.matches("blog-post-2"))

HEAD = "---\ntitle: Một bài thử\ndate: 2024-01-01\n---\n\nMở đầu.\n\n"
PRINTS = (
    "{{ figure.gmlp.n }}",
    "/assets/x.png",
    "![a](/assets/img/blog2/gmlp.png)",
    '<img src="/assets/img/blog2/gmlp.png">',
)


def write_post(folder: Path, *blocks: str) -> Path:
    """A post whose Python blocks are `blocks`; the first fence is on line 8."""
    body = "\n\nVăn xuôi.\n\n".join(f"```python\n{code}\n```" for code in blocks)
    path = folder / "2024-01-01-thu.md"
    path.write_text(HEAD + body + "\n", encoding="utf-8")
    return path


def collect(post: Path, store: Path) -> outputs.PostOutputs:
    return outputs.collect([post], store, workers=1)[0]


def steady_checkout(monkeypatch):
    """Other files of the checkout may change while a block here runs; that check of
    `collect` is not what these cases are about."""
    monkeypatch.setattr(outputs, "_tree", lambda root, skip: None, raising=False)


@pytest.fixture
def runs(monkeypatch) -> list[str]:
    """The code of every block run from now on."""
    ran: list[str] = []
    real = engine.run_python
    monkeypatch.setattr(
        engine,
        "run_python",
        lambda code, *a, **k: ran.append(code) or real(code, *a, **k),
    )
    return ran


def _fail(path) -> None:
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))


@pytest.fixture
def read_only(monkeypatch):
    """read_only(folder): from now on, writing anything under `folder` fails as on a
    read-only file system (the tests run as root, so chmod would not stop a write)."""

    def make(folder: Path) -> None:
        root = Path(folder).resolve()

        def inside(path) -> bool:
            return isinstance(path, str | os.PathLike) and Path(
                path
            ).resolve().is_relative_to(root)

        real_open, real_access = builtins.open, os.access

        def fake_open(file, mode="r", *args, **kwargs):
            if inside(file) and set(mode) & set("wax+"):
                _fail(file)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)
        for name in ("mkdir", "replace", "rename", "unlink", "rmdir"):
            real = getattr(os, name)

            def guarded(path, *args, _real=real, **kwargs):
                if inside(path):
                    _fail(path)
                return _real(path, *args, **kwargs)

            monkeypatch.setattr(os, name, guarded)
        monkeypatch.setattr(
            os,
            "access",
            lambda path, mode, **kw: (
                False
                if mode & os.W_OK and inside(path)
                else real_access(path, mode, **kw)
            ),
        )

    return make


def disk_full(monkeypatch) -> None:
    """From now on every atomic write fails as on a full disk, once its temporary file
    is written."""

    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ---- an output is shown as the block printed it; a warm build writes nothing ---------


@pytest.fixture(scope="module")
def site(tmp_path_factory, mkdocs):
    """A post with two identical blocks and one that prints what the prose hooks
    rewrite, built twice; (site folder, outputs folder, outputs after each build)."""
    tmp = tmp_path_factory.mktemp("store-site")
    posts = tmp / "posts"
    posts.mkdir()
    printing = "\n".join(f"print({line!r})" for line in PRINTS)
    post = write_post(posts, "print('giống nhau')", printing, "print('giống nhau')")
    with pytest.MonkeyPatch.context() as patch:  # run here: see steady_checkout
        patch.setattr(outputs, "_tree", lambda root, skip: None, raising=False)
        collect(post, tmp / "outputs")
    snapshots = []
    for _ in range(2):
        result = mkdocs(
            "build",
            "--site-dir",
            str(tmp / "site"),
            posts_dir=posts,
            outputs_dir=tmp / "outputs",
            figures_check=False,
        )
        assert result.returncode == 0, result.stderr
        snapshots.append(snapshot(tmp / "outputs"))
    return SimpleNamespace(site=tmp / "site", snapshots=snapshots)


def test_an_output_is_shown_exactly_as_printed(site):
    (page,) = [
        text
        for path in site.site.rglob("index.html")
        if 'class="exec-output"' in (text := path.read_text("utf-8"))
    ]
    shown = [
        html.unescape(text)
        for text in re.findall(
            r'<div class="exec-output">.*?<pre><code>(.*?)</code></pre>', page, re.S
        )
    ]
    assert shown == ["giống nhau", "\n".join(PRINTS), "giống nhau"]


def test_a_warm_build_writes_nothing(site):
    first, second = site.snapshots
    assert "2024-01-01-thu.json" in first
    assert second == first  # same files, bytes and mtimes: nothing was rewritten


# ---- stored entries are checked before they are shown --------------------------------


def _edit_entry(store: Path, change, stamp: bool) -> str:
    """Apply `change` to the first entry of the store file; returns its name."""
    data = json.loads(store.read_text("utf-8"))
    field = "blocks" if "blocks" in data else "figures"
    name, entry = next(iter(data[field].items()))
    change(entry)
    if stamp:  # as a buggy writer would: the checksum matches the bad entry
        entry[engine.CHECKSUM] = engine.checksum(entry)
    store.write_text(json.dumps(data), "utf-8")
    return name


def test_a_negative_omitted_lines_is_rerun_not_shown(tmp_path, runs, caplog):
    post = write_post(tmp_path, "print('một')")
    store = collect(post, tmp_path / "out").store.path
    name = _edit_entry(store, lambda e: e.update(omitted_lines=-5), stamp=True)
    result = collect(post, tmp_path / "out")
    assert result.outputs[0] == outputs.Output("một\n", 0)
    assert len(runs) == 2  # run again, not shown as "-5 more lines"
    assert any(
        store.name in r.message and name in r.message and "wrong shape" in r.message
        for r in caplog.records
    )
    assert json.loads(store.read_text("utf-8"))["blocks"][name]["omitted_lines"] == 0


def test_a_hand_edited_output_is_rerun_with_a_warning(tmp_path, runs, caplog):
    post = write_post(tmp_path, "print('độ chính xác 71%')")
    store = collect(post, tmp_path / "out").store.path
    name = _edit_entry(
        store, lambda e: e.update(output="TAMPERED: accuracy 100%\n"), stamp=False
    )
    assert collect(post, tmp_path / "out").outputs[0].text == "độ chính xác 71%\n"
    assert len(runs) == 2
    assert any(
        store.name in r.message and name in r.message and "sha256" in r.message
        for r in caplog.records
    )
    assert "TAMPERED" not in store.read_text("utf-8")
    (aside,) = store.parent.glob(f"{store.name}.bad-entries-*")  # the edit is kept
    assert "TAMPERED" in aside.read_text("utf-8")


def test_a_hand_edited_attic_entry_is_rerun(tmp_path, runs, caplog):
    post = write_post(tmp_path, "print('cũ')")
    old = collect(post, tmp_path / "out")
    post.write_text(post.read_text("utf-8").replace("cũ", "mới"), "utf-8")
    outputs.prune([collect(post, tmp_path / "out")])
    attic = old.store.attic_path
    data = json.loads(attic.read_text("utf-8"))
    data[old.keys[0]]["output"] = "TAMPERED: accuracy 100%\n"
    attic.write_text(json.dumps(data), "utf-8")
    post.write_text(post.read_text("utf-8").replace("mới", "cũ"), "utf-8")
    assert collect(post, tmp_path / "out").outputs[0].text == "cũ\n"
    assert len(runs) == 3  # the undo ran again instead of showing the edit
    assert any(
        attic.name in r.message and old.keys[0] in r.message for r in caplog.records
    )


def _manifest(folder: Path) -> Path:
    """A manifest whose gmlp entry measured n = 150, written the normal way."""
    cache.manifest(folder).put(
        "gmlp",
        {"files": {}, "sources": {}, "profile": "test", "measures": {"n": 150}},
    )
    return folder / MANIFEST


def test_a_hand_edited_manifest_measure_stops_the_prose(tmp_path):
    path = _manifest(tmp_path)
    assert (
        measured.substitute(
            "{{ figure.gmlp.n }}", measured.read_entries(cache.manifest(tmp_path)), str
        )
        == "150"
    )
    _edit_entry(path, lambda e: e["measures"].update(n=-99.5), stamp=False)
    before = snapshot(tmp_path)
    entries = measured.read_entries(cache.manifest(tmp_path))
    with pytest.raises(EngineError) as error:
        measured.substitute("n = {{ figure.gmlp.n }}", entries, lambda o: "post.md:3")
    message = str(error.value)
    assert "post.md:3" in message and "'gmlp'" in message and MANIFEST in message
    assert (
        "sha256" in message and "git checkout" in message and "make figures" in message
    )
    assert "-99.5" not in message
    problems = check(tmp_path, ["gmlp"], POST2)
    assert problems[0].startswith("gmlp: its entry in manifest.json does not match")
    assert snapshot(tmp_path) == before  # reading changed nothing


# ---- reads have no side effects; writes fail with a named error, losing nothing ------


def test_reading_takes_no_lock_and_creates_nothing(tmp_path, read_only, runs):
    post = write_post(tmp_path, "print('một')")
    collect(post, tmp_path / "out")
    (tmp_path / "out" / ".2024-01-01-thu.json.lock").unlink()
    _manifest(tmp_path / "figures")
    (tmp_path / "figures" / f".{MANIFEST}.lock").unlink()
    before = snapshot(tmp_path)
    read_only(tmp_path)
    assert collect(post, tmp_path / "out").outputs[0].text == "một\n"
    outputs.prune([collect(post, tmp_path / "out")])
    entries = measured.read_entries(cache.manifest(tmp_path / "figures"))
    assert entries["gmlp"]["measures"] == {"n": 150}
    assert check(tmp_path / "figures", ["gmlp"], POST2)  # gmlp.png is missing
    assert snapshot(tmp_path) == before and len(runs) == 1


def test_a_write_to_a_read_only_outputs_folder_is_named(tmp_path, read_only):
    post = write_post(tmp_path, "print('một')")
    store = collect(post, tmp_path / "out").store.path
    post.write_text(post.read_text("utf-8").replace("một", "hai"), "utf-8")
    before = snapshot(tmp_path / "out")
    read_only(tmp_path / "out")
    with pytest.raises(EngineError) as error:
        collect(post, tmp_path / "out")
    message = str(error.value)
    assert str(store) in message and "Read-only file system" in message
    assert "make" in message and "writable" in message and "GMLP_OUTPUTS_DIR" in message
    assert snapshot(tmp_path / "out") == before


def test_an_outputs_setting_that_is_a_file_is_named(tmp_path):
    target = tmp_path / "outputs"
    target.write_text("not a folder")
    (tmp_path / "posts").mkdir()
    result = run_mkdocs("build", posts_dir=tmp_path / "posts", outputs_dir=target)
    assert result.returncode != 0
    assert re.search("GMLP_OUTPUTS_DIR.*must be a folder", result.stderr), result.stderr
    assert str(target) in result.stderr and target.read_text() == "not a folder"
    assert "Traceback" not in result.stderr


def test_a_store_that_is_a_folder_is_named(tmp_path):
    post = write_post(tmp_path, "print('một')")
    (tmp_path / "out" / "2024-01-01-thu.json").mkdir(parents=True)
    with pytest.raises(EngineError) as error:
        collect(post, tmp_path / "out")
    message = str(error.value)
    assert "2024-01-01-thu.json" in message and "Is a directory" in message
    assert "move what is there away" in message
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["2024-01-01-thu.json"]


def test_a_full_disk_while_writing_the_store_keeps_the_old_file(tmp_path, monkeypatch):
    post = write_post(tmp_path, "print('một')")
    store = collect(post, tmp_path / "out").store.path
    post.write_text(post.read_text("utf-8").replace("một", "hai"), "utf-8")
    before = snapshot(tmp_path / "out")
    disk_full(monkeypatch)
    with pytest.raises(EngineError) as error:
        collect(post, tmp_path / "out")
    message = str(error.value)
    assert str(store) in message and "No space left on device" in message
    assert "free some disk space" in message and "unchanged" in message
    assert snapshot(tmp_path / "out") == before and no_temporary_files(tmp_path)


# ---- the figures: the command line and the manifest ---------------------------------

QUICK = ["--only", "gmlp", "--profile", "test", "--device", "cpu", "-q"]


def test_a_full_disk_while_writing_figures_keeps_the_old_ones(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "blog2"
    assert main(["--out", str(out), *QUICK]) == 0
    before = snapshot(out)
    disk_full(monkeypatch)
    assert main(["--out", str(out), "--force", *QUICK]) == 1
    err = capsys.readouterr().err
    assert "gmlp.png" in err and "No space left on device" in err
    assert "free some disk space" in err
    assert snapshot(out) == before and no_temporary_files(out)


def test_figures_out_read_only_is_an_argument_error(tmp_path, capsys, read_only):
    out = tmp_path / "blog2"
    out.mkdir()
    read_only(out)
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(out), *QUICK])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--out" in err and str(out) in err and "not writable" in err
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    "args, words",
    [
        (["--seed", str(2**70)], ["--seed", "0 to 4294967295", str(2**70)]),
        (["--seed", "-1"], ["--seed", "0 to 4294967295"]),
        (["--out", ""], ["--out", "expected a folder"]),
        (["--check", "--only", "bogus"], ["--only", "bogus", "spatial_weights"]),
    ],
    ids=["seed-too-big", "seed-negative", "out-empty", "check-unknown-figure"],
)
def test_bad_figure_arguments_are_argument_errors(
    tmp_path, capsys, monkeypatch, args, words
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main([*args, "-q"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert cache.HINT not in err  # not reported as a stale figure
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder


@pytest.mark.faults
@pytest.mark.parametrize("odd", ["out-is-a-file", "manifest-is-a-folder"])
def test_check_where_no_manifest_can_be_reports_it_missing(tmp_path, capsys, odd):
    """--check --out naming a file, or a folder whose manifest.json is a folder: the
    figures are unchecked, said so, exit 1 (no traceback from reading the manifest)."""
    target = tmp_path / "out"
    if odd == "out-is-a-file":
        target.write_text("not a folder")
    else:
        (target / MANIFEST).mkdir(parents=True)
    before = snapshot(tmp_path)
    assert main(["--check", "--post", "blog-post-2", "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"{target / MANIFEST} is missing" in err and cache.HINT in err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("figures_check", [True, False])
def test_a_truncated_manifest_stops_the_site_build_and_moves_nothing(
    tmp_path, figures_check
):
    from mkdocs.exceptions import PluginError

    [post2] = [f for f in find(REPO / "posts", REPO) if f.matches("blog-post-2")]
    figures = dataclasses.replace(post2, assets=tmp_path / "assets")
    figures.out.mkdir(parents=True)
    (figures.out / MANIFEST).write_bytes((post2.out / MANIFEST).read_bytes()[:300])
    before = snapshot(tmp_path)
    with pytest.raises(PluginError) as error:
        figure_checker(figures, "![a](/assets/img/blog2/gmlp.png)", figures_check)()
    message = str(error.value)
    assert "img/blog2/manifest.json is unreadable" in message
    assert "git checkout" in message and "make figures" in message
    assert snapshot(tmp_path) == before  # not moved aside, not locked


@pytest.mark.parametrize(
    "content",
    [b'{"format": 2, "figures": {"gmlp": ', b"<<<<<<< HEAD\n{}\n"],
    ids=["truncated", "conflicted"],
)
def test_make_figures_redraws_what_an_unreadable_manifest_cannot_verify(
    tmp_path, caplog, content
):
    out = tmp_path / "blog2"
    build(POST2, out, names=["gmlp"], profile="test", device="cpu", progress=False)
    store = cache.manifest(out)  # as if drawn on a GPU: kept by a CPU run, but...
    store.put("gmlp", {**store.entries["gmlp"], "profile": "full", "key": "gpu"})
    (out / MANIFEST).write_bytes(content)
    assert "unreadable" in check(out, ["gmlp"], POST2)[0]
    results = build(
        POST2, out, names=["gmlp"], profile="test", device="cpu", progress=False
    )
    # ... nothing of an unreadable manifest can be verified: redrawn
    assert [(r.status, r.note) for r in results] == [
        ("rebuilt", "its manifest entry could not be verified")
    ]
    assert check(out, ["gmlp"], POST2) == []
    (aside,) = out.glob(f"{MANIFEST}.unreadable-*")  # what it replaced is kept
    assert aside.read_bytes() == content
    assert any(aside.name in r.message for r in caplog.records)
    again = build(
        POST2, out, names=["gmlp"], profile="test", device="cpu", progress=False
    )
    assert [r.status for r in again] == ["cached"]
