"""gmlp.py, the one-file export: runs alone, equals the package, cannot drift away."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import POST2, download_sections

from explainer import export
from explainer.engine import EngineError
from gmlp_snippets import (
    GMLPConfig,
    GMLPForCausalLM,
    GMLPForImageClassification,
)


@pytest.fixture(scope="module")
def gmlp_file(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("alone") / "gmlp.py"
    assert export.main([str(POST2), "--out", str(out)]) == 0
    return out


LM = dict(
    d_model=32, d_ffn=64, seq_len=12, n_layers=2, causal=True, d_attn=8, vocab_size=40
)
VIT = dict(
    d_model=16,
    d_ffn=32,
    seq_len=4,
    n_layers=2,
    image_size=32,
    patch_size=16,
    num_classes=5,
)


def test_export_runs_alone_and_matches_the_package(gmlp_file, tmp_path):
    """Copied alone into an empty directory, gmlp.py gives the package's outputs for the
    same weights."""
    torch.manual_seed(0)
    lm = GMLPForCausalLM(GMLPConfig(**LM)).eval()
    vit = GMLPForImageClassification(GMLPConfig(**VIT)).eval()
    for m in (lm, vit):
        with torch.no_grad():
            for block in m.gmlp.blocks:  # off the near-identity init: W mixes tokens
                block.sgu.weight.normal_(std=0.1)
    tokens, images = torch.randint(0, 40, (2, 12)), torch.randn(2, 3, 32, 32)
    torch.save(
        {
            "lm": lm.state_dict(),
            "vit": vit.state_dict(),
            "tokens": tokens,
            "images": images,
            "lm_out": lm(tokens),
            "vit_out": vit(images),
        },
        tmp_path / "ref.pt",
    )
    (tmp_path / "gmlp.py").write_text(
        gmlp_file.read_text(encoding="utf-8"), encoding="utf-8"
    )
    script = textwrap.dedent(f"""
        import sys, torch
        sys.modules.pop("gmlp_snippets", None)
        import gmlp
        assert "gmlp_snippets" not in sys.modules, "gmlp.py must not import the package"
        ref = torch.load("ref.pt")
        lm = gmlp.GMLPForCausalLM(gmlp.GMLPConfig(**{LM!r})).eval()
        vit = gmlp.GMLPForImageClassification(gmlp.GMLPConfig(**{VIT!r})).eval()
        lm.load_state_dict(ref["lm"]); vit.load_state_dict(ref["vit"])
        with torch.no_grad():
            same = dict(atol=0, rtol=0)
            torch.testing.assert_close(lm(ref["tokens"]), ref["lm_out"], **same)
            torch.testing.assert_close(vit(ref["images"]), ref["vit_out"], **same)
        print("same outputs")
    """)
    # run from the temp dir, so `import gmlp` finds the copy; the package is still
    # installed, and the script asserts that gmlp.py never imports it
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "same outputs" in done.stdout


def test_export_has_only_torch_and_stdlib_imports(gmlp_file):
    imports = [
        line
        for line in gmlp_file.read_text(encoding="utf-8").splitlines()
        if line.startswith(("import ", "from "))
    ]
    assert imports, "no imports found"
    for line in imports:
        module = line.split()[1]
        assert module.split(".")[0] in {"torch", "dataclasses"}, line


def test_export_is_made_of_the_sections_the_post_shows(gmlp_file):
    text = gmlp_file.read_text(encoding="utf-8")
    for target in download_sections():
        section = export.read_section(target)
        assert section in text, f"{target} missing"
    assert "--8<--" not in text


def test_check_detects_a_stale_file(gmlp_file, tmp_path, capsys):
    assert export.main([str(POST2), "--check", str(gmlp_file)]) == 0
    stale = tmp_path / "gmlp.py"
    text = gmlp_file.read_text(encoding="utf-8")
    stale.write_text(text.replace("class GMLPBlock", "class Old"), encoding="utf-8")
    assert export.main([str(POST2), "--check", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_read_section_names_the_file_and_the_section(tmp_path):
    (tmp_path / "gmlp_snippets").mkdir()
    (tmp_path / "gmlp_snippets" / "mod.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(EngineError, match=r"gmlp_snippets/mod\.py:a.*'a'"):
        export.read_section("gmlp_snippets/mod.py:a", tmp_path)
    with pytest.raises(EngineError, match=r"gmlp_snippets/nope\.py"):
        export.read_section("gmlp_snippets/nope.py:a", tmp_path)


def test_multi_line_imports_stay_whole(tmp_path):
    """A parenthesised import is one statement: kept whole, or dropped whole."""
    text = (
        "import torch\nfrom gmlp_snippets.config import (\n    GMLPConfig,\n"
        "    check_sizes,\n)\nfrom torch import (\n    nn,\n)\n"
    )
    assert export._statements(text) == [
        "import torch",
        "from gmlp_snippets.config import (\n    GMLPConfig,\n    check_sizes,\n)",
        "from torch import (\n    nn,\n)",
    ]


def test_every_section_fits_88_columns():
    """The post shows these lines: none may need a horizontal scroll bar."""
    sections = download_sections()
    files = dict.fromkeys(target.rsplit(":", 1)[0] for target in sections)
    for target in [*sections, *(f"{file}:imports" for file in files)]:
        for line in export.read_section(target).splitlines():
            assert len(line) <= 88, f"{target} has {len(line)} columns: {line}"
