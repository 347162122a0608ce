"""Evaluation metrics: mutual information, entropy, k-NN, IS log-likelihood.

Host-side estimators (`ksg_mutual_information`, `kl_entropy`,
`knn_accuracy` and the latent summaries) take numpy (or jax) arrays, run
scipy / scikit-learn nearest-neighbour searches and return Python numbers.
`logmeanexp` and `importance_sampled_log_likelihood` are pure jax and
jit-compatible. All quantities are in nats.
"""

from mimjax.metrics._clustering import clustering_nmi
from mimjax.metrics._entropy import kl_entropy
from mimjax.metrics._importance import importance_sampled_log_likelihood
from mimjax.metrics._importance import logmeanexp
from mimjax.metrics._knn import knn_accuracy
from mimjax.metrics._ksg import ksg_mutual_information
from mimjax.metrics._latent import active_units
from mimjax.metrics._latent import consistency_gap
from mimjax.metrics._latent import posterior_std
from mimjax.metrics._latent import reconstruction_error

__all__ = (
    "clustering_nmi",
    "active_units",
    "consistency_gap",
    "importance_sampled_log_likelihood",
    "kl_entropy",
    "knn_accuracy",
    "ksg_mutual_information",
    "logmeanexp",
    "posterior_std",
    "reconstruction_error",
)
