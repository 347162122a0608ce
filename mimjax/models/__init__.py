"""Flax latent-variable models exposing encode / decode / priors.

A model is a `LatentVariableModel` (or any Flax module with the same methods):
`encode(x) -> q(z|x)`, `decode(z) -> p(x|z)`, `latent_prior() -> p(z)` and
`data_prior() -> q(x) | None` (None: q(x) is the decoder marginal).
"""

from mimjax.models._latent import LatentVariableModel
from mimjax.models._latent import mlp_model
from mimjax.models._mlp import MLPConditional

__all__ = ("LatentVariableModel", "MLPConditional", "mlp_model")
