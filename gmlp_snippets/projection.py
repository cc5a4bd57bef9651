"""Channel projection: the per-token linear map of an MLP, Z = σ(XU)."""

# --8<-- [start:imports]
import torch
from torch import nn

from gmlp_snippets.checks import check_channels, check_one_of, check_sizes

# --8<-- [end:imports]


# --8<-- [start:projection]
ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, None: nn.Identity}


class ChannelProjection(nn.Module):
    """Z = σ(XU): each token (a row of X) goes from d_in to d_out channels, then σ."""

    def __init__(self, d_in: int, d_out: int, activation: str | None = "gelu"):
        super().__init__()
        check_sizes(self, d_in=d_in, d_out=d_out)
        check_one_of(self, "activation", activation, list(ACTIVATIONS))
        self.d_in = d_in
        self.proj = nn.Linear(d_in, d_out)  # U (and its bias), shared by all n tokens
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_channels(self, x, self.d_in)
        return self.act(self.proj(x))  # (b, n, d_in) -> (b, n, d_out)


# --8<-- [end:projection]
