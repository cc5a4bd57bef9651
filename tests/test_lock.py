"""The Python lock: requirements/constraints.txt pins every package that is installed.

`make lock` writes it (pip-compile from pyproject.toml); the Makefile, CI (.ci/run runs
`make test`) and the Pages workflow all install with
`pip install -c requirements/constraints.txt`. These checks fail when the lock no longer
covers pyproject.toml, when an install path skips it, or when the environment running
the tests drifted from it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata

import conftest
import pytest
import yaml
from conftest import REPO
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the project runs on 3.11
    tomllib = pytest.importorskip("tomli")

LOCK = REPO / "requirements" / "constraints.txt"
LOCK_REL = "requirements/constraints.txt"
PROJECT = "gmlp-snippets"
EXTRAS = ("docs", "test")  # what the Makefile and the Pages workflow install
TORCH = "2.13.0"
# Installed with the lock although no package requires them.
ALSO_INSTALLED = ("pip",)
FIX = (
    "reinstall with the lock: rm -f .venv/.installed && make venv "
    f"(or pip install -c {LOCK_REL} -e '.[docs,test]')"
)


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(text: str | None = None) -> dict[str, str]:
    """Package -> locked version."""
    text = LOCK.read_text(encoding="utf-8") if text is None else text
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
            assert match, (
                f"{LOCK_REL}: not a 'name==version' line: {line!r} (run `make lock`)"
            )
            pins[_name(match.group(1))] = match.group(2)
    return pins


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]


def _direct(extras=EXTRAS) -> list[Requirement]:
    """pyproject.toml's requirements for the package with `extras`, self-references
    followed."""
    project, found, todo, done = _project(), [], ["", *extras], set()
    while todo:
        extra = todo.pop()
        if extra in done:
            continue
        done.add(extra)
        lines = (
            project["dependencies"]
            if extra == ""
            else project["optional-dependencies"][extra]
        )
        for line in lines:
            requirement = Requirement(line)
            if _name(requirement.name) == PROJECT:
                todo += sorted(requirement.extras)
            elif requirement.marker is None or requirement.marker.evaluate(
                {"extra": ""}
            ):
                found.append(requirement)
    return found


def _required(roots: list[Requirement]) -> tuple[dict[str, set[str]], list[str]]:
    """Every package the roots need here (markers evaluated), and the ones not
    installed."""
    needed: dict[str, set[str]] = {}
    missing: list[str] = []
    todo = [(r.name, set(r.extras)) for r in roots] + [
        (name, set()) for name in ALSO_INSTALLED
    ]
    while todo:
        name, extras = todo.pop()
        key = _name(name)
        if key in needed and extras <= needed[key]:
            continue
        needed.setdefault(key, set()).update(extras)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(key)
            continue
        for line in dist.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(
                marker.evaluate({"extra": e}) for e in ["", *needed[key]]
            ):
                todo.append((requirement.name, set(requirement.extras)))
    return needed, sorted(set(missing))


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def drift(lock: dict[str, str], needed, installed=_installed) -> list[str]:
    """'name: locked X, installed Y' for each needed package whose version is not the
    locked one."""
    problems = []
    for name in sorted(needed):
        if name not in lock:
            # pyproject's own requirements are checked by test_lock_covers_pyproject
            continue
        have = installed(name)
        if have is None:
            problems.append(f"{name}: locked {lock[name]}, not installed")
            continue
        try:
            same = Version(have) in SpecifierSet(
                f"=={lock[name]}"
            )  # 2.13.0+cpu is 2.13.0
        except InvalidVersion:
            same = have == lock[name]
        if not same:
            problems.append(f"{name}: locked {lock[name]}, installed {have}")
    return problems


# ---- the lock itself -----------------------------------------------------------------


def test_lock_is_a_pip_constraints_file():
    pins = _lock()
    assert pins.get("torch") == TORCH, (
        f"{LOCK_REL} must pin torch=={TORCH} (no +cpu: CUDA builds fit too)"
    )
    assert "pip" in pins, (
        f"{LOCK_REL} pins pip too: "
        "the Makefile and the workflows install it with the lock"
    )
    assert PROJECT not in pins, (
        "the project itself is installed from the checkout, not pinned"
    )
    text = LOCK.read_text(encoding="utf-8")
    assert "file://" not in text and "/opt/" not in text, (
        "no machine-local paths or indexes in the lock"
    )


def test_lock_covers_pyproject():
    """Every requirement of pyproject.toml (docs and test extras) is locked at a version
    it allows."""
    pins, problems = _lock(), []
    for requirement in _direct(("docs", "test", "figures")):
        name = _name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement}: the lock has {pins[name]}")
    assert not problems, f"{LOCK_REL} is stale, run `make lock`:\n" + "\n".join(
        problems
    )


def test_ruff_is_a_test_requirement():
    assert "ruff" in {_name(r.name) for r in _direct(("test",))}
    assert "ruff" in _lock()


# ---- the environment running the tests -----------------------------------------------


def test_installed_packages_match_the_lock():
    needed, missing = _required(_direct())
    assert not missing, f"required but not installed: {', '.join(missing)}; {FIX}"
    problems = drift(_lock(), needed)
    assert not problems, (
        f"the environment drifted from {LOCK_REL}:\n" + "\n".join(problems) + f"\n{FIX}"
    )


def test_drift_names_the_package_and_both_versions():
    lock = {"mkdocs": "1.6.1", "torch": "2.13.0", "ruff": "0.1.0", "pip": "26.3"}
    versions = {"mkdocs": "1.5.3", "torch": "2.13.0+cpu", "pip": "26.3"}
    problems = drift(
        lock, ["mkdocs", "torch", "ruff", "pip", "not-locked"], versions.get
    )
    assert problems == [
        "mkdocs: locked 1.6.1, installed 1.5.3",
        "ruff: locked 0.1.0, not installed",
    ]


# ---- every install path uses it: what make, .ci/run and the Pages job run ------------


def _recorder(folder, *names, fail=()):
    """Fake commands on PATH that append their argv to folder/calls (exit 1: `fail`)."""
    folder.mkdir(exist_ok=True)
    for name in names:
        script = folder / name
        status = 1 if name in fail else 0
        script.write_text(
            f'#!/bin/sh\necho "{name} $*" >> "{folder}/calls"\nexit {status}\n'
        )
        script.chmod(0o755)
    return folder


def _calls(folder) -> list[str]:
    calls = folder / "calls"
    return calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def _pip_installs(calls: list[str]) -> list[str]:
    return [line for line in calls if "pip install" in line]


def test_make_venv_installs_with_the_lock_and_reinstalls_when_it_changes(tmp_path):
    lock, venv = tmp_path / "constraints.txt", tmp_path / "venv"
    lock.write_text("pip==26.3\n")
    (venv / "bin").mkdir(parents=True)
    make = ["make", "-C", str(REPO), f"VENV={venv}", f"LOCK={lock}"]
    dry = subprocess.run(
        [*make, "-n", "-B", "venv"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    installs = _pip_installs(dry)
    assert len(installs) >= 3, dry  # pip, torch, the package with its extras
    for line in installs:
        assert f"-c {lock}" in line, f"make venv installs without the lock: {line}"
    assert any('-e ".[docs,test]"' in line and "./engine" in line for line in installs)
    (venv / ".installed").touch()
    os.utime(lock, (1, 1))  # the stamp is newer: nothing to do
    assert subprocess.run([*make, "-q", "venv"]).returncode == 0
    lock.touch()  # the lock changed: the venv is reinstalled
    assert subprocess.run([*make, "-q", "venv"]).returncode == 1


def test_ci_runs_the_linter_and_the_readme_test_command(tmp_path):
    bin_dir = _recorder(tmp_path / "bin", "make", "chromium")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run([str(REPO / ".ci" / "run")], env=env, check=True)
    assert _calls(bin_dir) == ["make lint", "make test"]


def _run_job(job: dict, bin_dir, workdir) -> list[str]:
    """The job's steps as the runner takes them: `run` steps in bash -e, until one
    fails (unless it may); `uses` steps recorded by name."""
    done, failed = [], False
    for step in job["steps"]:
        if failed and "always()" not in str(step.get("if", "")):
            break
        if "uses" in step:
            done.append(f"uses {step['uses']}")
            continue
        env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
        code = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=workdir, env=env
        ).returncode
        done.append(f"run {step['run'].strip().splitlines()[-1]}")
        failed = code != 0 and not step.get("continue-on-error")
    return done


def test_pages_job_installs_with_the_lock_and_tests_before_it_deploys(tmp_path):
    workflow = yaml.safe_load(
        (REPO / ".github/workflows/pages.yml").read_text(encoding="utf-8")
    )
    job = workflow["jobs"]["build"]
    fakes = ("python", "pip", "npm", "mkdocs", "pytest")
    bin_dir = _recorder(tmp_path / "ok", *fakes)
    steps = _run_job(job, bin_dir, tmp_path)
    calls = _calls(bin_dir)
    installs = _pip_installs(calls)
    assert installs, "the Pages job installs nothing?"
    for line in installs:
        assert f"-c {LOCK_REL}" in line, (
            f"the Pages job installs without the lock: {line}"
        )
    torch = [line for line in installs if "torch==" in line]
    assert torch and all(
        f"torch=={TORCH}" in line and "download.pytorch.org/whl/cpu" in line
        for line in torch
    ), "the Pages build installs the CPU torch"
    assert any(".[docs,test]" in line for line in installs), "the test extra"
    tests = next(i for i, x in enumerate(calls) if "-m pytest" in x)
    site = next(i for i, x in enumerate(calls) if x.startswith("mkdocs build"))
    assert tests < site, "the tests run before the site is built"
    assert steps[-1].startswith("uses actions/upload-pages-artifact"), steps
    # a failing test stops the job: no site is built, nothing is uploaded
    bin_dir = _recorder(tmp_path / "red", *fakes, fail=("python",))
    python = bin_dir / "python"
    python.write_text(
        f'#!/bin/sh\necho "python $*" >> "{bin_dir}/calls"\n'
        'case "$*" in *pytest*) exit 1;; esac\n'
    )
    steps = _run_job(job, bin_dir, tmp_path)
    assert not any(x.startswith("mkdocs") for x in _calls(bin_dir))
    assert not any("upload-pages-artifact" in x for x in steps), steps
    needs = workflow["jobs"]["deploy"]["needs"]
    assert "build" in ([needs] if isinstance(needs, str) else needs), (
        "deploy only after the build job"
    )


def test_a_browser_test_without_chromium_skips_or_fails_under_ci(monkeypatch, tmp_path):
    """The check runs where a test first needs the browser, not at import: a run with
    `-m "not browser"` (the Pages workflow) collects every module without Chromium."""
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium"):
        conftest.require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: failing"):
        conftest.require_chromium()
