"""Figures of the thesis experiments, written as PNG files.

Every function takes numpy arrays and plain dicts (no JAX or Flax needed),
draws with matplotlib's Agg canvas (no pyplot state, no display), writes a
PNG to `path`, creating its parent directories, and returns `path`. Losses
are coloured as in the thesis: MIM blue, VAE red (see `LOSS_COLORS`).
"""

from mimjax.plotting._curves import metric_sweep
from mimjax.plotting._curves import training_curves
from mimjax.plotting._figure import LOSS_COLORS
from mimjax.plotting._figure import loss_color
from mimjax.plotting._images import image_grid
from mimjax.plotting._images import latent_scatter
from mimjax.plotting._text import plot_log_prob_histograms
from mimjax.plotting._text import plot_melbo_vs_sample_size
from mimjax.plotting._text import plot_per_sentence_histograms
from mimjax.plotting._toy import densities_1d
from mimjax.plotting._toy import reconstructions_and_posteriors

__all__ = (
    "LOSS_COLORS",
    "densities_1d",
    "image_grid",
    "latent_scatter",
    "loss_color",
    "metric_sweep",
    "plot_log_prob_histograms",
    "plot_melbo_vs_sample_size",
    "plot_per_sentence_histograms",
    "reconstructions_and_posteriors",
    "training_curves",
)
