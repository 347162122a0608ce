"""Figures of the sentence experiments: thesis Fig. 7.1, D.2 and D.3.

Non-finite values (a diverged sentence, say) are dropped and counted in the
panel title; a series with nothing finite left raises ValueError.
"""

import numpy as np

from mimjax.plotting import _figure

_PANEL_INCHES = (4.0, 3.2)
_BINS = 50


def _finite(values, name):
  """Flattened finite entries of `values` and the number dropped."""
  values = np.asarray(values, np.float64).ravel()
  keep = np.isfinite(values)
  if not keep.any():
    raise ValueError(f"{name} has no finite values ({values.size} entries)")
  return values[keep], values.size - int(keep.sum())


def _title(title, dropped):
  """`title` with a note of the non-finite values dropped, if any."""
  if not dropped:
    return title
  note = f"{dropped} non-finite dropped"
  return f"{title} ({note})" if title else note


def plot_log_prob_histograms(
    log_q_same, log_q_other, path, *, title=None, xlabel="log q(z_i | x_j)"
):
  """Overlapping histograms of same- and cross-sentence log-densities.

  Thesis Fig. 7.1(b): log q(z_i|x_j) at z_i ~ q(z|x_i) for j = i ("[i = j]")
  and for a different sentence j != i ("[i != j]"); overlap means codes of
  one sentence are plausible under another's posterior (posterior
  collapse). Fig. 7.1(a) is the same plot of log p(x_i|z_j) with another
  `xlabel`. Both histograms share the bins and are normalised to unit area,
  so the two sets may differ in size.

  Args:
    log_q_same: `[N]` (any shape) log-densities for i = j.
    log_q_other: `[M]` (any shape) log-densities for i != j.
    path: PNG file to write; parent directories are created.
    title: optional axes title.
    xlabel: x-axis label.

  Returns:
    `path`.

  Raises:
    ValueError: if either set has no finite value.
  """
  same, dropped_same = _finite(log_q_same, "log_q_same")
  other, dropped_other = _finite(log_q_other, "log_q_other")
  bins = np.histogram_bin_edges(np.concatenate([same, other]), bins=_BINS)
  fig = _figure.new_figure(*_PANEL_INCHES)
  ax = fig.subplots()
  ax.hist(same, bins=bins, density=True, alpha=0.5, color="tab:green",
          label="[i = j]")
  ax.hist(other, bins=bins, density=True, alpha=0.5, color="tab:gray",
          label="[i \u2260 j]")
  ax.set(xlabel=xlabel, ylabel="density",
         title=_title(title, dropped_same + dropped_other))
  ax.legend()
  return _figure.save(fig, path)


def plot_melbo_vs_sample_size(sizes, nll_values, path):
  """MELBO NLL bound against the sample-set size K, thesis Fig. D.2.

  Draws the mean over trials at each K (solid blue, markers) with a band of
  one standard deviation (ddof = 0) on a logarithmic K axis ticked at the
  drawn K.

  Args:
    sizes: `[S]` positive sample-set sizes K.
    nll_values: `[S]` bounds, or `[S, T]` bounds of T random trials per K.
      A K left with no finite trial is not drawn.
    path: PNG file to write; parent directories are created.

  Returns:
    `path`.

  Raises:
    ValueError: if `sizes` is not `[S]` positive numbers, `nll_values` is
      not `[S]` or `[S, T]`, or no value is finite.
  """
  sizes = np.asarray(sizes, np.float64)
  values = np.asarray(nll_values, np.float64)
  if values.ndim == 1:
    values = values[:, None]
  if (sizes.ndim != 1 or not np.all(sizes > 0)
      or values.ndim != 2 or values.shape[0] != sizes.size):
    raise ValueError(
        f"need positive sizes [S] and nll_values [S] or [S, T], got "
        f"{sizes.shape} and {np.shape(nll_values)}"
    )
  _, dropped = _finite(values, "nll_values")
  rows = sorted(
      ((size, row[np.isfinite(row)]) for size, row in zip(sizes, values)
       if np.isfinite(row).any()),
      key=lambda size_row: size_row[0],
  )
  xs = np.array([size for size, _ in rows])
  mean = np.array([row.mean() for _, row in rows])
  std = np.array([row.std() for _, row in rows])

  fig = _figure.new_figure(*_PANEL_INCHES)
  ax = fig.subplots()
  ax.plot(xs, mean, marker="o", markersize=3, color="tab:blue", label="mean")
  ax.fill_between(xs, mean - std, mean + std, color="tab:blue", alpha=0.2,
                  label="\u00b1 1 std")
  _figure.set_x_ticks(ax, xs, log=True)
  ax.set(xlabel="sample set size K", ylabel="NLL (MELBO)",
         title=_title(None, dropped))
  ax.grid(alpha=0.3)
  ax.legend()
  return _figure.save(fig, path)


def plot_per_sentence_histograms(values_by_name, path, *, xlabel):
  """Histograms of per-sentence values, one panel each, thesis Fig. D.3.

  E.g. MELBO (sMIM) against ELBO (sVAE) NLL bounds per test sentence. The
  panels share their bins; a dashed black line marks each mean, and the
  colour follows the loss the name starts with (`loss_color`).

  Args:
    values_by_name: dict name -> `[N]` per-sentence values, drawn in order.
    path: PNG file to write; parent directories are created.
    xlabel: x-axis label, e.g. "NLL bound (nats)".

  Returns:
    `path`.

  Raises:
    ValueError: if `values_by_name` is empty or a series has no finite
      value.
  """
  if not values_by_name:
    raise ValueError("values_by_name is empty")
  series = {
      name: _finite(values, f"values_by_name[{name!r}]")
      for name, values in values_by_name.items()
  }
  bins = np.histogram_bin_edges(
      np.concatenate([finite for finite, _ in series.values()]), bins=_BINS
  )
  width, height = _PANEL_INCHES
  fig = _figure.new_figure(width * len(series), height)
  axes = fig.subplots(1, len(series), squeeze=False, sharex=True)[0]
  for i, (ax, (name, (finite, dropped))) in enumerate(
      zip(axes, series.items())
  ):
    ax.hist(finite, bins=bins, color=_figure.loss_color(name, i), alpha=0.7)
    ax.axvline(finite.mean(), color="black", linestyle="--",
               label=f"mean {finite.mean():.2f}")
    ax.set(xlabel=xlabel, ylabel="sentences", title=_title(name, dropped))
    ax.legend(fontsize="small")
  return _figure.save(fig, path)
