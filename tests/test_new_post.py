"""`make new-post`: a bad or taken NAME and a bad TITLE are refused before anything is
written; a good one writes the draft, its package, its test and its figure code, and
that post goes through the figures and a strict build of a copy of the real site."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, snapshot

from explainer import posts
from explainer.newpost import main

BIN = Path(sys.executable).parent
DATE = "2024-05-06"
STEM = f"{DATE}-mlp_mixer"
WRITTEN = {
    f"posts/{STEM}.md",
    "mlp_mixer_snippets/__init__.py",
    "mlp_mixer_snippets/core.py",
    "tests/test_mlp_mixer_snippets.py",
    f"posts/{STEM}/__init__.py",
    f"posts/{STEM}/figures.py",
    f"posts/{STEM}/fig_core.py",
}


def refused(root: Path, capsys, *argv: str) -> str:
    """main(argv) exits with status 2 and writes nothing; returns its message."""
    before = snapshot(root)
    with pytest.raises(SystemExit) as caught:
        main(["--root", str(root), "--date", DATE, *argv])
    assert caught.value.code == 2
    assert snapshot(root) == before
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "name", ["", "MLP_Mixer", "Mlp", "mlp-mixer", "2mlp", "mlp mixer", "class"]
)
def test_a_bad_name_is_refused(tmp_path, capsys, name):
    message = refused(tmp_path, capsys, "--name", name, "--title", "MLP-Mixer")
    for part in ("--name (NAME)", repr(name), "lower-case Python identifier"):
        assert part in message


@pytest.mark.parametrize(
    "taken, permalink, reason",
    [
        (f"posts/{STEM}.md", "", f"posts/{STEM}.md exists"),
        (f"posts/{STEM}/figures.py", "", f"posts/{STEM} exists"),
        ("mlp_mixer_snippets/core.py", "", "mlp_mixer_snippets exists"),
        ("tests/test_mlp_mixer_snippets.py", "", "test_mlp_mixer_snippets.py exists"),
        ("assets/img/mlp_mixer/core.png", "", "assets/img/mlp_mixer exists"),
        ("posts/2023-01-01-mixer.md", "/posts/2023/01/mlp-mixer/", ".../mlp-mixer/"),
        ("posts/2023-01-01-mlp_mixer.md", "", "is served at .../mlp_mixer/"),
    ],
)
def test_a_taken_name_is_refused(tmp_path, capsys, taken, permalink, reason):
    path = tmp_path / taken
    path.parent.mkdir(parents=True)
    line = f"permalink: {permalink}\n" if permalink else ""
    path.write_text(f"---\ntitle: Mixer\ndate: 2023-01-01\n{line}---\n", "utf-8")
    message = refused(tmp_path, capsys, "--name", "mlp_mixer", "--title", "Mixer")
    for part in ("--name (NAME)", "'mlp_mixer' is taken", reason):
        assert part in message


@pytest.mark.parametrize("title", ["", "   ", "MLP <b>Mixer</b>", "a > b"])
def test_a_bad_title_is_refused(tmp_path, capsys, title):
    message = refused(tmp_path, capsys, "--name", "mlp_mixer", "--title", title)
    for part in ("--title (TITLE)", repr(title), "without '<' or '>'"):
        assert part in message


@pytest.mark.parametrize("day", ["2024-13-01", "06/05/2024", ""])
def test_a_bad_date_is_refused(tmp_path, capsys, day):
    argv = ["--name", "mlp_mixer", "--title", "MLP-Mixer", "--date", day]
    message = refused(tmp_path, capsys, *argv)
    assert "--date" in message and "expected a date YYYY-MM-DD" in message


def test_a_good_call_writes_the_listed_files(tmp_path, capsys):
    shutil.copy(REPO / "pyproject.toml", tmp_path)  # the repository's ruff settings
    title = 'MLP-Mixer: "tất cả" chỉ là MLP'
    assert main(["--root", str(tmp_path), "--name", "mlp_mixer", "--title", title]) == 0
    today = dt.date.today().isoformat()  # --date defaults to today
    expected = {path.replace(DATE, today) for path in WRITTEN}
    assert set(snapshot(tmp_path)) == expected | {"pyproject.toml"}
    out = capsys.readouterr().out.splitlines()
    assert {line.removeprefix("wrote ") for line in out} == expected

    md = tmp_path / "posts" / f"{today}-mlp_mixer.md"
    post = posts.read_post(str(md), md.name)
    assert (post.title, post.name, post.draft) == (title, "mlp-mixer", True)
    assert post.permalink == f"/posts/{today[:4]}/{today[5:7]}/mlp-mixer/"
    assert '--8<-- "mlp_mixer_snippets/core.py:core"' in post.body
    assert "/assets/img/mlp_mixer/core.png" in post.body
    assert "<figcaption" in post.body
    for check in (["check"], ["format", "--check"]):
        lint = subprocess.run(
            [BIN / "ruff", *check, "."], cwd=tmp_path, capture_output=True, text=True
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr


# ---- end to end: a copy of the real site ---------------------------------------------

NAME = "demo_post"
NEW = f"{DATE}-{NAME}"
PAGE = "posts/2024/05/demo-post/index.html"
TOKEN = "zqxnewpost"  # in the new post's title only
POST2 = "2024-02-02-blog-post-2"


def run(site: Path, *argv: str) -> None:
    """A command of the venv in the site's folder, with the site's default settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMLP_")}
    env["NO_MKDOCS_2_WARNING"] = "1"
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"


def build(site: Path) -> Path:
    run(site, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site / "site"))
    return site / "site"


def served(site: Path, *paths: str) -> list[str]:
    """The pages at `paths` as `mkdocs serve` answers them once it has built the
    site."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{free.getsockname()[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GMLP_")}
    command = ["-m", "mkdocs", "serve", "--no-livereload", "--dev-addr", address]
    with subprocess.Popen(
        [sys.executable, *command],
        cwd=site,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as serve:
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and serve.poll() is None:
                try:
                    return [
                        urllib.request.urlopen(f"http://{address}/{path}", timeout=5)
                        .read()
                        .decode("utf-8")
                        for path in paths
                    ]
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.5)
        finally:
            serve.terminate()
            output = serve.communicate(timeout=30)[0]
    pytest.fail(f"mkdocs serve answered nothing:\n{output}")


def stores(site: Path) -> tuple[dict, dict]:
    """(post 2's outputs and figures, as bytes; the new post's store's blocks)."""
    files = {
        f"outputs/{POST2}{suffix}": (site / f"outputs/{POST2}{suffix}").read_bytes()
        for suffix in (".json", ".ipynb")
    }
    blog2 = snapshot(site / "assets/img/blog2", mtimes=False)
    new = site / f"outputs/{NEW}.json"
    blocks = json.loads(new.read_text("utf-8"))["blocks"] if new.exists() else {}
    return {**files, **blog2}, blocks


@pytest.mark.site
def test_a_new_post_through_figures_and_the_site(tmp_path):
    site = tmp_path / "site-copy"
    site.mkdir()
    for name in ("docs", "posts", "assets", "outputs", "gmlp_snippets"):
        shutil.copytree(REPO / name, site / name)
    shutil.copy(REPO / "mkdocs.yml", site)
    if (REPO / ".cache/executed").is_dir():  # the notebook page, executed already
        shutil.copytree(REPO / ".cache/executed", site / ".cache/executed")
    for name in ("node_modules", "engine"):  # KaTeX; a folder mkdocs.yml watches
        (site / name).symlink_to(REPO / name)
    post2, _ = stores(site)

    new_post = ["new-post", "--name", NAME, "--title", f"Bài thử {TOKEN}"]
    run(site, "-m", "explainer", *new_post, "--date", DATE)
    run(site, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
    run(site, "-m", "explainer.figures", "-q", "--post", NAME)
    assert (site / f"assets/img/{NAME}/core.png").is_file()

    # (a) a draft: left out of the built site
    out = build(site)
    assert not (out / PAGE).exists()
    for name in (
        "search/search_index.json",
        "feed_rss_created.xml",
        "feed_json_created.json",
        "posts/index.html",
        "index.html",
    ):
        text = (out / name).read_text("utf-8")
        assert TOKEN not in text and "demo-post" not in text, name
    assert not (site / f"outputs/{NEW}.json").exists()

    # (a') under `mkdocs serve`: shown, with its output, and marked as a draft
    page, index = served(site, PAGE.removesuffix("index.html"), "posts/")
    assert TOKEN in page and "[0, 0, 0, 1, 2]" in page
    assert TOKEN in index and 'class="md-draft"' in index

    # (b) published: the page, its block's output and its figure
    md = site / f"posts/{NEW}.md"
    md.write_text(
        md.read_text("utf-8").replace("published: false", "published: true"), "utf-8"
    )
    out = build(site)
    page = (out / PAGE).read_text("utf-8")
    assert TOKEN in page and 'class="exec-output' in page
    assert "[0, 0, 0, 1, 2]" in page
    assert f'src="../../../../assets/img/{NAME}/core.png"' in page
    assert (out / f"assets/img/{NAME}/core.png").is_file()
    assert TOKEN in (out / "search/search_index.json").read_text("utf-8")
    assert (site / f"outputs/{NEW}.ipynb").is_file()
    after, blocks = stores(site)
    assert after == post2 and len(blocks) == 1
    assert [b["output"] for b in blocks.values()] == ["[0, 0, 0, 1, 2]\n"]

    # (c) the package's code edited: only the new post's block runs again
    core = site / f"{NAME}_snippets/core.py"
    core.write_text(
        core.read_text("utf-8").replace("max(0, x)", "max(0, 2 * x)"), "utf-8"
    )
    run(site, "-m", "explainer.figures", "-q", "--post", NAME)  # its figure too
    build(site)
    again, rerun = stores(site)
    assert again == post2
    assert len(rerun) == 1 and set(rerun) != set(blocks)
    assert [b["output"] for b in rerun.values()] == ["[0, 0, 0, 2, 4]\n"]
