"""Flax latent-variable models exposing encode / decode / priors.

A model is a `LatentVariableModel` (or any Flax module with the same methods):
`encode(x) -> q(z|x)`, `decode(z) -> p(x|z)`, `latent_prior() -> p(z)` and
`data_prior() -> q(x) | None` (None: q(x) is the decoder marginal).
`HierarchicalVAE` is the two-level convHVAE / PixelHVAE of the image chapter.
"""

from mimjax.models._conv import Conv
from mimjax.models._conv import conv2d
from mimjax.models._gated import GatedConv
from mimjax.models._gated import GatedDense
from mimjax.models._hvae import HierarchicalVAE
from mimjax.models._latent import LatentVariableModel
from mimjax.models._latent import mlp_model
from mimjax.models._mlp import MLPConditional
from mimjax.models._pixelcnn import PixelCNNDecoder
from mimjax.models._pixelcnn import sample as pixelcnn_sample

__all__ = (
    "Conv",
    "GatedConv",
    "GatedDense",
    "HierarchicalVAE",
    "LatentVariableModel",
    "MLPConditional",
    "PixelCNNDecoder",
    "conv2d",
    "mlp_model",
    "pixelcnn_sample",
)
