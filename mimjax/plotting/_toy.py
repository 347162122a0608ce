"""Toy-experiment figures: thesis Fig. 5.1/5.3 (2-D) and Fig. B.1/B.3 (1-D)."""

from matplotlib import collections
from matplotlib import patches
import numpy as np

from mimjax.plotting import _figure

_GRID_SIZE = 200
_PRIOR_EXTENT = 3.0  # The latent axes always show [-3, 3]^2.
_PANEL_INCHES = 3.2


def _array(panel, key, index, ndim, width=None):
  """`panel[key]` as a float array with `ndim` dims (and last dim `width`)."""
  if key not in panel:
    raise ValueError(f"panel {index} has no {key!r} entry")
  array = np.asarray(panel[key], dtype=np.float64)
  if array.ndim != ndim or (width is not None and array.shape[-1] != width):
    expected = "[N]" if ndim == 1 else f"[N, {width}]"
    raise ValueError(
        f"panel {index} ({panel.get('title', '')!r}): {key} must have shape "
        f"{expected}, got {array.shape}"
    )
  return array


def _check_same_length(index, arrays):
  """Raises unless all `arrays` (a dict name -> array) share dim 0."""
  lengths = {name: a.shape[0] for name, a in arrays.items()}
  if len(set(lengths.values())) > 1:
    raise ValueError(f"panel {index}: mismatched lengths {lengths}")


def _anchor_density_grid(anchor_log_density, grid_limits):
  """exp(anchor_log_density) on a square grid: three `[G, G]` arrays."""
  axis = np.linspace(*grid_limits, _GRID_SIZE)
  xx, yy = np.meshgrid(axis, axis)
  points = np.stack([xx.ravel(), yy.ravel()], axis=-1)
  log_density = np.asarray(anchor_log_density(points), dtype=np.float64)
  if log_density.shape != (points.shape[0],):
    raise ValueError(
        "anchor_log_density must map points [M, 2] to [M] log-densities; got "
        f"shape {log_density.shape} for M = {points.shape[0]}"
    )
  return xx, yy, np.exp(log_density).reshape(xx.shape)


def reconstructions_and_posteriors(
    panels, anchor_log_density, path, *, grid_limits=(-2.5, 2.5),
    max_ellipses=200
):
  """Reconstructions in x and posteriors in z, one column per model.

  Thesis Fig. 5.1/5.3. Top row: black contours of the anchor P(x) with the
  reconstructions as red dots. Bottom row: green 1-std ellipses of q(z|x)
  for the first `max_ellipses` test points and the dashed unit circle, 1 std
  of P(z) = N(0, I).

  Args:
    panels: list of dicts, one per column, with `title` (str), `x_test`
      `[N, 2]`, `x_recon` `[N, 2]`, `z_mean` `[N, 2]` and `z_std` `[N, 2]`
      (posterior means and standard deviations of the test points).
    anchor_log_density: callable mapping points `[M, 2]` to the anchor's
      log-density `[M]` (numpy or jax arrays).
    path: PNG file to write; parent directories are created.
    grid_limits: (low, high) of both x axes and of the density grid.
    max_ellipses: number of test points whose posteriors are drawn.

  Returns:
    `path`.

  Raises:
    ValueError: on an empty `panels` or arrays of the wrong shape.
  """
  if not panels:
    raise ValueError("panels is empty")
  columns = []
  for i, panel in enumerate(panels):
    arrays = {
        key: _array(panel, key, i, ndim=2, width=2)
        for key in ("x_test", "x_recon", "z_mean", "z_std")
    }
    _check_same_length(i, arrays)
    columns.append((str(panel.get("title", "")), arrays))
  xx, yy, density = _anchor_density_grid(anchor_log_density, grid_limits)

  fig = _figure.new_figure(_PANEL_INCHES * len(columns), 2 * _PANEL_INCHES)
  axes = fig.subplots(2, len(columns), squeeze=False)
  for (title, arrays), top, bottom in zip(columns, axes[0], axes[1]):
    top.contour(xx, yy, density, levels=8, colors="black", linewidths=0.8)
    top.scatter(*arrays["x_recon"].T, s=3, color="tab:red", zorder=3)
    top.set(
        xlim=grid_limits, ylim=grid_limits, aspect="equal", xlabel="$x_1$",
        ylabel="$x_2$", title=f"{title}: reconstructions",
    )

    mean = arrays["z_mean"][:max_ellipses]
    std = arrays["z_std"][:max_ellipses]
    ellipses = [
        patches.Ellipse(m, width=2 * s[0], height=2 * s[1])
        for m, s in zip(mean, std)
    ]
    bottom.add_collection(collections.PatchCollection(
        ellipses, facecolor="none", edgecolor="tab:green", linewidth=0.8
    ))
    bottom.add_patch(patches.Circle(
        (0, 0), 1.0, fill=False, edgecolor="black", linestyle="--",
        linewidth=1.2, zorder=3,
    ))
    low = min(-_PRIOR_EXTENT, float(np.min(mean - std, initial=0.0)))
    high = max(_PRIOR_EXTENT, float(np.max(mean + std, initial=0.0)))
    bottom.set(
        xlim=(low, high), ylim=(low, high), aspect="equal", xlabel="$z_1$",
        ylabel="$z_2$", title=f"{title}: posteriors",
    )
  return _figure.save(fig, path)


def densities_1d(panels, path):
  """Anchors, model marginals and samples in 1-D x and z, one column each.

  Thesis App. B, Fig. B.1/B.3. Top row (x): histogram of `x_samples` (green),
  anchor P(x) dashed black, model q(x) red. Bottom row (z): histogram of
  `z_samples` (gold), anchor P(z) dotted black, model density blue. The x
  limits are those of the grids.

  Args:
    panels: list of dicts, one per column, with `title` (str); `x_grid`
      `[G]` with `anchor_x` and `model_x` `[G]` densities on it and
      `x_samples` `[N]`; `z_grid` `[H]`, `anchor_z`, `model_z` `[H]` and
      `z_samples` `[M]` likewise.
    path: PNG file to write; parent directories are created.

  Returns:
    `path`.

  Raises:
    ValueError: on an empty `panels` or arrays of the wrong shape.
  """
  if not panels:
    raise ValueError("panels is empty")
  fig = _figure.new_figure(_PANEL_INCHES * len(panels), 2 * _PANEL_INCHES)
  axes = fig.subplots(2, len(panels), squeeze=False)
  rows = (
      ("x", "tab:green", "--", "tab:red"),
      ("z", "gold", ":", "tab:blue"),
  )
  for i, panel in enumerate(panels):
    title = str(panel.get("title", ""))
    for ax, (var, hist_color, style, model_color) in zip(axes[:, i], rows):
      curves = {
          key: _array(panel, key, i, ndim=1)
          for key in (f"{var}_grid", f"anchor_{var}", f"model_{var}")
      }
      _check_same_length(i, curves)
      grid, anchor, model = curves.values()
      samples = _array(panel, f"{var}_samples", i, ndim=1)
      ax.hist(
          samples, bins=50, density=True, color=hist_color, alpha=0.6,
          label=f"${var}$ samples",
      )
      ax.plot(
          grid, anchor, color="black", linestyle=style,
          label=f"$\\mathcal{{P}}({var})$",
      )
      ax.plot(grid, model, color=model_color, label="model")
      ax.set(
          xlim=(grid.min(), grid.max()), xlabel=f"${var}$", ylabel="density",
          title=f"{title}: ${var}$",
      )
      ax.legend(fontsize="small")
  return _figure.save(fig, path)
