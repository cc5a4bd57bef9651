"""Mount the Jekyll-style posts of ``posts/`` as posts of Material's blog plugin.

The author writes each post outside ``docs_dir`` with Jekyll front matter::

    title: ...                                 required
    date: 2024-02-02                           required, a YAML date or date-time
    permalink: /posts/2024/02/blog-post-2/     optional
    tags: [Paper explained, Deep Learning]     optional (a list, or Jekyll's "a b" string)
    published: false                           optional, keeps the post out of the site

The blog plugin only reads posts inside ``docs_dir``. This hook's ``on_files``
runs before the plugin's (priority 50 against -50) and adds each published post
as a generated page ``<post_dir>/<name>.md`` backed by the real file, where
``<name>`` is the permalink's last segment (or the file name without its
``YYYY-MM-DD-`` prefix). With ``post_url_format: "{date}/{file}"`` and
``post_url_date_format: yyyy/MM`` the plugin serves it at
``/<blog_dir>/<yyyy>/<MM>/<name>/``; ``on_nav`` checks that this is the permalink.
The plugin ignores ``permalink`` and ``published``, so they are handled here.

Jekyll layouts print the title and the post starts its sections at ``#``, so the
rendered page gets the title as its ``#`` heading and the post's own headings
move one level down. Unless the post has a ``<!-- more -->`` separator, one goes
after its first paragraph, so the blog index shows an excerpt. The file on disk
is never changed.

The posts folder is ``extra.posts_dir`` in mkdocs.yml (relative to it; the tests
point it at fixtures). Bad front matter stops the build with a message that names
the file and the field. Also, the posts' RSS feed gets the favicon as its image.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import posixpath
import re
from dataclasses import dataclass

import yaml
from markdown_text import lines_with_code_flags, map_prose
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.utils.meta import YAML_RE

log = logging.getLogger("mkdocs.hooks.posts")

_DATED_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-(?P<name>.+)$")
_HEADING = re.compile(r"^(#{1,5})(?=[ \t]|$)", re.MULTILINE)
_FIELD_LINE = re.compile(r"^(?P<field>[A-Za-z_][\w-]*)[ \t]*:")


@dataclass
class _Post:
    path: str  # as shown in messages: relative to mkdocs.yml
    title: str
    name: str
    permalink: str | None
    tags: list[str] | None


# src_uri of each mounted page -> its post; filled by on_files for the current build.
_posts: dict[str, _Post] = {}


@event_priority(50)  # before the RSS plugin reads its config
def on_config(config):
    """Give the posts' RSS feed the site's favicon as its image (else it says 'None')."""
    rss = config.plugins.get("rss")
    if rss is not None and not rss.config.image and config.site_url:
        rss.config.image = config.site_url.rstrip("/") + "/assets/images/favicon.png"
    return config


@event_priority(50)  # before the blog plugin's on_files (-50)
def on_files(files, config):
    blog = _blog_config(config)
    post_dir = posixpath.normpath(blog.post_dir.format(blog=blog.blog_dir))
    root = os.path.dirname(config.config_file_path)
    folder = os.path.join(root, config.extra.get("posts_dir", "posts"))
    if not os.path.isdir(folder):
        raise PluginError(f"posts folder '{folder}' not found (extra.posts_dir in mkdocs.yml)")

    _posts.clear()
    for filename in sorted(os.listdir(folder)):
        if not filename.endswith(".md") or filename.startswith("."):
            continue
        path = os.path.join(folder, filename)
        post = _read_post(path, os.path.relpath(path, root))
        if post is None:
            continue
        src_uri = posixpath.join(post_dir, f"{post.name}.md")
        if src_uri in _posts:
            raise PluginError(
                f"{post.path}: field 'permalink' clashes with {_posts[src_uri].path}: "
                f"both posts would be served at .../{post.name}/"
            )
        if files.get_file_from_path(src_uri) is not None:
            raise PluginError(f"{post.path}: field 'permalink' clashes with docs page '{src_uri}'")
        files.append(File.generated(config, src_uri, abs_src_path=os.path.abspath(path)))
        _posts[src_uri] = post
    return files


def on_nav(nav, config, files):
    """Check that the blog plugin serves each post at its permalink."""
    for src_uri, post in _posts.items():
        file = files.get_file_from_path(src_uri)
        url = "/" + file.url
        if post.permalink is not None and post.permalink != url:
            raise PluginError(
                f"{post.path}: field 'permalink' is '{post.permalink}' but the post is served "
                f"at '{url}' (/<blog_dir>/<yyyy>/<MM>/<last segment>/, from the field 'date')"
            )


@event_priority(10)  # before the blog and tags plugins read the page (-50)
def on_page_markdown(markdown, page, config, files):
    post = _posts.get(page.file.src_uri)
    if post is None:
        return None
    if post.tags is not None:
        page.meta["tags"] = post.tags
    body = map_prose(markdown, lambda text: _HEADING.sub(r"#\1", text))
    body = _with_separator(body, _blog_config(config).post_excerpt_separator)
    return f"# {post.title}\n\n{body}"


def _blog_config(config):
    for key in ("material/blog", "blog"):
        if key in config.plugins:
            return config.plugins[key].config
    raise PluginError("hooks/posts.py needs the 'blog' plugin in mkdocs.yml")


def _read_post(path: str, shown: str) -> _Post | None:
    """Parse and check one post's front matter; None when it is not published."""
    with open(path, encoding="utf-8-sig") as f:
        text = f.read()
    match = YAML_RE.match(text)
    if not match:
        raise PluginError(f"{shown}: no front matter; start the file with a '---' block "
                          "holding at least the fields 'title' and 'date'")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as error:
        raise PluginError(f"{shown}: front matter is not valid YAML{_where(match.group(1), error)}:\n"
                          f"{error}") from None
    if not isinstance(meta, dict):
        raise PluginError(f"{shown}: front matter must be 'field: value' lines")

    published = meta.get("published", True)
    if not isinstance(published, bool):
        raise PluginError(f"{shown}: field 'published' must be true or false")
    if not published:
        log.info("%s: published: false, left out of the site", shown)
        return None

    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise PluginError(f"{shown}: field 'title' is missing or empty")
    if "date" not in meta:
        raise PluginError(f"{shown}: field 'date' is missing (e.g. date: 2024-02-02)")
    if not isinstance(meta["date"], dt.date):
        raise PluginError(f"{shown}: field 'date' must be a date such as 2024-02-02, "
                          f"not {meta['date']!r}")

    tags = meta.get("tags")
    if isinstance(tags, str):
        tags = tags.split()
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        raise PluginError(f"{shown}: field 'tags' must be a list of words, e.g. [Deep Learning]")

    permalink = meta.get("permalink")
    if permalink is None:
        stem = os.path.splitext(os.path.basename(path))[0]
        dated = _DATED_NAME.match(stem)
        name = dated.group("name") if dated else stem
    elif isinstance(permalink, str) and re.fullmatch(r"(?:/[\w.-]+)+/?", permalink):
        permalink = permalink.rstrip("/") + "/"
        name = permalink.rstrip("/").rsplit("/", 1)[-1]
    else:
        raise PluginError(f"{shown}: field 'permalink' must look like /posts/2024/02/name/, "
                          f"not {permalink!r}")
    return _Post(path=shown, title=title.strip(), name=name, permalink=permalink, tags=tags)


def _where(front_matter: str, error: yaml.YAMLError) -> str:
    """' (field 'x', line n of the file)' for a YAML error: the field whose value holds it."""
    # context_mark: where the broken construct (e.g. an unclosed list) starts
    mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
    if mark is None:
        return ""
    lines = front_matter.splitlines()
    for number in range(min(mark.line, len(lines) - 1), -1, -1):
        field = _FIELD_LINE.match(lines[number])
        if field:
            # line 1 of the file is the opening '---'
            return f" (field '{field.group('field')}', line {number + 2} of the file)"
    return f" (line {mark.line + 2} of the file)"


def _with_separator(markdown: str, separator: str) -> str:
    """Put the excerpt separator after the first paragraph, unless there is one already."""
    if separator in markdown:
        return markdown
    lines = lines_with_code_flags(markdown)
    started = False
    for number, (line, is_code) in enumerate(lines):
        if not is_code and not line.strip():
            if started:
                head, tail = "".join(l for l, _ in lines[:number]), "".join(l for l, _ in lines[number:])
                return head + f"\n{separator}\n" + tail
        elif is_code or not line.lstrip().startswith("#"):
            started = True
    return markdown
