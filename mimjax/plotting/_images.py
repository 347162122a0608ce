"""Image grids and 2-D latent scatter plots (image experiments)."""

import math

import matplotlib
import numpy as np

from mimjax.plotting import _figure

_TILE_INCHES = 0.8
_MARGIN_INCHES = 0.1  # Around the mosaic, and either side of its title.
_TITLE_INCHES = 0.4  # Height of the one-line title.
_PAD = 1  # White pixels between tiles.
_MAX_LEGEND_CLASSES = 20


def _as_rgb_or_gray(images):
  """`[N, H, W]` or `[N, H, W, C]` images as floats in [0, 1].

  Returns `[N, H, W]` for gray images (C = 1 squeezed) and `[N, H, W, C]`
  for C in (3, 4).
  """
  images = np.asarray(images)
  if images.ndim == 4 and images.shape[-1] == 1:
    images = images[..., 0]
  if images.ndim not in (3, 4) or (
      images.ndim == 4 and images.shape[-1] not in (3, 4)
  ):
    raise ValueError(
        "images must have shape [N, H, W] or [N, H, W, C] with C in (1, 3, "
        f"4), got {images.shape}"
    )
  if images.shape[0] == 0:
    raise ValueError("images is empty")
  if images.dtype == np.uint8:
    return images.astype(np.float64) / 255.0
  return np.clip(images.astype(np.float64), 0.0, 1.0)


def image_grid(images, path, *, ncols=10, title=None):
  """Tiles images into a grid, row by row.

  Args:
    images: `[N, H, W]` or `[N, H, W, C]` (C in 1, 3, 4), floats in [0, 1]
      (clipped) or uint8.
    path: PNG file to write; parent directories are created.
    ncols: tiles per row (fewer if N < ncols).
    title: optional figure title, on one line; the figure widens to fit it.

  Returns:
    `path`.

  Raises:
    ValueError: on an empty or wrongly shaped `images`.
  """
  images = _as_rgb_or_gray(images)
  n, h, w = images.shape[:3]
  ncols = min(ncols, n)
  nrows = math.ceil(n / ncols)
  mosaic = np.ones(
      (nrows * (h + _PAD) - _PAD, ncols * (w + _PAD) - _PAD)
      + images.shape[3:]
  )
  for i, image in enumerate(images):
    top, left = (i // ncols) * (h + _PAD), (i % ncols) * (w + _PAD)
    mosaic[top:top + h, left:left + w] = image

  tile = _TILE_INCHES / max(h, w)
  width = mosaic.shape[1] * tile + 2 * _MARGIN_INCHES
  height = mosaic.shape[0] * tile + 2 * _MARGIN_INCHES
  fig = _figure.new_figure(width, height)
  ax = fig.subplots()
  ax.imshow(mosaic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
  ax.set_axis_off()
  if title:
    label = ax.set_title(title)
    title_width = label.get_window_extent().width / fig.dpi
    fig.set_size_inches(
        max(width, title_width + 2 * _MARGIN_INCHES),
        height + _TITLE_INCHES,
    )
  return _figure.save(fig, path)


def _project_2d(z):
  """`[N, d]` points to `[N, 2]`: unchanged for d = 2, else the top-2 PCA."""
  if z.shape[1] == 2:
    return z
  centred = z - z.mean(axis=0)
  _, _, vt = np.linalg.svd(centred, full_matrices=False)
  return centred @ vt[:2].T


def latent_scatter(z, labels, path, *, title=None):
  """Scatter of latent codes coloured by class label.

  Args:
    z: `[N, d]` latent codes, d >= 2; projected onto their first two
      principal components when d > 2.
    labels: `[N]` integer class labels. Up to 20 classes get a categorical
      colormap and a legend, more a colorbar.
    path: PNG file to write; parent directories are created.
    title: optional axes title.

  Returns:
    `path`.

  Raises:
    ValueError: on wrong or mismatched shapes.
  """
  z = np.asarray(z, dtype=np.float64)
  labels = np.asarray(labels)
  if z.ndim != 2 or z.shape[1] < 2:
    raise ValueError(f"z must have shape [N, d] with d >= 2, got {z.shape}")
  if labels.shape != z.shape[:1]:
    raise ValueError(
        f"labels must have shape [N] = {z.shape[:1]}, got {labels.shape}"
    )
  points = _project_2d(z)
  classes = np.unique(labels)

  fig = _figure.new_figure(5.5, 4.5)
  ax = fig.subplots()
  if len(classes) <= _MAX_LEGEND_CLASSES:
    palette = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
    for i, label in enumerate(classes):
      mask = labels == label
      ax.scatter(
          *points[mask].T, s=4, color=palette(i), label=str(label),
          rasterized=True,
      )
    ax.legend(
        title="label", loc="center left", bbox_to_anchor=(1.0, 0.5),
        markerscale=3, fontsize="small",
    )
  else:
    scatter = ax.scatter(
        *points.T, s=4, c=labels, cmap="viridis", rasterized=True
    )
    fig.colorbar(scatter, ax=ax, label="label")
  names = ("$z_1$", "$z_2$") if z.shape[1] == 2 else ("PC 1", "PC 2")
  ax.set(xlabel=names[0], ylabel=names[1], title=title)
  return _figure.save(fig, path)
