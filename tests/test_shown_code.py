"""The package code a reader sees: the sections the posts include are the paper's code.

Input checks live in gmlp_snippets/checks.py; a shown section calls each in one line and
holds no `raise` of its own. Imports sit at the top of each module, never inside a
function (a function-level import is how an import cycle hides).
"""

from __future__ import annotations

import ast
import re

import pytest
from conftest import REPO

from explainer import export

INCLUDE = re.compile(r'--8<-- "gmlp_snippets/([\w/]+\.py):(\w+)"')


def shown_sections() -> list[tuple[str, str]]:
    """(file, section) of every include of the package in a post, each once."""
    found = {}
    for post in sorted((REPO / "posts").glob("*.md")):
        for file, name in INCLUDE.findall(post.read_text(encoding="utf-8")):
            found[(file, name)] = None
    return list(found)


def test_the_posts_show_the_model():
    sections = shown_sections()
    assert ("sgu.py", "sgu") in sections and ("model.py", "lm") in sections


@pytest.mark.parametrize("file, name", shown_sections(), ids="{0[0]}:{0[1]}".format)
def test_a_shown_section_holds_no_input_check(file, name):
    tree = ast.parse(export.read_section(f"gmlp_snippets/{file}:{name}"))
    raises = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Raise)]
    assert not raises, f"{file}:{name} raises on lines {raises}: move it to checks.py"
    for node in ast.walk(tree):
        call = node.value if isinstance(node, ast.Expr | ast.Assign) else None
        if isinstance(call, ast.Call) and getattr(call.func, "id", "").startswith(
            "check_"
        ):
            assert call.lineno == call.end_lineno, (
                f"{file}:{name}: the check on line {call.lineno} takes more than a line"
            )


@pytest.mark.parametrize("path", sorted((REPO / "gmlp_snippets").glob("*.py")), ids=str)
def test_imports_are_at_module_level(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    nested = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in top
    ]
    assert not nested, f"{path.name}: imports inside a function on lines {nested}"


def test_checks_import_nothing_of_the_package():
    tree = ast.parse((REPO / "gmlp_snippets" / "checks.py").read_text(encoding="utf-8"))
    imported = [
        alias.name if isinstance(node, ast.Import) else node.module
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert imported and not [m for m in imported if m.startswith("gmlp_snippets")]
