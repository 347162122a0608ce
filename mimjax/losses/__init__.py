"""Per-example MIM, A-MIM and VAE objectives on log-densities (jax only).

Every loss takes `[B]` arrays of log-densities in nats, evaluated at samples
that the caller drew, and returns the `[B]` per-example value to minimise; the
caller reduces (usually a mean). Hyperparameters are keyword-only. Nothing here
is jitted; everything is jit-, vmap- and grad-compatible.

Notation (thesis ch. 3): P(x), P(z) anchors; q(z|x) encoder; p(x|z) decoder;
p(z) model latent prior; q(x) model data prior; M_S the sample mixture
1/2 (P(x) q(z|x) + P(z) p(x|z)).
"""

from mimjax.losses._estimators import jensen_log_marginal
from mimjax.losses._estimators import leave_one_out_baseline
from mimjax.losses._estimators import matched_noise_baseline
from mimjax.losses._estimators import score_function_surrogate
from mimjax.losses._objectives import amim
from mimjax.losses._objectives import consistency_regularizer
from mimjax.losses._objectives import cross_entropy
from mimjax.losses._objectives import marginal_mim
from mimjax.losses._objectives import mim
from mimjax.losses._objectives import mim_minus_entropy
from mimjax.losses._objectives import neg_elbo
from mimjax.losses._objectives import sentence_mim
from mimjax.losses._objectives import vae_plus_entropy
from mimjax.losses._schedules import linear_warmup
from mimjax.losses._tzk import tzk_log_joints
from mimjax.losses._tzk import tzk_mim

__all__ = (
    "amim",
    "consistency_regularizer",
    "cross_entropy",
    "jensen_log_marginal",
    "leave_one_out_baseline",
    "linear_warmup",
    "marginal_mim",
    "matched_noise_baseline",
    "mim",
    "mim_minus_entropy",
    "neg_elbo",
    "score_function_surrogate",
    "sentence_mim",
    "tzk_log_joints",
    "tzk_mim",
    "vae_plus_entropy",
)
