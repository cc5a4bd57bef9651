"""python -m explainer new-post --name NAME --title TITLE: a draft explainer to start
from.

Under --root (default: the current folder) it writes a draft post (published: false),
its package <name>_snippets with one marked section, a test of that section, and the
post's figure code. Everything is checked before anything is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import keyword
import re
from pathlib import Path

from explainer import posts
from explainer.engine import EngineError
from explainer.figures.registry import DATE

_NAME = re.compile(r"[a-z][a-z0-9_]*")

POST = """\
---
title: {title}
date: {date}
permalink: /posts/{date:%Y/%m}/{url}/
tags: [Paper explained]
published: false
---

Mở bài: bài này nói về cái gì, và vì sao đáng đọc. Đoạn đầu tiên này cũng là phần \
tóm tắt của bài ở trang danh sách bài viết.

# Giới thiệu

Bài báo muốn giải quyết vấn đề gì, và ý tưởng chính của nó là gì.

# Code

Code dưới đây lấy nguyên văn từ package `{name}_snippets` đi kèm bài (có test \
trong `tests/test_{name}_snippets.py`); dòng cuối chạy thử, kết quả in ngay bên dưới:

```python
--8<-- "{name}_snippets/core.py:core"

print([core(x) for x in (-2, -1, 0, 1, 2)])
```

# Hình vẽ

Hình 1 được vẽ bằng code trong `posts/{stem}/fig_core.py` (`make figures` vẽ lại).

<figure markdown="span">

![Đồ thị của hàm core trên đoạn từ −3 đến 3](/assets/img/{name}/core.png)

<figcaption markdown="span"><em>Hình 1: Hàm `core` trên đoạn từ −3 đến 3: bằng 0 \
khi x âm, bằng chính x khi x dương.</em></figcaption>
</figure>
"""

PACKAGE = '''\
"""The code of a post: each marked section is shown in the post, and tested."""

from {name}_snippets.core import core

__all__ = ["core"]
'''

CORE = '''\
"""The post's first section."""


# --8<-- [start:core]
def core(x: float) -> float:
    """max(0, x): x itself when it is positive, else 0."""
    return max(0, x)


# --8<-- [end:core]
'''

TEST = '''\
"""{name}_snippets.core, by its values."""

from {name}_snippets import core


def test_core_is_zero_below_and_x_above():
    assert [core(x) for x in (-2, -1, 0, 1, 2)] == [0, 0, 0, 1, 2]
    assert core(0.5) == 0.5
'''

FIGURE_PACKAGE = '''\
"""The figures of posts/{stem}.md and the code only they use."""
'''

FIGURES = '''\
"""The post's figures: where they go, and which module of this folder draws each one.

Data only (no torch, no matplotlib): the site build reads it.
"""

from explainer.figures import Figure

FOLDER = "img/{name}"  # under the assets folder: the figures and their manifest.json

FIGURES = (Figure("core", "fig_core", ("core.png",)),)
'''

FIGURE = '''\
"""core.png - the function core of {name}_snippets on [-3, 3]."""

from __future__ import annotations

from explainer.figures import style
from {name}_snippets import core


def make(ctx) -> None:
    xs = [i / 10 for i in range(-30, 31)]
    fig, ax = style.plt.subplots(figsize=(5, 3))
    ax.plot(xs, [core(x) for x in xs], color=style.BLUE, lw=2)
    ax.axhline(0, color=style.SOFT_GREY, lw=1)
    ax.set_xlabel("x")
    ax.set_ylabel("core(x)")
    fig.tight_layout()
    ctx.save(fig, "core.png")
'''


def iso_date(text: str) -> dt.date:
    """--date: a day on the calendar, YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date YYYY-MM-DD, e.g. 2024-05-06; got {text!r}"
        ) from None


def files(name: str, title: str, date: dt.date) -> dict[str, str]:
    """The new post's files, by path relative to the root."""
    stem = f"{date.isoformat()}-{name}"
    fields = {
        "name": name,
        "url": name.replace("_", "-"),
        "stem": stem,
        "date": date,
        "title": json.dumps(title, ensure_ascii=False),  # a YAML string
    }
    return {
        path: text.format(**fields)
        for path, text in (
            (f"posts/{stem}.md", POST),
            (f"{name}_snippets/__init__.py", PACKAGE),
            (f"{name}_snippets/core.py", CORE),
            (f"tests/test_{name}_snippets.py", TEST),
            (f"posts/{stem}/__init__.py", FIGURE_PACKAGE),
            (f"posts/{stem}/figures.py", FIGURES),
            (f"posts/{stem}/fig_core.py", FIGURE),
        )
    }


def problem(root: Path, name: str, title: str, date: dt.date) -> str | None:
    """Why the post cannot be made (the argument and what it expects), or None."""
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        return (
            "argument --name (NAME): expected a lower-case Python identifier that "
            "is not a keyword (letters a-z, digits and '_', starting with a letter), "
            f"e.g. mlp_mixer; got {name!r}"
        )
    if not title.strip() or re.search(r"[<>]", title):
        return (
            "argument --title (TITLE): expected plain text, not empty and without "
            f"'<' or '>' (e.g. 'MLP-Mixer, giải thích'); got {title!r}"
        )
    stem = f"{date.isoformat()}-{name}"
    folders = (f"posts/{stem}", f"{name}_snippets", f"assets/img/{name}")
    for path in sorted({*folders, *files(name, title, date)}):
        if (root / path).exists():
            return f"argument --name (NAME): {name!r} is taken: {path} exists"
    url = name.replace("_", "-")
    for path in sorted((root / "posts").glob("*.md")):
        shown = path.relative_to(root).as_posix()
        try:
            post = posts.read_post(str(path), shown)
        except EngineError as error:
            return f"cannot check that {name!r} is free: {error}"
        if post.name == url or DATE.sub("", path.stem) == name:
            return (
                f"argument --name (NAME): {name!r} is taken: {shown} is served "
                f"at .../{post.name}/; choose another name"
            )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explainer new-post",
        description="Write a draft post, its package, a test and its figure code.",
    )
    parser.add_argument("--name", required=True, help="e.g. mlp_mixer")
    parser.add_argument("--title", required=True, help="the post's title")
    parser.add_argument(
        "--date",
        type=iso_date,
        default=dt.date.today(),
        help="YYYY-MM-DD (default: today)",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository")
    args = parser.parse_args(argv)
    why = problem(args.root, args.name, args.title, args.date)
    if why:
        parser.error(why)
    for path, text in files(args.name, args.title, args.date).items():
        (args.root / path).parent.mkdir(parents=True, exist_ok=True)
        (args.root / path).write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0
