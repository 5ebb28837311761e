"""The one MLP builder every method's projection and prediction head is made from.

Each paper's head is a thin call quoting the paper's spec, e.g.

- SimCLR projection head (Chen et al. 2020, Sec. 2.1): ``mlp([D, D, 128])``
  = Linear-BN-ReLU-Linear.
- BYOL projector / predictor (Grill et al. 2020, Sec. 3.3): ``mlp([D, 4096, 256])``.
- MoCo v3 projector (Chen et al. 2021): ``mlp([D, 4096, 4096, 256], last_batch_norm=True)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from skelssl.errors import SkelsslError


def mlp(
    dims: Sequence[int],
    *,
    batch_norm: bool = True,
    last_batch_norm: bool = False,
    activation: Callable[[], nn.Module] = nn.ReLU,
    last_bias: bool = True,
) -> nn.Sequential:
    """A multi-layer perceptron ``dims[0] -> dims[1] -> ... -> dims[-1]``.

    Hidden layers are ``Linear [-> BatchNorm1d] -> activation``; a hidden Linear has no
    bias when a BatchNorm follows it (the BN shift replaces it). The last layer is a
    plain ``Linear`` (bias = ``last_bias``), followed by a BatchNorm1d when
    ``last_batch_norm``. ``mlp([256, 256, 128])`` = Linear-BN-ReLU-Linear.

    Shape: (N, dims[0]) -> (N, dims[-1]).
    """
    dims = [int(d) for d in dims]
    if len(dims) < 2 or min(dims) < 1:
        raise SkelsslError(f"an MLP needs at least two positive sizes, got {dims}")
    layers: list[nn.Module] = []
    for in_dim, out_dim in zip(dims[:-2], dims[1:-1]):
        layers.append(nn.Linear(in_dim, out_dim, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(out_dim))
        layers.append(activation())
    layers.append(nn.Linear(dims[-2], dims[-1], bias=last_bias))
    if last_batch_norm:
        layers.append(nn.BatchNorm1d(dims[-1]))
    return nn.Sequential(*layers)
