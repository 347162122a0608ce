"""Objectives: (model, loss, sampling scheme) -> loss_fn(params, batch, key).

`make_loss_fn` draws the samples a loss needs from the model and the anchors,
evaluates every log-density once, and hands them to `mimjax.losses`.
`LOSSES` is the one registry of loss names (each an `Objective`: its
per-example loss and sampling scheme) that configs and experiments use.
"""

from mimjax.objectives._latent import DECODER_ESTIMATORS
from mimjax.objectives._latent import LOSSES
from mimjax.objectives._latent import LatentTerms
from mimjax.objectives._latent import MODEL_PRIOR
from mimjax.objectives._latent import MODEL_PRIOR_STOP_GRADIENT
from mimjax.objectives._latent import Objective
from mimjax.objectives._latent import PosteriorMoments
from mimjax.objectives._latent import decoder_terms
from mimjax.objectives._latent import encoder_terms
from mimjax.objectives._latent import loss_names
from mimjax.objectives._latent import make_loss_fn
from mimjax.objectives._tzk import SAMPLINGS as TZK_SAMPLINGS
from mimjax.objectives._tzk import make_tzk_loss_fn

__all__ = (
    "DECODER_ESTIMATORS",
    "LOSSES",
    "LatentTerms",
    "MODEL_PRIOR",
    "MODEL_PRIOR_STOP_GRADIENT",
    "Objective",
    "PosteriorMoments",
    "TZK_SAMPLINGS",
    "decoder_terms",
    "encoder_terms",
    "loss_names",
    "make_loss_fn",
    "make_tzk_loss_fn",
)
