"""The figures build: every figure draws, the cache rebuilds exactly what changed (the
sources of a figure are traced from its imports), writes are atomic, bad arguments fail
before anything is written, the staleness check and its MkDocs hook catch missing and
stale figures, and a second post gets its own folder and manifest. Everything runs with
the hidden `test` profile (tiny models)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, figure_checker, snapshot

from explainer import engine
from explainer.engine import EngineError
from explainer.figures import MANIFEST, build, cache, check, find, runner
from explainer.figures.__main__ import main

POST2 = next(s for s in find(REPO / "posts", REPO) if s.matches("blog-post-2"))
FIGURES = POST2.figures
ASSETS = POST2.out
SRC = POST2.dir.relative_to(REPO).as_posix()  # posts/2024-02-02-blog-post-2
MAX_BYTES = 150_000  # the page must stay fast
CHEAP = ["whitevsblack", "gmlp", "layernorm", "activations"]


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def statuses(results) -> dict[str, str]:
    return {r.name: r.status for r in results}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """All figures, drawn once at test size on the CPU."""
    out = tmp_path_factory.mktemp("figures") / "blog2"
    results = build(POST2, out, profile="test", device="cpu", progress=False)
    assert statuses(results) == {f.name: "rebuilt" for f in FIGURES}
    return out


@pytest.fixture
def copy(built, tmp_path) -> Path:
    """A private copy of the built folder, for tests that change it."""
    return Path(shutil.copytree(built, tmp_path / "blog2"))


# ---- drawing -------------------------------------------------------------------------


@pytest.mark.parametrize("fig", FIGURES, ids=lambda f: f.name)
def test_each_figure_draws_a_png(built, fig):
    for name in fig.files:
        if not name.endswith(".png"):
            continue  # tiny_lm.*: the widget's weights, see tests/test_widget.py
        width, height = png_size(built / name)
        assert 100 < width < 3000 and 100 < height < 3000, (name, width, height)
        assert (built / name).stat().st_size < MAX_BYTES
    entry = json.loads((built / MANIFEST).read_text())["figures"][fig.name]
    assert (
        entry["profile"] == "test" and entry["device"] == "cpu" and entry["seed"] == 0
    )
    assert set(entry["files"]) == set(fig.files)
    recipe = cache.recipe(fig, POST2, device_kind="cpu", profile="test", seed=0)
    assert {k: entry[k] for k in recipe} == recipe  # what is keyed is recorded
    assert entry["key"] == engine.key(**recipe)  # and what is recorded is keyed
    assert {"torch", "matplotlib", "numpy", "python"} <= set(entry["versions"])


def test_manifest_records_the_measures(built):
    figures = json.loads((built / MANIFEST).read_text())["figures"]
    spatial = figures["spatial_weights"]["measures"]
    assert len(spatial["locality_share"]) == len(spatial["toeplitz_score"]) > 0
    assert 0 < spatial["locality_share_uniform"] < 1
    versus = figures["gmlp_vs_transformer"]["measures"]
    for model in ("gmlp", "transformer"):
        assert versus[model]["params"] > 0 and versus[model]["final_eval_loss"] > 0


def test_committed_figures_are_small_pngs():
    for fig in FIGURES:
        for name in fig.files:
            if not name.endswith(".png"):
                continue  # tiny_lm.*: the widget's weights, see tests/test_widget.py
            png_size(ASSETS / name)
            assert (ASSETS / name).stat().st_size < MAX_BYTES, name


def test_measures_of_the_committed_spatial_weights_match_the_figure():
    entry = json.loads((ASSETS / MANIFEST).read_text())["figures"]["spatial_weights"]
    m = entry["measures"]
    # the title of the committed figure says "local" only if the measures back it
    assert m["local_and_shift_invariant"] == (
        sum(m["locality_share"]) / len(m["locality_share"])
        >= 2 * m["locality_share_uniform"]
        and sum(m["toeplitz_score"]) / len(m["toeplitz_score"]) >= 0.5
    )


# ---- cache ---------------------------------------------------------------------------


def test_second_run_rebuilds_nothing_and_writes_nothing(copy):
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in copy.iterdir()}
    results = build(POST2, copy, profile="test", device="cpu", progress=False)
    assert set(statuses(results).values()) == {"cached"}
    assert {
        p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in copy.iterdir()
    } == before


def test_warm_run_imports_no_matplotlib(built):
    code = (
        f"import sys; from explainer.figures import build, find; "
        f"(s,) = [s for s in find('posts', '.') if s.matches('blog-post-2')]; "
        f"r = build(s, {str(built)!r}, profile='test', device='cpu', progress=False); "
        f"assert all(x.status == 'cached' for x in r); "
        f"print(sorted(m for m in sys.modules if m.startswith('matplotlib')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert out.stdout.strip() == "[]"


def _fake_edit(monkeypatch, relpath: str) -> None:
    """Pretend the package file `relpath` changed (its digest differs)."""
    real = engine.source_digest
    monkeypatch.setattr(
        engine,
        "source_digest",
        lambda rel, root=engine.REPO: "edited" if rel == relpath else real(rel, root),
    )


def test_a_figure_code_change_rebuilds_that_figure_only(copy, monkeypatch):
    _fake_edit(monkeypatch, f"{SRC}/fig_activations.py")
    results = build(POST2, copy, profile="test", device="cpu", progress=False)
    assert [r.name for r in results if r.status == "rebuilt"] == ["activations"]
    assert next(r for r in results if r.name == "activations").note == "code changed"


def test_a_package_module_change_rebuilds_the_figures_that_use_it(copy, monkeypatch):
    users = [
        f.name
        for f in FIGURES
        if "gmlp_snippets/norm.py" in cache.recipe(f, POST2)["sources"]
    ]
    assert "layernorm" in users and "sgu_gate" in users and "whitevsblack" not in users
    _fake_edit(monkeypatch, "gmlp_snippets/norm.py")
    problems = check(copy, None, POST2)
    assert problems and all(p.split(":")[0] in users for p in problems)
    results = build(POST2, copy, profile="test", device="cpu", progress=False)
    assert [r.name for r in results if r.status == "rebuilt"] == users
    assert check(copy, None, POST2) == []


def _copy_of_the_repository(root: Path) -> Path:
    """Post 2 (its .md and folder), its committed figures and the package, copied under
    `root`, to be edited."""
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "gmlp_snippets", root / "gmlp_snippets", ignore=skip)
    shutil.copytree(POST2.dir, root / SRC, ignore=skip)
    shutil.copy(POST2.post, root / "posts")
    shutil.copytree(ASSETS, root / "assets" / POST2.folder)
    return root


def _recorded(figset, out: Path, names: list[str]) -> None:
    """Record `names` in the manifest in `out` as made from their code as it is now."""
    out.mkdir(parents=True, exist_ok=True)
    for fig in figset.resolve(names):
        for file in fig.files:
            (out / file).write_bytes(b"drawn")
        cache.manifest(out).put(
            fig.name,
            {
                "files": {f: engine.file_digest(out / f) for f in fig.files},
                "sources": cache.recipe(fig, figset)["sources"],
            },
        )


def test_the_sources_of_a_figure_are_traced_from_its_imports(tmp_path):
    root = _copy_of_the_repository(tmp_path / "repo")
    (figset,) = find(root / "posts", root)
    swans, sgu = figset.resolve(["sgu_gate", "whitevsblack"])  # in the post's order
    sources = cache.recipe(sgu, figset)["sources"]
    for name in ("gmlp_snippets/sgu.py", f"{SRC}/training.py", f"{SRC}/corpus.py"):
        assert name in sources  # imported, not listed
    assert {f"{SRC}/fig_sgu_gate.py", cache.STYLE} <= set(sources)
    assert set(cache.recipe(swans, figset)["sources"]) == {
        f"{SRC}/fig_swans.py",
        cache.STYLE,
    }
    out = tmp_path / "out"
    _recorded(figset, out, ["sgu_gate", "whitevsblack"])
    names = ["sgu_gate", "whitevsblack"]
    assert check(out, names, figset) == []
    for rel in ("gmlp_snippets/sgu.py", f"{SRC}/training.py", f"{SRC}/fig_sgu_gate.py"):
        with open(root / rel, "a", encoding="utf-8") as f:
            f.write("\n# a comment, and a blank line above it\n")
    assert check(out, names, figset) == []  # comments do not count
    with open(root / SRC / "training.py", "a", encoding="utf-8") as f:
        f.write("UNUSED = 1\n")
    (problem,) = check(out, names, figset)
    assert problem.startswith("sgu_gate: its code changed") and "training.py" in problem


def test_comments_and_blank_lines_do_not_count():
    code = "x = 1\n\n    # a comment\ny = 2  \r\n# --8<-- [start:snippet]\n"
    assert engine.normalized_source(code) == engine.normalized_source("x = 1\ny = 2\n")
    assert engine.normalized_source(code) != engine.normalized_source("x = 1\ny = 3\n")


def test_a_file_changed_by_hand_is_rebuilt(copy):
    (copy / "gmlp.png").write_bytes(b"not the figure")
    results = build(POST2, copy, profile="test", device="cpu", progress=False)
    assert [r.name for r in results if r.status == "rebuilt"] == ["gmlp"]
    png_size(copy / "gmlp.png")


def test_force_rebuilds_only_what_is_asked(copy):
    results = build(
        POST2,
        copy,
        names=["gmlp.png", "layernorm"],
        force=True,
        profile="test",
        device="cpu",
        progress=False,
    )
    assert statuses(results) == {"gmlp": "rebuilt", "layernorm": "rebuilt"}
    assert set(json.loads((copy / MANIFEST).read_text())["figures"]) == {
        f.name for f in FIGURES
    }


def test_bytes_are_stable_on_cpu(built, tmp_path):
    again = tmp_path / "again"
    build(POST2, again, profile="test", device="cpu", progress=False)
    first, second = snapshot(built, mtimes=False), snapshot(again, mtimes=False)
    for name in first:
        if name != MANIFEST:
            assert first[name] == second[name], (
                f"{name} differs between two identical runs"
            )
    # the shared training run gives the same model whichever figure starts it
    alone = tmp_path / "alone"
    build(
        POST2,
        alone,
        names=["spatial_weights"],
        profile="test",
        device="cpu",
        progress=False,
    )
    assert (alone / "spatial_weights.png").read_bytes() == first["spatial_weights.png"]


def test_bytes_are_stable_for_the_committed_cheap_figures(tmp_path):
    recorded = json.loads((ASSETS / MANIFEST).read_text())["figures"]
    versions = engine.versions("torch", "matplotlib", "numpy")
    same = [
        name
        for name in CHEAP
        if recorded[name]["profile"] == "quick"
        and recorded[name]["device_kind"] == "cpu"
        and all(
            recorded[name]["versions"][lib] == versions[lib]
            for lib in ("torch", "matplotlib", "numpy")
        )
    ]
    if not same:
        pytest.skip(
            "the committed figures were drawn with other settings or library versions"
        )
    build(POST2, tmp_path, names=same, profile="quick", device="cpu", progress=False)
    for name in same:
        assert (tmp_path / f"{name}.png").read_bytes() == (
            ASSETS / f"{name}.png"
        ).read_bytes(), name


# ---- keeping GPU figures -------------------------------------------------------------


def _made_on_gpu(folder: Path, name: str) -> None:
    store = cache.manifest(folder)  # recorded as a GPU run would: checksum and all
    entry = store.entries[name]
    entry.update(
        profile="full",
        device_kind="cuda",
        device="NVIDIA H100 80GB HBM3",
        key="made-elsewhere",
    )
    store.put(name, entry)


def test_a_cpu_run_keeps_gpu_figures_whose_code_is_unchanged(copy):
    _made_on_gpu(copy, "activations")
    fig = next(f for f in FIGURES if f.name == "activations")
    entry = cache.read_manifest(copy)["activations"]
    keep, why = runner.decide(
        fig,
        entry,
        copy,
        entry["sources"],
        "another-key",
        "quick",
        "cpu",
        0,
        force=False,
    )
    assert keep is False and why.startswith("kept")
    rebuild, why = runner.decide(
        fig,
        entry,
        copy,
        entry["sources"],
        "another-key",
        "quick",
        "cpu",
        0,
        force=True,
    )
    assert rebuild is True and why == "--force"
    rebuild, why = runner.decide(
        fig, entry, copy, "new-code", "another-key", "quick", "cpu", 0, force=False
    )
    assert rebuild is True and why == "code changed"  # a stale GPU figure is redrawn
    assert check(copy, ["activations"], POST2) == []  # a GPU figure is valid on a CPU


def test_a_default_run_keeps_the_gpu_figure_end_to_end(copy, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _made_on_gpu(copy, "activations")
    results = build(
        POST2, copy, names=["activations"], progress=False
    )  # no --profile, no --device
    assert statuses(results) == {"activations": "cached"} and results[
        0
    ].note.startswith("kept")
    results = build(
        POST2,
        copy,
        names=["activations"],
        profile="test",
        device="cpu",
        progress=False,
    )
    assert statuses(results) == {
        "activations": "cached"
    }  # asking for the CPU is not enough
    results = build(
        POST2, copy, names=["activations"], profile="test", force=True, progress=False
    )
    assert statuses(results) == {"activations": "rebuilt"}


# ---- atomic writes -------------------------------------------------------------------


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "figure.png"
    target.write_bytes(b"old figure")

    def half_then_fail(f):
        f.write(b"half a new fig")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        engine.atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


def test_a_failing_figure_leaves_its_old_file_and_a_valid_manifest(copy, monkeypatch):
    fig_activations = POST2.module("fig_activations")
    old = (copy / "activations.png").read_bytes()
    real_write, real_make = engine.atomic_write_bytes, fig_activations.make

    def write_half_then_fail(path, data):
        if path.name != "activations.png":
            return real_write(path, data)

        def writer(f):
            f.write(data[: len(data) // 2])
            raise RuntimeError("disk full")

        engine.atomic_write(path, writer)

    def make(ctx):
        monkeypatch.setattr(engine, "atomic_write_bytes", write_half_then_fail)
        real_make(ctx)

    monkeypatch.setattr(fig_activations, "make", make)
    with pytest.raises(RuntimeError, match="disk full"):
        build(
            POST2,
            copy,
            names=["layernorm", "activations"],
            force=True,
            profile="test",
            device="cpu",
            progress=False,
        )
    assert (copy / "activations.png").read_bytes() == old
    assert not [
        p
        for p in copy.iterdir()
        if p.name.startswith(".") and not p.name.endswith(".lock")
    ]
    assert (
        check(copy, None, POST2) == []
    )  # layernorm was redrawn and recorded; activations is the old, valid one


def test_stale_temporary_files_are_cleaned_up(copy, monkeypatch):
    (copy / ".gmlp.png.12345.tmp").write_bytes(b"left by a killed run")
    _fake_edit(monkeypatch, f"{SRC}/fig_gmlp_block.py")
    build(POST2, copy, names=["gmlp"], profile="test", device="cpu", progress=False)
    assert not (copy / ".gmlp.png.12345.tmp").exists()


# ---- arguments -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (
            ["--only", "gmlp", "no_such_figure"],
            ["--only", "no_such_figure", "spatial_weights"],
        ),
        (["--profile", "huge"], ["--profile", "huge", "quick", "full"]),
        (["--device", "tpu"], ["--device", "tpu", "auto", "cuda", "cpu"]),
        (["--post", "nope"], ["--post", "nope", POST2.name]),
    ],
)
def test_bad_arguments_fail_before_writing(tmp_path, capsys, args, words):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main([*args, "--out", str(out), "-q"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert not out.exists()


def test_out_that_is_a_file_fails(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(SystemExit):
        main(["--out", str(target), "--profile", "test", "-q"])
    assert "--out" in capsys.readouterr().err and target.read_text() == "x"


def test_cuda_without_cuda_fails(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit):
        main(["--device", "cuda", "--out", str(tmp_path / "out"), "-q"])
    assert "--device" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_cli_prints_a_summary_table(copy, capsys):
    assert (
        main(
            [
                "--out",
                str(copy),
                "--profile",
                "test",
                "--device",
                "cpu",
                "--only",
                "gmlp",
                "-q",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "figure",
        "status",
        "seconds",
        "device",
        "note",
    ]
    assert "gmlp" in out and "cached" in out


# ---- staleness check and the MkDocs hook ---------------------------------------------


def test_check_passes_on_the_committed_figures():
    assert check(ASSETS, None, POST2) == []
    assert main(["--check"]) == 0


def test_check_finds_missing_and_stale_figures(copy, monkeypatch):
    assert check(copy, None, POST2) == []
    (copy / "sgu_gate.png").unlink()
    _fake_edit(monkeypatch, "gmlp_snippets/sgu.py")
    problems = check(copy, None, POST2)
    assert any(p.startswith("sgu_gate: sgu_gate.png is missing") for p in problems)
    assert any(
        p.startswith("spatial_weights: its code changed")
        and "gmlp_snippets/sgu.py" in p
        for p in problems
    )
    # only the figures that import it (through the package: gmlp and layernorm too)
    users = {
        f.name
        for f in FIGURES
        if "gmlp_snippets/sgu.py" in cache.recipe(f, POST2)["sources"]
    }
    assert {p.split(":")[0] for p in problems} == users
    assert "whitevsblack" not in users and "neuralnetwork" not in users
    (copy / MANIFEST).unlink()
    assert "missing" in check(copy, ["gmlp"], POST2)[0]
    assert check(copy, [], POST2) == []


PAGE = "![a](/assets/img/blog2/gmlp.png)\n![b](/assets/img/blog2/sgu_gate.png)\n"


def _site(tmp_path: Path, figures: Path):
    """Post 2's figures, drawn at test size, in a site's assets/img/blog2."""
    assets = tmp_path / "site" / "assets"
    shutil.copytree(figures, assets / "img" / "blog2")
    return dataclasses.replace(POST2, assets=assets)


def test_the_site_checks_the_linked_figures_only(built, tmp_path):
    from explainer.plugin import linked_files

    assert linked_files(PAGE) == {"img/blog2": {"gmlp.png", "sgu_gate.png"}}
    figures = _site(tmp_path, built)
    figure_checker(figures, PAGE)()
    (figures.out / "layernorm.png").unlink()  # not linked: fine
    figure_checker(figures, PAGE)()


def test_the_site_check_names_make_figures(built, tmp_path, monkeypatch):
    from mkdocs.exceptions import PluginError

    figures = _site(tmp_path, built)
    (figures.out / "gmlp.png").unlink()
    with pytest.raises(PluginError, match="make figures") as exc:
        figure_checker(figures, PAGE)()
    assert "gmlp.png is missing" in str(exc.value)
    figures = _site(tmp_path / "again", built)
    _fake_edit(monkeypatch, f"{SRC}/fig_sgu_gate.py")
    with pytest.raises(PluginError, match="make figures") as exc:
        figure_checker(figures, PAGE)()
    assert "sgu_gate: its code changed" in str(exc.value)
    figure_checker(figures, PAGE, figures_check=False)()  # switched off: warns only


# ---- the manifest is the engine's store: faults lose nothing -------------------------


@pytest.mark.faults
def test_only_never_drops_the_other_entries_and_each_figure_is_recorded_as_drawn(
    copy, monkeypatch
):
    fig_layernorm = POST2.module("fig_layernorm")

    def killed(ctx):
        raise KeyboardInterrupt  # the run dies while drawing the second figure

    monkeypatch.setattr(fig_layernorm, "make", killed)
    with pytest.raises(KeyboardInterrupt):
        build(
            POST2,
            copy,
            names=["gmlp", "layernorm"],
            force=True,
            profile="test",
            device="cpu",
            progress=False,
        )
    recorded = json.loads((copy / MANIFEST).read_text())["figures"]
    assert set(recorded) == {f.name for f in FIGURES}  # --only kept the others
    assert (
        check(copy, ["gmlp"], POST2) == []
    )  # the finished figure was recorded before the kill


# ---- numbers and provenance from the manifest in the prose ---------------------------


def test_measured_numbers_come_from_the_manifest(built):
    from explainer import measured
    from explainer.engine import EngineError

    entries = cache.read_manifest(built)
    text = (
        "n = {{ figure.gmlp.n }}, {{ figure.activations.gelu_min | .2f }}, "
        "{{figure.gmlp.profile}}"
    )
    out = measured.substitute(text, entries, lambda offset: "post.md:1")
    gelu_min = entries["activations"]["measures"]["gelu_min"]
    assert out == f"n = {entries['gmlp']['measures']['n']}, {gelu_min:.2f}, test"
    assert (
        measured.substitute("\\frac{{x}}{{y}}", entries, str) == "\\frac{{x}}{{y}}"
    )  # LaTeX is left alone
    with pytest.raises(
        EngineError,
        match=r"post\.md:7: \{\{ figure\.gmlp\.no_such \}\}: .*keys: .*d_model",
    ):
        measured.substitute(
            "{{ figure.gmlp.no_such }}", entries, lambda offset: "post.md:7"
        )
    with pytest.raises(EngineError, match="no figure 'nope'"):
        measured.substitute("{{ figure.nope.x }}", entries, str)
    with pytest.raises(EngineError, match="Unknown format code"):
        measured.substitute("{{ figure.gmlp.profile | .2f }}", entries, str)
    assert (
        measured.provenance(entries["gmlp"])
        == "vẽ bằng <code>make figures</code> trên CPU, profile test"
    )
    assert "bước huấn luyện" in measured.provenance(entries["sgu_gate"])


def test_the_post_uses_only_known_measures():
    from explainer import measured

    post = (REPO / "posts" / "2024-02-02-blog-post-2.md").read_text(encoding="utf-8")
    assert measured.TOKEN.search(post), "the post takes no number from the manifest"
    measured.substitute(
        post,
        cache.read_manifest(ASSETS),
        lambda offset: f"line {measured.line_of(post, offset)}",
    )


def test_the_post_says_who_won_the_toy_comparison_as_the_manifest_does():
    post = (REPO / "posts" / "2024-02-02-blog-post-2.md").read_text(encoding="utf-8")
    measures = cache.read_manifest(ASSETS)["gmlp_vs_transformer"]["measures"]
    # the post's ways of saying that the gMLP won
    if any(claim in post for claim in ("gMLP thắng thật", "gMLP thấp hơn thật")):
        assert measures["winner"] == "gmlp", (
            "the post says the gMLP won; the figure disagrees"
        )
    else:
        assert measures["winner"] != "gmlp", (
            "the figure says the gMLP won; the post does not"
        )


# ---- training on a GPU: bf16 autocast and torch.compile -------------------------


def test_the_fast_training_path_is_for_cuda_and_matches_eager():
    import torch

    from gmlp_snippets.model import GMLPForCausalLM

    training = POST2.module("training")
    s = training.settings("test")
    model = GMLPForCausalLM(training.gmlp_config(s))
    assert (
        training.loss_function(model, torch.device("cpu")) == model.loss
    )  # CPU: eager
    tokens = torch.randint(
        0, 256, (s.batch, s.seq_len + 1), generator=torch.Generator().manual_seed(0)
    )
    eager = model.loss(tokens)
    # the CUDA path (autocast + compile), on the CPU with a backend that needs no C++
    fast = training.loss_function(
        model, torch.device("cpu"), fast=True, backend="aot_eager"
    )
    loss = fast(tokens)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, eager, rtol=2e-2, atol=0)
    loss.backward()
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters()
    )


# ---- a second post: its own figures, folder and manifest ---------------------------

DOT = """import matplotlib.pyplot as plt


def make(ctx):
    fig, ax = plt.subplots(figsize=(1.5, 1.5))
    ax.plot([0, 1], [0, 1])
    ctx.save(fig, "dot.png")
    plt.close(fig)
"""


def _second_post(posts: Path, registry: str) -> Path:
    """posts/2025-01-01-second.md, with a figures.py and one figure module."""
    folder = posts / "2025-01-01-second"
    folder.mkdir(parents=True)
    (posts / "2025-01-01-second.md").write_text("---\ntitle: Hai\n---\n")
    (folder / "__init__.py").write_text("")
    (folder / "figures.py").write_text(registry)
    (folder / "fig_dot.py").write_text(DOT)
    return folder


def test_a_second_post_gets_its_own_folder_and_manifest(tmp_path, monkeypatch, capsys):
    root = _copy_of_the_repository(tmp_path / "repo")
    _second_post(
        root / "posts",
        "from explainer.figures import Figure\n\nFOLDER = 'img/second'\n"
        "FIGURES = (Figure('dot', 'fig_dot', ('dot.png',)),)\n",
    )
    blog2 = root / "assets" / POST2.folder
    before, committed = snapshot(blog2), snapshot(ASSETS)
    monkeypatch.setattr(engine, "REPO", root)  # the command run in that repository
    assert main(["--list"]) == 0
    listed = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["2025-01-01-second", "dot", "dot.png"] in listed and len(listed) == 11
    for post in ("second", "2025-01-01-second"):
        args = ["--post", post, "--profile", "test", "--device", "cpu", "-q"]
        assert main(args) == 0
    second = root / "assets" / "img" / "second"
    png_size(second / "dot.png")
    entry = json.loads((second / MANIFEST).read_text())["figures"]
    assert list(entry) == ["dot"] and set(entry["dot"]["sources"]) == {
        "posts/2025-01-01-second/fig_dot.py",
        cache.STYLE,
    }
    assert snapshot(blog2) == before and snapshot(ASSETS) == committed
    capsys.readouterr()
    # both posts: --only finds figures in either, the table names the post
    assert main(["--only", "dot", "gmlp", "--profile", "test", "--device", "cpu"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[0][:2] == ["post", "figure"]
    assert [POST2.name, "gmlp", "cached"] == rows[2][:3]  # made at quick: kept
    assert ["2025-01-01-second", "dot", "cached"] == rows[3][:3]
    assert main(["--check"]) == 0 and snapshot(blog2) == before
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "out"), "-q"])
    assert exc.value.code == 2 and "--out" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "registry, words",
    [
        ("from explainer.figures import Figure\n\nFIGURES = ()\n", ["FOLDER"]),
        (
            "from explainer.figures import Figure\n\nFOLDER = 'img/x'\n"
            "FIGURES = (Figure('x', 'fig_x', ('x.png',)),)\n",
            ["'x'", "fig_x.py", "2025-01-01-second"],
        ),
    ],
    ids=["no-folder", "no-module"],
)
def test_a_wrong_registry_is_named(tmp_path, registry, words):
    _second_post(tmp_path / "posts", registry)
    with pytest.raises(EngineError) as error:
        find(tmp_path / "posts", tmp_path)
    for word in ["2025-01-01-second/figures.py", *words]:
        assert word in str(error.value)
