"""Line plots of metrics against model size and over training.

`metric_sweep` draws thesis Fig. 4.1, 5.2 and 5.4.
"""

import itertools

import numpy as np

from mimjax.plotting import _figure

_SUBPLOT_INCHES = (3.6, 3.2)
_LINESTYLES = ("-", "--", ":", "-.")
# `training_curves`: most runs named one by one in the legend, and the share
# of each curve's first epochs left out of the y range.
_MAX_NAMED_CURVES = 6
_SKIPPED_SHARE = 0.1


def _describe(run, index):
  """Short description of a run for error messages."""
  fields = ", ".join(
      f"{key}={run[key]}" for key in ("loss", "hidden", "latent_dim", "seed")
      if key in run
  )
  return f"run {index} ({fields})"


def _sweep_table(runs, x_key, metrics):
  """Per-loss {x: [per-seed metric dicts]} after validating every run."""
  table = {}
  for i, run in enumerate(runs):
    if "loss" not in run:
      raise ValueError(f"{_describe(run, i)} has no 'loss' key")
    if x_key not in run:
      raise ValueError(
          f"{_describe(run, i)} has no x_key {x_key!r}; keys: {sorted(run)}"
      )
    values = run.get("metrics", {})
    missing = [m for m in metrics if m not in values]
    if missing:
      raise ValueError(
          f"{_describe(run, i)} has no metric {missing[0]!r}; available: "
          f"{sorted(values)}"
      )
    table.setdefault(run["loss"], {}).setdefault(run[x_key], []).append(
        values
    )
  return table


def metric_sweep(runs, *, x_key, metrics, path, labels=None):
  """Mean ± std over seeds of each metric against `x_key`, one line a loss.

  One subplot per metric, in a row; each loss is a line with markers through
  the seed means at the sorted x values and a band of ± one (population)
  standard deviation. The x axis is logarithmic for `x_key == "hidden"`.

  Args:
    runs: list of dicts, one per trained seed, such as `{"loss": "mim",
      "hidden": 20, "latent_dim": 2, "seed": 3, "metrics": {"mi_ksg": 6.1,
      ...}}`. Losses are drawn in order of first appearance.
    x_key: run key to put on the x axis, "hidden" or "latent_dim".
    metrics: metric names, one subplot each.
    path: PNG file to write; parent directories are created.
    labels: optional dict metric -> y-axis label (default: the name).

  Returns:
    `path`.

  Raises:
    ValueError: if `runs` or `metrics` is empty, or a run lacks "loss",
      `x_key` or one of `metrics`.
  """
  if not runs:
    raise ValueError("runs is empty")
  if not metrics:
    raise ValueError("metrics is empty")
  table = _sweep_table(runs, x_key, metrics)
  labels = labels or {}
  xs_all = sorted({x for by_x in table.values() for x in by_x})

  width, height = _SUBPLOT_INCHES
  fig = _figure.new_figure(width * len(metrics), height)
  axes = fig.subplots(1, len(metrics), squeeze=False)[0]
  for ax, metric in zip(axes, metrics):
    for i, (loss, by_x) in enumerate(table.items()):
      xs = sorted(by_x)
      values = [
          np.array([m[metric] for m in by_x[x]], dtype=np.float64) for x in xs
      ]
      mean = np.array([v.mean() for v in values])
      std = np.array([v.std() for v in values])
      color = _figure.loss_color(loss, i)
      ax.plot(xs, mean, marker="o", markersize=4, color=color, label=loss)
      ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.2)
    _figure.set_x_ticks(ax, xs_all, log=x_key == "hidden")
    ax.set(xlabel=x_key, ylabel=labels.get(metric, metric))
    ax.grid(alpha=0.3)
  axes[0].legend()
  return _figure.save(fig, path)


def training_curves(curves, path, *, metric="val/loss"):
  """One line per run of `metric` against the epoch.

  Lines are coloured by loss (runs named `<loss>_...` share its colour and
  differ in line style). Up to `_MAX_NAMED_CURVES` runs are named in the
  legend; beyond that the legend names each loss with its number of runs.
  The y range runs from the least value to the largest one after each
  curve's first `_SKIPPED_SHARE` of epochs, so a warm-up spike (an
  untrained model's loss is often 10-100x the trained one's) runs off the
  top instead of flattening the curves, while a metric that rises (BLEU)
  keeps its low start.

  Args:
    curves: dict name -> sequence of (epoch, value) pairs.
    path: PNG file to write; parent directories are created.
    metric: y-axis label.

  Returns:
    `path`.

  Raises:
    ValueError: if `curves` is empty or a curve is not a sequence of pairs.
  """
  if not curves:
    raise ValueError("curves is empty")
  fig = _figure.new_figure(*_SUBPLOT_INCHES)
  ax = fig.subplots()
  styles, groups, values, late_values = {}, {}, [], []
  named = len(curves) <= _MAX_NAMED_CURVES
  for i, (name, points) in enumerate(curves.items()):
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
      raise ValueError(
          f"curve {name!r} must be (epoch, value) pairs [T, 2], got shape "
          f"{points.shape}"
      )
    color = _figure.loss_color(name, i)
    style = styles.setdefault(color, itertools.cycle(_LINESTYLES))
    ax.plot(*points.T, color=color, linestyle=next(style),
            label=name if named else None)
    groups.setdefault(color, []).append(name)
    values.append(points[:, 1])
    late_values.append(points[int(len(points) * _SKIPPED_SHARE):, 1])
  ax.set(xlabel="epoch", ylabel=metric)
  _set_y_range(ax, values, late_values)
  ax.grid(alpha=0.3)
  if not named:
    for color, names in groups.items():
      loss = _figure.loss_of(names[0]) or names[0]
      ax.plot([], [], color=color, label=f"{loss} ({len(names)} runs)")
  ax.legend(fontsize="small")
  return _figure.save(fig, path)


def _set_y_range(ax, values, late_values):
  """y limits from the least finite value of `values` to the largest of
  `late_values` (lists of arrays), with 5 % margins; unchanged when either
  holds no finite value."""
  values, late_values = (
      np.concatenate(v)[np.isfinite(np.concatenate(v))]
      for v in (values, late_values)
  )
  if values.size == 0 or late_values.size == 0:
    return
  low, high = float(values.min()), float(late_values.max())
  margin = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
  ax.set_ylim(low - margin, high + margin)
