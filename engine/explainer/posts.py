"""Posts as the author writes them (``<posts_dir>/YYYY-MM-DD-<name>.md``, Jekyll front
matter), checked: every problem stops the build with an EngineError that names the real
file and the field or line and says what was expected (README, "Writing a new post")."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from mkdocs.utils.meta import YAML_RE

from explainer.engine import EngineError
from explainer.markdown import lines_with_code_flags, map_prose

_HEADING = re.compile(r"^(#{1,5})(?=[ \t]|$)", re.MULTILINE)


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
    settings: dict = field(default_factory=dict)  # <post>/post.yml: download, install

    @property
    def body(self) -> str:
        return self.text.split("\n", self.body_line - 1)[-1]


def _read_text(path: str, shown: str) -> str:
    """The file as MkDocs sees it: no UTF-8 BOM, '\n' line ends; not UTF-8 stops."""
    data = Path(path).read_bytes()
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # a UTF-8 BOM
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as error:
        at = bom + error.start
        line, column = data.count(b"\n", 0, at) + 1, at - data.rfind(b"\n", 0, at)
        raise EngineError(
            f"{shown}: not UTF-8: byte 0x{data[at]:02x} at offset {at} (line {line}, "
            f"byte {column} of the line) {error.reason}; save the file as UTF-8"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _field_at(mark) -> tuple[str | None, int]:
    """The field holding a YAML mark, and the file's line of the field (or the mark)."""
    lines = mark.buffer.splitlines()[: mark.line + 1]
    for number, line in reversed(list(enumerate(lines))):
        if found := re.match(r"([A-Za-z_][\w-]*)[ \t]*:", line):
            return found[1], number + 2
    return None, mark.line + 2


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice and a date not on the calendar."""

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
                raise EngineError(
                    f"field '{key}' is given twice (lines {first.line + 2} and "
                    f"{key_node.start_mark.line + 2} of the file); keep one of them"
                )
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as error:  # datetime.date(2024, 2, 30)
            name, line = _field_at(node.start_mark)
            raise EngineError(
                f"field '{name}' (line {line} of the file) must be a real date such "
                f"as 2024-02-29, not {node.value} ({error})"
            ) from None


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
    except EngineError as error:  # from _Loader: a field twice, a date not real
        raise EngineError(f"{shown}: {error}") from None
    except yaml.YAMLError as error:
        marked = isinstance(error, yaml.MarkedYAMLError)
        mark = marked and (error.context_mark or error.problem_mark)
        where = ""
        if mark:  # context_mark: where the broken construct (an unclosed list) starts
            name, line = _field_at(mark)
            where = f" ({f'field {name!r}, ' if name else ''}line {line} of the file)"
        raise EngineError(
            f"{shown}: front matter is not valid YAML{where}:\n{error}"
        ) from None
    if not isinstance(meta, dict):
        raise EngineError(f"{shown}: front matter must be 'field: value' lines")

    def need(ok, field_expected: str) -> None:
        if not ok:
            raise EngineError(f"{shown}: field {field_expected}")

    published, title = meta.get("published", True), meta.get("title")
    need(isinstance(published, bool), "'published' must be true or false")
    need(
        isinstance(title, str) and title.strip(),
        "'title' is missing or empty (e.g. title: 'Paper Explained 2')",
    )
    need(
        not re.search("[<>]", title),
        "'title' must be plain text, without '<' or '>' (HTML would be published raw "
        f"in the page, the blog index and the feeds), not {title!r}",
    )
    about = meta.get("description")
    need(
        about is None or isinstance(about, str) and not re.search(r'[<>"]', about),
        "'description' must be plain text, without '<', '>' or '\"' (the page's "
        f"<meta> tag prints it as it is), not {about!r}",
    )
    need("date" in meta, "'date' is missing (e.g. date: 2024-02-02)")
    need(
        isinstance(meta["date"], dt.date),
        f"'date' must be a date such as 2024-02-02, not {meta['date']!r}",
    )
    tags = meta.get("tags")
    tags = tags.split() if isinstance(tags, str) else tags
    need(
        isinstance(tags, list | None) and all(isinstance(t, str) for t in tags or []),
        "'tags' must be a list of words, e.g. [Deep Learning]",
    )
    for tag in tags or []:
        need(
            not re.search("[<>&]", tag),
            "'tags' must hold plain words, without '<', '>' or '&' (they would be "
            f"published raw in the pages and the feeds), not {tag!r}",
        )
    permalink = meta.get("permalink")
    name = re.sub(r"^\d{4}-\d{2}-\d{2}-(?=.)", "", Path(path).stem)
    if permalink is not None:
        expected = f"'permalink' must look like /posts/2024/02/name/, not {permalink!r}"
        need(isinstance(permalink, str) and permalink.startswith("/"), expected)
        segments = permalink[1:].removesuffix("/").split("/")
        for segment in segments:
            need(
                re.fullmatch(r"[\w-]+(?:\.[\w-]+)*", segment),
                f"{expected}: its part {segment!r} is not a name (letters, digits, "
                "'-' and '_', with '.' only between them)",
            )
        name, permalink = segments[-1], permalink.rstrip("/") + "/"
    _check_blog_fields(meta, path, shown)
    line, settings = text.count("\n", 0, match.end()) + 1, _settings(path)
    return Post(
        shown, title.strip(), name, permalink, tags, text, line, not published, settings
    )


def _settings(path: str) -> dict:
    """The build settings (``download``, ``install``) in ``<post>/post.yml``, or {}."""
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


def _check_blog_fields(meta: dict, path: str, shown: str) -> None:
    """The fields the blog plugin reads (draft, slug, ...), checked as it checks them
    (its message would name the mounted page)."""
    try:
        from material.plugins.blog.structure.config import PostConfig
    except ImportError:  # another Material layout: the plugin still checks them
        return
    post_config = PostConfig(path)
    post_config.load_dict({key: meta[key] for key in set(meta) & set(post_config)})
    for name, error in post_config.validate()[0]:
        raise EngineError(
            f"{shown}: field '{name}' is not valid for the blog plugin, "
            f"not {meta[name]!r}: {error}"
        )


def _includes(lines: list[str], snippets) -> list[tuple[int, int]]:
    """(first, last) line of each --8<-- include: one line or a block of paths."""
    found, start = [], None
    for number, line in enumerate(lines):
        match = snippets.RE_ALL_SNIPPETS.match(line)
        if not match or match["escape"]:
            continue
        if start is None and match["inline_marker"]:
            found.append((number, number))
        elif start is None:
            start = number
        elif not match["inline_marker"]:  # inside a block: only its closing marker
            found.append((start, number))
            start = None
    return found + ([(start, len(lines) - 1)] if start is not None else [])


def check_includes(post: Post, snippets, root: str) -> None:
    """Each --8<-- include sits in a fenced block and finds its file and section,
    checked before conversion so the message names the post's line, not the page's."""
    if snippets is None:
        return
    from pymdownx.snippets import SnippetMissingError

    flagged = lines_with_code_flags(post.body)
    lines = [line.rstrip("\r\n") for line, _ in flagged]
    for first, last in _includes(lines, snippets):
        outside = [n for n in range(first, last + 1) if not flagged[n][1]]
        if outside:
            include = " / ".join(line.strip() for line in lines[first : last + 1])
            raise EngineError(
                f"{post.path}, line {post.body_line + outside[0]}: the include "
                f"'{include}' is outside a fenced code block, so the included code "
                "would be pasted into the page as Markdown; put it inside a fence: "
                "a line ```python before it and a line ``` after it"
            )
        # a block is checked one path at a time, so the message names the path's line
        for number in [first] if first == last else range(first + 1, last):
            line = lines[number]
            at = f"{post.path}, line {post.body_line + number}: the include "
            at += f"'{line.strip()}'"
            match = snippets.RE_ALL_SNIPPETS.match(line)
            spec = match["snippet"][1:-1] if match and match["snippet"] else line
            target = snippets.parse_snippet_target(spec.strip())
            path = target and snippets.get_snippet_path(target["path"])
            part = [line] if first == last else [lines[first], line, lines[first]]
            try:
                snippets.run(part)
            except (SnippetMissingError, OSError, UnicodeDecodeError) as error:
                hint = _include_hint(str(error), target, path, snippets, root)
                raise EngineError(f"{at} failed: {error}{hint}") from None
            # pymdownx checks the path, not where a symbolic link in it leads
            real = os.path.realpath(path) if path else None
            if real and not real.startswith(os.path.join(os.path.realpath(root), "")):
                raise EngineError(
                    f"{at} leads outside the repository, to {real} (through a "
                    "symbolic link); include files of the repository only"
                )


def _include_hint(error: str, target, path, snippets, root: str) -> str:
    """What the author can write instead: the file's sections, or where paths start."""
    if not target:
        return ""
    if path is None:
        return (
            "; paths are relative to the repository root, e.g. "
            '--8<-- "gmlp_snippets/sgu.py:sgu"'
        )
    if not target["section"] or f"section '{target['section']}'" not in error:
        return ""
    names = [
        marker["name"]
        for marker in map(snippets.match_section, snippets.read_lines(path))
        if marker and marker["type"].lower() == "start" and not marker["escape"]
    ]
    shown = os.path.relpath(path, root)
    if not names:
        return f"; {shown} has no '# --8<-- [start:<name>]' section markers"
    return f"; the sections of {shown} are: {', '.join(names)}"


def with_separator(markdown: str, separator: str) -> str:
    """The excerpt separator put after the first paragraph, unless there is one."""
    if separator in markdown:
        return markdown
    lines = lines_with_code_flags(markdown)
    started = False
    for number, (line, is_code) in enumerate(lines):
        text = line.strip()
        if started and not is_code and not text:
            head = "".join(line for line, _ in lines[:number])
            return f"{head}\n{separator}\n{markdown[len(head) :]}"
        started = started or is_code or bool(text) and text[0] != "#"
    return markdown


def demote(markdown: str) -> str:
    """The post's headings one level down (its title is the page's only `#`)."""
    return map_prose(markdown, lambda text: _HEADING.sub(r"#\1", text))


def page_markdown(post: Post, markdown: str, separator: str) -> str:
    """What the site renders for a post: its title as the `#` heading, its own headings
    one level down, and an excerpt separator after the first paragraph."""
    return f"# {post.title}\n\n{with_separator(demote(markdown), separator)}"
