"""Dataset-level evaluation of trained latent-variable models."""

from mimjax.evaluation._latent import evaluate_latent_model
from mimjax.evaluation._latent import latent_summaries

__all__ = ("evaluate_latent_model", "latent_summaries")
