"""The post's figures: where they go, and which module of this folder draws each one.

Data only (no torch, no matplotlib): the site build reads it. A figure's sources are
found by tracing its module's imports; nothing is listed here.
"""

from explainer.figures import Figure

FOLDER = "img/blog2"  # under the assets folder: the figures and their manifest.json

FIGURES = (
    # the four images the post already links
    Figure("whitevsblack", "fig_swans", ("whitevsblack.png",)),
    Figure("inductive_bias", "fig_inductive_bias", ("inductive_bias.png",)),
    Figure("neuralnetwork", "fig_neuralnetwork", ("neuralnetwork.png",)),
    Figure("gmlp", "fig_gmlp_block", ("gmlp.png",)),
    # the building blocks
    Figure("layernorm", "fig_layernorm", ("layernorm.png",)),
    Figure("activations", "fig_activations", ("activations.png",)),
    # a trained gMLP language model (one training run shared by the three figures)
    Figure("sgu_gate", "fig_sgu_gate", ("sgu_gate.png",)),
    Figure("spatial_weights", "fig_spatial_weights", ("spatial_weights.png",)),
    Figure(
        "gmlp_vs_transformer", "fig_gmlp_vs_transformer", ("gmlp_vs_transformer.png",)
    ),
    # not a picture: that model's weights, for the post's live widget (gmlp-widget.js)
    Figure("tiny_lm", "fig_tiny_lm", ("tiny_lm.bin", "tiny_lm.json")),
)
