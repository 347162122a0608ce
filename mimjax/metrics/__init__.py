"""Evaluation metrics: mutual information, entropy, k-NN, IS log-likelihood.

Host-side estimators (`ksg_mutual_information`, `kl_entropy`,
`knn_accuracy` and the latent summaries) take numpy (or jax) arrays, run
scipy / scikit-learn nearest-neighbour searches and return Python numbers.
`logmeanexp`, `latent_health` (the posterior-collapse monitor's statistics),
`scale_per_dimension`, `pooled_noise_share`
and `importance_sampled_log_likelihood` are pure jax and
jit-compatible, as is `bits_per_dim` (the discrete bits/dim bound of a
dequantised image density). The sentence metrics (`melbo_nll`, `elbo_nll`,
`perplexity`, `bleu1`) and the question-answering ranking (`qa_scores`,
`rank_by_latent_distance`, `precision_at_1`, `mean_reciprocal_rank`) take
caller-computed log-probabilities or codes as numpy (or jax) arrays. All
quantities are in nats, except bits/dim.
"""

from mimjax.metrics._bits import bits_per_dim
from mimjax.metrics._clustering import clustering_nmi
from mimjax.metrics._entropy import kl_entropy
from mimjax.metrics._importance import importance_sampled_log_likelihood
from mimjax.metrics._importance import logmeanexp
from mimjax.metrics._knn import knn_accuracy
from mimjax.metrics._ksg import ksg_mutual_information
from mimjax.metrics._collapse import latent_health
from mimjax.metrics._collapse import pooled_noise_share
from mimjax.metrics._collapse import scale_per_dimension
from mimjax.metrics._latent import active_units
from mimjax.metrics._latent import consistency_gap
from mimjax.metrics._latent import posterior_std
from mimjax.metrics._latent import reconstruction_error
from mimjax.metrics._qa import QAExample
from mimjax.metrics._qa import mean_reciprocal_rank
from mimjax.metrics._qa import precision_at_1
from mimjax.metrics._qa import qa_pair_tokens
from mimjax.metrics._qa import qa_query_tokens
from mimjax.metrics._qa import qa_scores
from mimjax.metrics._qa import rank_by_latent_distance
from mimjax.metrics._qa import read_qa_file
from mimjax.metrics._text import bleu1
from mimjax.metrics._text import elbo_nll
from mimjax.metrics._text import latent_entropy_gaussian
from mimjax.metrics._text import melbo_nll
from mimjax.metrics._text import perplexity

__all__ = (
    "QAExample",
    "active_units",
    "bits_per_dim",
    "bleu1",
    "clustering_nmi",
    "consistency_gap",
    "elbo_nll",
    "importance_sampled_log_likelihood",
    "kl_entropy",
    "knn_accuracy",
    "ksg_mutual_information",
    "latent_entropy_gaussian",
    "latent_health",
    "pooled_noise_share",
    "scale_per_dimension",
    "logmeanexp",
    "mean_reciprocal_rank",
    "melbo_nll",
    "perplexity",
    "posterior_std",
    "precision_at_1",
    "qa_pair_tokens",
    "qa_query_tokens",
    "qa_scores",
    "rank_by_latent_distance",
    "read_qa_file",
    "reconstruction_error",
)
