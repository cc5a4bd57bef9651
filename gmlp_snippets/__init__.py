"""gMLP (Liu, Dai, So, Le, "Pay Attention to MLPs", 2021) in small, tested PyTorch
modules.

Each module holds one concept of the paper; the post shows their marked sections.
"""

from gmlp_snippets.config import PRESETS, GMLPConfig
from gmlp_snippets.convert import load_lucidrains, load_timm_state_dict
from gmlp_snippets.model import (
    GMLP,
    GMLPBlock,
    GMLPForCausalLM,
    GMLPForImageClassification,
    GMLPForMaskedLM,
)
from gmlp_snippets.norm import LayerNorm
from gmlp_snippets.projection import ChannelProjection
from gmlp_snippets.sgu import SpatialGatingUnit, TinyAttention

__all__ = [
    "PRESETS",
    "GMLPConfig",
    "GMLP",
    "GMLPBlock",
    "GMLPForCausalLM",
    "GMLPForImageClassification",
    "GMLPForMaskedLM",
    "LayerNorm",
    "ChannelProjection",
    "SpatialGatingUnit",
    "TinyAttention",
    "load_lucidrains",
    "load_timm_state_dict",
]
__version__ = "0.1.0"
