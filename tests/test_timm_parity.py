"""Our gMLP-Ti/S/B vs timm's own gmlp_*16_224 models, through load_timm_state_dict.

timm does not import beside the CPU torch wheel used for development here (its
torchvision dependency fails to load), so this test is skipped there; it runs wherever
timm imports (the GPU machine used for the figures and benchmarks has it). The
synthetic-layout test in test_parity.py covers the converter everywhere.
"""

import pytest
import torch
from conftest import n_params

from gmlp_snippets import GMLPConfig, GMLPForImageClassification, load_timm_state_dict

try:
    import timm
except Exception as error:  # ImportError, or torchvision's operators not registering
    pytest.skip(
        f"timm is not importable here ({type(error).__name__}: {error})",
        allow_module_level=True,
    )


@pytest.mark.parametrize(
    "name, preset",
    [
        ("gmlp_ti16_224", "gmlp-ti16"),
        ("gmlp_s16_224", "gmlp-s16"),
        ("gmlp_b16_224", "gmlp-b16"),
    ],
)
def test_timm_gmlp_same_params_same_outputs(name, preset):
    torch.manual_seed(0)
    theirs = timm.create_model(name, pretrained=False).eval()
    with torch.no_grad():
        for key, value in theirs.state_dict().items():
            if key.endswith("gate.proj.weight"):  # off the near-zero init: W mixes
                value.normal_(std=0.05)
            elif key.startswith("head."):  # timm zero-initialises it: logits all 0
                value.normal_(std=0.02)
    ours = GMLPForImageClassification(GMLPConfig.from_preset(preset, norm_eps=1e-6))
    ours.eval()
    n_theirs = n_params(theirs)
    assert n_params(ours) == n_theirs
    load_timm_state_dict(ours, theirs.state_dict())
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected, actual = theirs(images), ours(images)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)
    assert expected.abs().max() > 1e-3  # not a comparison of two near-zero outputs
