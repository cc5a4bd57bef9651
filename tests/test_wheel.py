"""The package as a practitioner gets it: the wheel holds the model and nothing of the
site.

The wheel is built from the repository, installed into an empty virtual environment that
has only torch (and what torch itself requires, linked from this environment instead of
downloaded), and the README's own example runs there, outside the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow


def _requirement_names(dist: str, seen: set[str]) -> set[str]:
    """`dist` and, recursively, what it requires (markers for extras left out)."""
    name = metadata.distribution(dist).metadata["Name"]
    if name.lower() in seen:
        return seen
    seen.add(name.lower())
    for requirement in metadata.requires(name) or []:
        if "extra ==" in requirement:
            continue
        required = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        try:
            _requirement_names(required, seen)
        except metadata.PackageNotFoundError:
            pass  # a marker excludes it on this platform
    return seen


def _top_level(dist: str) -> set[str]:
    files = metadata.distribution(dist).files or []
    return {f.parts[0] for f in files if len(f.parts) > 1 or f.suffix == ".py"} - {
        "..",
        "bin",
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of what the sdist would hold (the build writes
    build/ and *.egg-info/ next to its sources: not into the repository)."""
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "gmlp_snippets",
        source / "gmlp_snippets",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("gmlp_snippets-*.whl")
    return built


def test_the_wheel_holds_the_model_and_nothing_of_the_site(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    packages = {
        n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")
    }
    assert packages == {"gmlp_snippets"}, packages
    modules = {n for n in names if n.startswith("gmlp_snippets/")}
    assert "gmlp_snippets/sgu.py" in modules and "gmlp_snippets/model.py" in modules
    assert not [n for n in modules if "figures" in n or "explainer" in n], modules
    requires = [
        line
        for line in zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
        .splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert requires == ["Requires-Dist: torch>=2.3"], requires


def test_the_readme_example_runs_from_the_wheel_in_a_torch_only_venv(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [
                str(python),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # torch and its own requirements, linked from this environment: nothing else is
    # importable
    here = Path(metadata.distribution("torch").locate_file(""))
    shared = tmp_path / "torch-only"
    shared.mkdir()
    for dist in _requirement_names("torch", set()):
        for top in _top_level(dist):
            if (here / top).exists() and not (shared / top).exists():
                (shared / top).symlink_to(here / top)
    (site / "torch-only.pth").write_text(str(shared) + "\n")
    # install the wheel by unpacking it (what pip does for a pure-Python wheel)
    zipfile.ZipFile(wheel).extractall(site)

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("## The package", 1)[1]
    code = re.search(r"```python\n(.*?)```", example, re.S).group(1)
    check = code + "\nprint(tuple(logits.shape))\n"
    result = subprocess.run(
        [str(python), "-c", check],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "(2, 64, 256)"
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import gmlp_snippets, sys; print(gmlp_snippets.__file__); "
            "import importlib.util as u; "
            "print(u.find_spec('explainer'), u.find_spec('mkdocs'), "
            "u.find_spec('matplotlib'))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    where, missing = probe.stdout.splitlines()
    assert where.startswith(str(site)), where
    assert missing == "None None None", "the venv has more than torch"
