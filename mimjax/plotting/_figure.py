"""Figure creation, saving and the loss colours shared by all plots.

Figures are `matplotlib.figure.Figure` objects drawn by the Agg canvas, so
plotting never touches pyplot's global state or an interactive backend.
"""

import os

from matplotlib import figure
from matplotlib.backends import backend_agg

# Thesis convention: MIM blue, VAE red; the other losses get distinct colours.
LOSS_COLORS = {
    "mim": "tab:blue",
    "vae": "tab:red",
    "amim": "tab:cyan",
    "vae_h": "tab:orange",
    "mim_h": "tab:purple",
    "ce": "tab:green",
}
_OTHER_COLORS = (
    "tab:brown", "tab:pink", "tab:gray", "tab:olive", "black", "gold"
)
_DPI = 100


def loss_color(name, index=0):
  """Colour of a loss, or of a run named `<loss>_...` after its loss.

  Args:
    name: loss name ("mim", "vae", ...) or run name such as "vae_h_h20_z2";
      the longest loss name that `name` equals or starts with (followed by
      "_") decides.
    index: position of `name` among the plotted series; picks a colour for
      names that match no loss.

  Returns:
    A matplotlib colour.
  """
  matches = [
      loss for loss in LOSS_COLORS
      if name == loss or name.startswith(loss + "_")
  ]
  if matches:
    return LOSS_COLORS[max(matches, key=len)]
  return _OTHER_COLORS[index % len(_OTHER_COLORS)]


def new_figure(width, height):
  """A constrained-layout figure of `width` x `height` inches on Agg."""
  fig = figure.Figure(figsize=(width, height), layout="constrained")
  backend_agg.FigureCanvasAgg(fig)
  return fig


def save(fig, path):
  """Writes `fig` as a PNG to `path` (creating parent dirs) and frees it.

  The PNG is exactly `figsize * 100` pixels (no tight bounding box), so its
  aspect ratio is that of the figure.

  Returns:
    `path`.
  """
  parent = os.path.dirname(os.fspath(path))
  if parent:
    os.makedirs(parent, exist_ok=True)
  fig.savefig(path, dpi=_DPI, format="png")
  fig.clear()
  return path
