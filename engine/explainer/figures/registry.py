"""The figures of the post: what each one writes and which source files it is made from.

This module is data only (no torch, no matplotlib): the cache and the staleness check
read it without importing the figure code.
"""

from __future__ import annotations

from dataclasses import dataclass

PROFILES = (
    "quick",
    "full",
)  # quick: CPU-sized (CI, laptops); full: GPU-sized (longer training, larger n)
HIDDEN_PROFILES = ("test",)  # tiny sizes for the test suite; not shown in --help
PROFILE_RANK = {"test": 0, "quick": 1, "full": 2}
DEVICE_RANK = {"cpu": 0, "cuda": 1}

# every figure is drawn with the shared style (colours, fonts, PNG writer)
COMMON_SOURCES = ("explainer/figures/style.py",)
# a gMLP language model from the package, trained on the pydoc corpus
LM_SOURCES = (
    "gmlp_snippets/config.py",
    "gmlp_snippets/model.py",
    "gmlp_snippets/norm.py",
    "gmlp_snippets/projection.py",
    "gmlp_snippets/sgu.py",
    "explainer/figures/corpus.py",
    "explainer/figures/training.py",
)


@dataclass(frozen=True)
class Figure:
    """One figure: `explainer.figures.<module>.make(ctx)` writes `files` to the out dir.

    `uses` lists the other source files the figure depends on (repository-relative);
    the figure's own module and the shared style are always included.
    """

    name: str
    module: str
    files: tuple[str, ...]
    uses: tuple[str, ...] = ()

    @property
    def sources(self) -> tuple[str, ...]:
        """Repository-relative paths of every file whose code decides how it looks."""
        return tuple(
            sorted({f"explainer/figures/{self.module}.py", *COMMON_SOURCES, *self.uses})
        )


FIGURES: tuple[Figure, ...] = (
    # the four images the post already links
    Figure("whitevsblack", "fig_swans", ("whitevsblack.png",)),
    Figure("inductive_bias", "fig_inductive_bias", ("inductive_bias.png",)),
    Figure("neuralnetwork", "fig_neuralnetwork", ("neuralnetwork.png",)),
    Figure("gmlp", "fig_gmlp_block", ("gmlp.png",), uses=("gmlp_snippets/config.py",)),
    # the building blocks
    Figure(
        "layernorm",
        "fig_layernorm",
        ("layernorm.png",),
        uses=("gmlp_snippets/norm.py",),
    ),
    Figure(
        "activations",
        "fig_activations",
        ("activations.png",),
        uses=("gmlp_snippets/projection.py",),
    ),
    # a trained gMLP language model (one training run shared by the three figures)
    Figure("sgu_gate", "fig_sgu_gate", ("sgu_gate.png",), uses=LM_SOURCES),
    Figure(
        "spatial_weights",
        "fig_spatial_weights",
        ("spatial_weights.png",),
        uses=LM_SOURCES,
    ),
    Figure(
        "gmlp_vs_transformer",
        "fig_gmlp_vs_transformer",
        ("gmlp_vs_transformer.png",),
        uses=(
            *LM_SOURCES,
            "explainer/figures/transformer.py",
            "explainer/figures/fig_spatial_weights.py",  # its locality measure
        ),
    ),
    # not a picture: that model's weights, for the post's live widget (gmlp-widget.js)
    Figure("tiny_lm", "fig_tiny_lm", ("tiny_lm.bin", "tiny_lm.json"), uses=LM_SOURCES),
)

BY_NAME: dict[str, Figure] = {f.name: f for f in FIGURES}


def resolve(names: list[str] | tuple[str, ...] | None) -> list[Figure]:
    """Figures by name or file name (`gmlp` or `gmlp.png`), in order; None: all.

    Raises KeyError naming the unknown entries and the known names.
    """
    if not names:
        return list(FIGURES)
    by_file = {file: f for f in FIGURES for file in f.files}
    wanted, unknown = set(), []
    for name in names:
        fig = BY_NAME.get(name) or by_file.get(name)
        if fig is None:
            unknown.append(name)
        else:
            wanted.add(fig.name)
    if unknown:
        raise KeyError(
            f"unknown figure {', '.join(map(repr, unknown))}; "
            f"expected one of: {', '.join(BY_NAME)}"
        )
    return [f for f in FIGURES if f.name in wanted]
