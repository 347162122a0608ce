"""Dataset-level evaluation of trained latent-variable models."""

from mimjax.evaluation._images import encode_dataset
from mimjax.evaluation._images import evaluate_image_model
from mimjax.evaluation._latent import evaluate_latent_model
from mimjax.evaluation._latent import importance_sampled_log_q_x
from mimjax.evaluation._latent import latent_summaries
from mimjax.evaluation._latent import make_monitor_fn
from mimjax.evaluation._sentences import evaluate_sentence_model
from mimjax.evaluation._sentences import posterior_terms
from mimjax.evaluation._sentences import reconstruct
from mimjax.evaluation._tzk import evaluate_tzk

__all__ = (
    "encode_dataset",
    "evaluate_image_model",
    "evaluate_latent_model",
    "evaluate_sentence_model",
    "evaluate_tzk",
    "importance_sampled_log_q_x",
    "latent_summaries",
    "make_monitor_fn",
    "posterior_terms",
    "reconstruct",
)
