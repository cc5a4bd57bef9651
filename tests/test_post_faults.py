"""What an author, or a hostile contributor, can put in posts/*.md.

Each case feeds one bad post to explainer.posts as a plain function call and checks that
the message names the file as posts/...md, the field or line and what was expected, and
that nothing was written or changed. Two cases build the site, for what only a build
shows.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from explainer import posts as hook
from explainer.blocks import Markdown
from explainer.engine import EngineError

pytestmark = pytest.mark.faults

NAME = "2024-01-01-t.md"
SHOWN = f"posts/{NAME}"
SHOWN_RE = re.escape(SHOWN)
HEAD = "---\ntitle: t\ndate: 2024-01-01\n---\n"
BODY = '\nMột đoạn.\n\n```python\nprint("xin chào")\n```\n'


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (links as where they point) and its bytes."""
    return {
        p.relative_to(folder).as_posix(): (
            os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def _post(tmp_path: Path, data: str | bytes) -> Path:
    path = tmp_path / "posts" / NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _refused(tmp_path: Path, call, match: str) -> str:
    """The message of the EngineError that `call()` raises; nothing under tmp_path
    changed."""
    before = _files(tmp_path)
    with pytest.raises(EngineError) as caught:
        call()
    message = str(caught.value)
    assert re.search(match, message), message
    assert _files(tmp_path) == before
    return message


@pytest.mark.parametrize(
    "front, match",
    [
        (
            "title: a\ndate: 2024-01-01\ntitle: b\n",
            r"field 'title' is given twice \(lines 2 and 4 of the file\); keep one",
        ),
        (
            "title: t\ndate: 2024-01-01\ntags: [a]\npublished: true\ntags: [b]\n",
            r"field 'tags' is given twice \(lines 4 and 6 of the file\)",
        ),
        (
            "title: <script>alert(1)</script>\ndate: 2024-01-01\n",
            r"field 'title' must be plain text, without '<' or '>' .*"
            r"not '<script>alert\(1\)</script>'",
        ),
        (
            'title: "Hi <img src=x onerror=alert(1)>"\ndate: 2024-01-01\n',
            r"field 'title' must be plain text, without '<' or '>'",
        ),
        (
            "title: t\ndescription: '\"><script>x()</script>'\ndate: 2024-01-01\n",
            r"field 'description' must be plain text, without '<', '>' or '\"' "
            r"\(the page's <meta> tag prints it as it is\)",
        ),
        (
            'title: t\ndate: 2024-01-01\ntags: [ok, "<img src=x onerror=alert(1)>"]\n',
            r"field 'tags' must hold plain words, without '<', '>' or '&' .*"
            r"not '<img src=x onerror=alert\(1\)>'",
        ),
        (
            "title: t\ndate: 2024-01-01\ntags: R&D\n",
            r"field 'tags' must hold plain words, .* not 'R&D'",
        ),
        (
            "title: t\ndate: 2024-01-01\npermalink: /posts/2024/03/..\n",
            r"field 'permalink' must look like /posts/2024/02/name/, not "
            r"'/posts/2024/03/\.\.': its part '\.\.' is not a name",
        ),
        (
            "title: t\ndate: 2024-01-01\npermalink: /posts/./2024/01/t/\n",
            r"field 'permalink' .*: its part '\.' is not a name",
        ),
        (
            "title: t\ndate: 2024-01-01\npermalink: /posts//t/\n",
            r"field 'permalink' .* not '/posts//t/': its part '' is not a name",
        ),
        (
            "title: t\ndate: 2024-01-01\npermalink: posts/2024/01/t/\n",
            r"field 'permalink' must look like /posts/2024/02/name/, "
            r"not 'posts/2024/01/t/'$",
        ),
    ],
)
def test_bad_front_matter_is_refused(tmp_path, front, match):
    path = _post(tmp_path, f"---\n{front}---\n{BODY}")
    _refused(
        tmp_path,
        lambda: hook.read_post(str(path), SHOWN),
        f"^{SHOWN_RE}: {match}",
    )


def test_a_merged_key_may_be_overridden(tmp_path):
    """YAML's '<<: *base' is not a field given twice."""
    front = "x: &base {a: 1, b: 2}\ny:\n  <<: *base\n  b: 3\n"
    path = _post(tmp_path, f"{HEAD[:-4]}{front}---\n{BODY}")
    assert hook.read_post(str(path), SHOWN).title == "t"


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: b"\xef\xbb\xbf" + text.encode(),
        lambda text: text.replace("\n", "\r\n").encode(),
        lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(),
        lambda text: text.replace("\n", "\r").encode(),
    ],
    ids=["bom", "crlf", "bom-crlf", "cr"],
)
def test_bom_and_crlf_read_as_plain_lf(tmp_path, encode):
    """A BOM or CRLF line ends change nothing: the post, its blocks and its notebook
    are those of the plain LF file (before, CRLF gave 'no front matter' and a BOM put
    the front matter into the notebook's first cell)."""
    from explainer import notebook
    from explainer.blocks import read_blocks
    from explainer.outputs import PostOutputs

    text = HEAD + BODY

    def read(path: Path):
        post = hook.read_post(str(path), SHOWN)
        blocks = read_blocks(path, text=post.text)  # the one reading of the file
        result = PostOutputs(path, None, blocks, [None], [None])
        return (
            (post.title, post.text, post.body_line),
            [(b.line, b.code) for b in blocks],
            notebook.dumps(notebook.build(result, post.title, post.text)),
        )

    odd = read(_post(tmp_path / "odd", encode(text)))
    plain = read(_post(tmp_path / "plain", text))
    assert odd == plain
    assert plain[0] == ("t", text, 5) and plain[1] == [(8, 'print("xin chào")\n')]
    assert "date:" not in odd[2] and '"# t\\n' in odd[2]


def test_symlinked_post_is_refused(tmp_path):
    real = _post(tmp_path / "elsewhere", HEAD + BODY)
    link = tmp_path / "posts" / NAME
    link.parent.mkdir()
    link.symlink_to(real)
    _refused(
        tmp_path,
        lambda: hook.read_post(str(link), SHOWN),
        rf"^{SHOWN_RE}: is a symbolic link \(to {re.escape(str(real))}\), .* without "
        "running its blocks; put the post itself in the posts folder",
    )


def _snippets(base: Path):
    """The snippets preprocessor with the site's settings (mkdocs.yml), based at
    `base`."""
    settings = {"base_path": [str(base)], "check_paths": True}
    return Markdown(
        ("pymdownx.snippets",),
        {"pymdownx.snippets": {**settings, "restrict_base_path": True}},
    ).snippets


@pytest.mark.parametrize(
    "include, line, shown",
    [
        ('--8<-- "pkg/leak.py"', 7, '--8<-- "pkg/leak.py"'),
        ('--8<-- "pkg/out/secret.py"', 7, '--8<-- "pkg/out/secret.py"'),
        ("--8<--\npkg/fine.py\npkg/leak.py\n--8<--", 9, "pkg/leak.py"),
    ],
    ids=["file-link", "folder-link", "block"],
)
def test_include_through_a_link_out_of_the_repository_is_refused(
    tmp_path, include, line, shown
):
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (repo / "pkg").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.py").write_text("TOKEN = 'secret'\n")
    (repo / "pkg" / "fine.py").write_text("x = 1\n")
    (repo / "pkg" / "leak.py").symlink_to(outside / "secret.py")
    (repo / "pkg" / "out").symlink_to(outside)
    (repo / "pkg" / "inside.py").symlink_to(repo / "pkg" / "fine.py")
    snippets = _snippets(repo)
    # the hole: pymdownx's restrict_base_path checks the path, not where it leads
    assert "TOKEN = 'secret'" in snippets.run(['--8<-- "pkg/leak.py"'])

    def check(body: str) -> None:
        text = f"{HEAD}\n```python\n{body}\n```\n"
        post = hook.Post(SHOWN, "t", "t", None, None, text, 5)
        hook.check_includes(post, snippets, str(repo))

    check('--8<-- "pkg/inside.py"')  # a link that stays inside is fine
    _refused(
        tmp_path,
        lambda: check(include),
        rf"^{SHOWN_RE}, line {line}: the include '{re.escape(shown)}' leads outside "
        rf"the repository, to {re.escape(str(outside / 'secret.py'))} \(through a "
        "symbolic link\\); include files of the repository only",
    )


# ---- what only a build shows ---------------------------------------------------------


def _build(mkdocs, tmp_path, *options: str):
    return mkdocs(
        "build",
        *options,
        "--site-dir",
        str(tmp_path / "site"),
        posts_dir=tmp_path / "posts",
        outputs_dir=tmp_path / "outputs",
        figures_check=False,
    )


def test_symlinked_post_stops_the_build(mkdocs, tmp_path):
    """Before, the linked post was published and its blocks silently not run."""
    real = _post(tmp_path / "elsewhere", HEAD + BODY)
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / NAME).symlink_to(real)
    result = _build(mkdocs, tmp_path, "--strict")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    error = next(line for line in output.splitlines() if line.startswith("ERROR"))
    assert f"{NAME}: is a symbolic link" in error, error
    assert not (tmp_path / "outputs").exists(), "no block ran, no store was written"
    assert not (tmp_path / "site" / "posts" / "2024").exists(), "no post was published"


def test_a_printed_figure_token_is_shown_as_printed(mkdocs, tmp_path):
    """A block's output is shown as printed, as in the notebook: a {{ figure... }} it
    prints is not read as prose (before, an unknown one was blamed on the code's
    line)."""
    _post(
        tmp_path, HEAD + '\nMột đoạn.\n\n```python\nprint("{{ figure.nope.x }}")\n```\n'
    )
    result = _build(mkdocs, tmp_path)  # not strict: the home page links the real post
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    page = (tmp_path / "site" / "posts" / "2024" / "01" / "t" / "index.html").read_text(
        encoding="utf-8"
    )
    assert "{{ figure.nope.x }}</code></pre>" in page
