"""Posts as the author writes them: Jekyll front matter, checked; drafts; permalinks.

A post is ``<posts_dir>/YYYY-MM-DD-<name>.md``::

    title: ...                               required
    date: 2024-02-02                         required, a YAML date or date-time
    permalink: /posts/2024/02/blog-post-2/   optional
    tags: [Paper explained, Deep Learning]   optional (a list, or Jekyll's "a b" string)
    published: false                         optional: a draft, for `mkdocs serve`

Beside it, ``<posts_dir>/YYYY-MM-DD-<name>/`` may hold the post's figure code and
``post.yml``, its build settings (``download``: the one-file download; ``install``).

Every problem stops the build with an EngineError that names the real file and the
field or line and says what was expected (see README, "Writing a new post"). A
``--8<--`` include must sit in a fenced block and find its file and section; it is
checked with the site's own pymdownx.snippets settings, before any conversion, so the
message names the post's line.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from mkdocs.utils.meta import YAML_RE

from explainer.engine import EngineError
from explainer.markdown import lines_with_code_flags, map_prose

log = logging.getLogger("explainer.posts")

_DATED_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-(?P<name>.+)$")
_HEADING = re.compile(r"^(#{1,5})(?=[ \t]|$)", re.MULTILINE)
_FIELD_LINE = re.compile(r"^(?P<field>[A-Za-z_][\w-]*)[ \t]*:")
_SEGMENT = re.compile(r"[\w-]+(?:\.[\w-]+)*")  # one part of a permalink
_HTML = re.compile(r"[<>]")


@dataclass
class Post:
    path: str  # as shown in messages: relative to mkdocs.yml
    title: str
    name: str  # the last part of its URL
    permalink: str | None
    tags: list[str] | None
    text: str = ""  # the whole file
    body_line: int = 1  # the file's line where the Markdown after the front matter is
    draft: bool = False  # published: false
    meta: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)  # <post>/post.yml: download, install

    @property
    def body(self) -> str:
        return self.text.split("\n", self.body_line - 1)[-1]


def _read_text(path: str, shown: str) -> str:
    """The file as text, as MkDocs and the block reader see it: without a UTF-8 BOM
    and with '\n' line ends (CRLF and CR too); bytes that are not UTF-8 stop the build,
    naming where they are."""
    with open(path, "rb") as f:
        data = f.read()
    bom = len(b"\xef\xbb\xbf") if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = bom + error.start
        line = data[:offset].count(b"\n") + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise EngineError(
            f"{shown}: not UTF-8: byte 0x{data[offset]:02x} at offset {offset} "
            f"(line {line}, "
            f"byte {column} of the line) {error.reason}; save the file as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _BadDate(yaml.constructor.ConstructorError):
    """A value that looks like a YAML date but is not on the calendar (2024-02-30)."""

    def __init__(self, value: str, reason: str, mark):
        super().__init__(
            None, None, f"{value} is not a date on the calendar ({reason})", mark
        )
        self.value, self.reason = value, reason


class _Twice(yaml.constructor.ConstructorError):
    """A key given twice in one mapping (YAML itself lets the last one win)."""

    def __init__(self, key, first, second):
        super().__init__(None, None, f"{key!r} is given twice", second)
        self.key, self.lines = key, (first.line + 2, second.line + 2)  # file lines


class _Loader(yaml.SafeLoader):
    """yaml.SafeLoader whose calendar-impossible dates and repeated keys raise a
    YAMLError with their place."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *base': its keys may be overridden
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # an unhashable key: SafeLoader reports it
                continue
            if first is not key_node.start_mark:
                raise _Twice(key, first, key_node.start_mark)
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as error:  # datetime.date(2024, 2, 30)
            raise _BadDate(node.value, str(error), node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def read_post(path: str, shown: str) -> Post:
    """Read one post and check its front matter."""
    if os.path.islink(path):
        raise EngineError(
            f"{shown}: is a symbolic link (to {os.readlink(path)}), and a linked post "
            "would be published without running its blocks; put the post itself "
            "in the posts folder"
        )
    text = _read_text(path, shown)
    match = YAML_RE.match(text)
    if not match:
        raise EngineError(
            f"{shown}: no front matter; start the file with a '---' block "
            "holding at least the fields 'title' and 'date'"
        )
    try:
        meta = yaml.load(match.group(1), _Loader) or {}
    except _Twice as error:
        raise EngineError(
            f"{shown}: field '{error.key}' is given twice (lines {error.lines[0]} and "
            f"{error.lines[1]} of the file); keep one of them"
        ) from None
    except _BadDate as error:
        field, line = _field_at(match.group(1), error.problem_mark)
        raise EngineError(
            f"{shown}: field '{field}' (line {line} of the file) must be a real "
            f"date such as 2024-02-29, not {error.value} ({error.reason})"
        ) from None
    except yaml.YAMLError as error:
        raise EngineError(
            f"{shown}: front matter is not valid YAML{_where(match.group(1), error)}:\n"
            f"{error}"
        ) from None
    if not isinstance(meta, dict):
        raise EngineError(f"{shown}: front matter must be 'field: value' lines")

    published = meta.get("published", True)
    if not isinstance(published, bool):
        raise EngineError(f"{shown}: field 'published' must be true or false")

    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise EngineError(
            f"{shown}: field 'title' is missing or empty "
            "(e.g. title: 'Paper Explained 2')"
        )
    if _HTML.search(title):
        raise EngineError(
            f"{shown}: field 'title' must be plain text, without '<' or '>' (HTML "
            f"would be published raw in the page, the blog index and the feeds), "
            f"not {title!r}"
        )
    description = meta.get("description")
    if description is not None and not (
        isinstance(description, str)
        and not _HTML.search(description)
        and '"' not in description
    ):
        raise EngineError(
            f"{shown}: field 'description' must be plain text, without '<', '>' or "
            f"'\"' (the page's <meta> tag prints it as it is), not {description!r}"
        )
    if "date" not in meta:
        raise EngineError(f"{shown}: field 'date' is missing (e.g. date: 2024-02-02)")
    if not isinstance(meta["date"], dt.date):
        raise EngineError(
            f"{shown}: field 'date' must be a date such as 2024-02-02, "
            f"not {meta['date']!r}"
        )

    tags = meta.get("tags")
    if isinstance(tags, str):
        tags = tags.split()
    if tags is not None and not (
        isinstance(tags, list) and all(isinstance(t, str) for t in tags)
    ):
        raise EngineError(
            f"{shown}: field 'tags' must be a list of words, e.g. [Deep Learning]"
        )
    for tag in tags or []:
        if _HTML.search(tag) or "&" in tag:
            raise EngineError(
                f"{shown}: field 'tags' must hold plain words, without '<', '>' or "
                f"'&' (they would be published raw in the pages and the feeds), "
                f"not {tag!r}"
            )

    permalink = meta.get("permalink")
    if permalink is None:
        stem = os.path.splitext(os.path.basename(path))[0]
        dated = _DATED_NAME.match(stem)
        name = dated.group("name") if dated else stem
    else:
        name = _permalink_name(permalink, shown)
        permalink = permalink.rstrip("/") + "/"
    _check_blog_fields(meta, path, shown)
    return Post(
        path=shown,
        title=title.strip(),
        name=name,
        permalink=permalink,
        tags=tags,
        text=text,
        body_line=text.count("\n", 0, match.end()) + 1,
        draft=not published,
        meta=meta,
        settings=_settings(path),
    )


def _settings(path: str) -> dict:
    """The post's build settings, from ``<post folder>/post.yml`` beside it ({} when
    there is none): ``download`` (its one-file download) and ``install`` (what a
    reader may pip install from the blog's repository)."""
    file = os.path.join(os.path.splitext(path)[0], "post.yml")
    if not os.path.isfile(file):
        return {}
    try:
        settings = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise EngineError(f"{file}: not valid YAML: {error}") from None
    if not isinstance(settings, dict):
        raise EngineError(f"{file}: expected 'setting: value' lines")
    return settings


def _permalink_name(permalink, shown: str) -> str:
    """The last segment of a permalink; anything but /name/name/... stops the build."""
    expected = (
        f"field 'permalink' must look like /posts/2024/02/name/, not {permalink!r}"
    )
    if not isinstance(permalink, str) or not permalink.startswith("/"):
        raise EngineError(f"{shown}: {expected}")
    segments = permalink[1:].removesuffix("/").split("/")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise EngineError(
                f"{shown}: {expected}: its part {segment!r} is not a name (letters, "
                "digits, '-' and '_', with '.' only between them)"
            )
    return segments[-1]


def _check_blog_fields(meta: dict, path: str, shown: str) -> None:
    """The fields the blog plugin reads itself (draft, slug, pin, ...), checked as it
    checks them.

    The plugin's own message would name the mounted page, not this file.
    """
    try:
        from material.plugins.blog.structure.config import PostConfig
    except ImportError:  # another Material layout: the plugin still checks them
        return
    post_config = PostConfig(path)
    post_config.load_dict({key: meta[key] for key in set(meta) & set(post_config)})
    errors, _ = post_config.validate()
    for name, error in errors:
        raise EngineError(
            f"{shown}: field '{name}' is not valid for the blog plugin, "
            f"not {meta[name]!r}: {error}"
        )


def _includes(lines: list[str], snippets) -> list[tuple[int, int]]:
    """(first, last) line index of each --8<-- include: one line, or a block between two
    markers."""
    found, start = [], None
    for number, line in enumerate(lines):
        match = snippets.RE_ALL_SNIPPETS.match(line)
        if not match or match.group("escape"):
            continue
        if start is not None:  # inside a block: only its closing marker counts
            if not match.group("inline_marker"):
                found.append((start, number))
                start = None
        elif match.group("inline_marker"):
            found.append((number, number))
        else:
            start = number
    if start is not None:
        found.append((start, len(lines) - 1))
    return found


def check_includes(post: Post, snippets, root: str) -> None:
    """Each --8<-- include of the post sits in a fenced code block and finds its file
    and section.

    Checked before anything is converted, with the site's own snippets settings, so the
    message names the post's file and line (pymdownx would name the mounted page).
    """
    if snippets is None:
        return
    from pymdownx.snippets import SnippetMissingError

    flagged = lines_with_code_flags(post.body)
    lines = [line.rstrip("\r\n") for line, _ in flagged]
    for first, last in _includes(lines, snippets):
        include = " / ".join(line.strip() for line in lines[first : last + 1])
        for number in range(first, last + 1):
            if not flagged[number][1]:
                raise EngineError(
                    f"{post.path}, line {post.body_line + number}: "
                    f"the include '{include}' is "
                    "outside a fenced code block, so the included code would be pasted "
                    "into the page as Markdown; put it inside a fence: "
                    "a line ```python before it and a line ``` after it"
                )
        # a block is checked one path at a time, so the message names the path's line
        parts = (
            [(first, [lines[first]])]
            if first == last
            else [
                (number, [lines[first], lines[number], lines[first]])
                for number in range(first + 1, last)
            ]
        )
        for number, part in parts:
            try:
                snippets.run(part)
            except (SnippetMissingError, OSError, UnicodeDecodeError) as error:
                hint = _include_hint(error, lines[number], snippets, root)
                raise EngineError(
                    f"{post.path}, line {post.body_line + number}: the include "
                    f"'{lines[number].strip()}' failed: {error}{hint}"
                ) from None
            # pymdownx checks the path, not where a symbolic link in it leads
            target = _include_target(lines[number], snippets)
            path = target and snippets.get_snippet_path(target["path"])
            real = os.path.realpath(path) if path else None
            if real and not real.startswith(os.path.join(os.path.realpath(root), "")):
                raise EngineError(
                    f"{post.path}, line {post.body_line + number}: the include "
                    f"'{lines[number].strip()}' leads outside the repository, to "
                    f"{real} (through a symbolic link); include files of the "
                    "repository only"
                )


def _include_hint(error: Exception, line: str, snippets, root: str) -> str:
    """What the author can write instead: the sections the file has, or where paths
    start."""
    target = _include_target(line, snippets)
    if not target:
        return ""
    path = snippets.get_snippet_path(target["path"])
    if path is None:
        return (
            "; paths are relative to the repository root, e.g. "
            '--8<-- "gmlp_snippets/sgu.py:sgu"'
        )
    if target["section"] and f"section '{target['section']}'" in str(error):
        names = []
        for source_line in snippets.read_lines(path):
            marker = snippets.match_section(source_line)
            if (
                marker
                and marker.group("type").lower() == "start"
                and not marker.group("escape")
            ):
                names.append(marker.group("name"))
        shown = os.path.relpath(path, root)
        return (
            f"; the sections of {shown} are: {', '.join(names)}"
            if names
            else f"; {shown} has no '# --8<-- [start:<name>]' section markers"
        )
    return ""


def _include_target(line: str, snippets) -> dict | None:
    """What an include line (or a path line of a block include) names, as pymdownx
    parses it: path, lines, section."""
    match = snippets.RE_ALL_SNIPPETS.match(line)
    path = match.group("snippet")[1:-1] if match and match.group("snippet") else line
    return snippets.parse_snippet_target(path.strip())


def _where(front_matter: str, error: yaml.YAMLError) -> str:
    """' (field 'x', line n of the file)' for a YAML error: the field whose value holds
    it."""
    # context_mark: where the broken construct (e.g. an unclosed list) starts
    mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
    if mark is None:
        return ""
    field, line = _field_at(front_matter, mark)
    return (
        f" (field '{field}', line {line} of the file)"
        if field
        else f" (line {line} of the file)"
    )


def _field_at(front_matter: str, mark) -> tuple[str | None, int]:
    """The field whose value holds a YAML mark, and the file's line of that field (or of
    the mark)."""
    lines = front_matter.splitlines()
    for number in range(min(mark.line, len(lines) - 1), -1, -1):
        field = _FIELD_LINE.match(lines[number])
        if field:
            # line 1 of the file is the opening '---'
            return field.group("field"), number + 2
    return None, mark.line + 2


def with_separator(markdown: str, separator: str) -> str:
    """Put the excerpt separator after the first paragraph, unless there is one
    already."""
    if separator in markdown:
        return markdown
    lines = lines_with_code_flags(markdown)
    started = False
    for number, (line, is_code) in enumerate(lines):
        if not is_code and not line.strip():
            if started:
                head, tail = (
                    "".join(text for text, _ in lines[:number]),
                    "".join(text for text, _ in lines[number:]),
                )
                return head + f"\n{separator}\n" + tail
        elif is_code or not line.lstrip().startswith("#"):
            started = True
    return markdown


def demote(markdown: str) -> str:
    """The post's headings one level down (its title is the page's only `#`); fenced
    code is left alone."""
    return map_prose(markdown, lambda text: _HEADING.sub(r"#\1", text))


def page_markdown(post: Post, markdown: str, separator: str) -> str:
    """What the site renders for a post: its title as the `#` heading, its own headings
    one level down, and an excerpt separator after the first paragraph."""
    return f"# {post.title}\n\n{with_separator(demote(markdown), separator)}"
