"""Figure creation, saving and the loss colours shared by all plots.

Figures are `matplotlib.figure.Figure` objects drawn by the Agg canvas, so
plotting never touches pyplot's global state or an interactive backend.
`illegible_texts` lists the texts of a figure that its PNG would not show
legibly.
"""

import itertools

from matplotlib import axes
from matplotlib import axis
from matplotlib import figure
from matplotlib import text
from matplotlib import ticker
from matplotlib.backends import backend_agg

from mimjax import files

# Thesis convention: MIM blue, VAE red; the other losses get distinct colours.
LOSS_COLORS = {
    "mim": "tab:blue",
    "vae": "tab:red",
    "amim": "tab:cyan",
    "vae_h": "tab:orange",
    "mim_h": "tab:purple",
    "ce": "tab:green",
    # Sentence models (ch. 7): sMIM and sVAE in their families' colours.
    "smim": "tab:blue",
    "svae": "tab:red",
    "ae": "tab:gray",
}
_OTHER_COLORS = (
    "tab:brown", "tab:pink", "tab:olive", "black", "gold"
)
_DPI = 100
_SLACK_PX = 1.0  # Rounding slack of measured text extents.
# Least space kept between neighbouring tick labels, and between a wrapped
# title and its column's edges.
_GAP_PX = 3.0
# Least width and height of a drawn axes box.
_MIN_AXES_PX = 60.0


def loss_of(name):
  """The loss a series is named after, or None.

  Args:
    name: loss name ("mim", "vae", ...) or run name such as "vae_h_h20_z2"
      or "smim mean z"; the longest loss name that `name` equals or starts
      with (followed by "_" or " ") is its loss.
  """
  matches = [
      loss for loss in LOSS_COLORS
      if name == loss or name.startswith((loss + "_", loss + " "))
  ]
  return max(matches, key=len) if matches else None


def loss_color(name, index=0):
  """Colour of a loss, or of a run named `<loss>_...` after its loss.

  Args:
    name: loss or run name (see `loss_of`).
    index: position of `name` among the plotted series; picks a colour for
      names that match no loss.

  Returns:
    A matplotlib colour.
  """
  loss = loss_of(name)
  if loss is not None:
    return LOSS_COLORS[loss]
  return _OTHER_COLORS[index % len(_OTHER_COLORS)]


def new_figure(width, height):
  """A constrained-layout figure of `width` x `height` inches on Agg."""
  fig = figure.Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
  backend_agg.FigureCanvasAgg(fig)
  return fig


def set_x_ticks(ax, xs, *, log=False):
  """Ticks labelled "%g" at exactly `xs` on the x axis of `ax`.

  With `log` the axis is logarithmic, without minor ticks.
  """
  if log:
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(ticker.NullLocator())
  ax.set_xticks(xs, [f"{x:g}" for x in xs])


def save(fig, path):
  """Writes `fig` as a PNG to `path` atomically (creating parent dirs) and
  frees it.

  Before writing, each axes title wider than its grid column is broken into
  lines at spaces and each tick label that would touch the previous one
  shown on its axis is hidden. The PNG is exactly `figsize * 100` pixels
  (no tight bounding box), so its aspect ratio is that of the figure.

  Returns:
    `path`.
  """
  renderer = fig.canvas.get_renderer()
  fig.draw_without_rendering()
  _wrap_titles(fig, renderer)
  fig.draw_without_rendering()
  _hide_crowded_tick_labels(fig, renderer)
  with files.atomic_open(path, "wb") as f:  # a kill leaves no torn PNG
    fig.savefig(f, dpi=_DPI, format="png")
  fig.clear()
  return path


def _wrap_titles(fig, renderer):
  """Wraps each axes title of laid-out `fig` to fit its grid column.

  A title centred over its axes may use the column's width but not cross
  the canvas edge.
  """
  for ax in fig.axes:
    spec = ax.get_subplotspec()
    if spec is None or not ax.get_title():
      continue
    box = ax.title.get_window_extent(renderer)
    centre = (box.x0 + box.x1) / 2
    width = min(
        fig.bbox.width * len(spec.colspan) / spec.get_gridspec().ncols,
        2 * (centre - fig.bbox.x0), 2 * (fig.bbox.x1 - centre),
    ) - 2 * _GAP_PX
    if box.width > width:
      _wrap(ax.title, width, renderer)


def _wrap(label, width, renderer):
  """Breaks the Text `label` at spaces into lines at most `width` px wide.

  A word wider than `width` gets a line of its own.
  """
  words = label.get_text().split(" ")
  lines = [words[0]]
  for word in words[1:]:
    label.set_text(f"{lines[-1]} {word}")
    if label.get_window_extent(renderer).width <= width:
      lines[-1] = label.get_text()
    else:
      lines.append(word)
  label.set_text("\n".join(lines))


def _hide_crowded_tick_labels(fig, renderer):
  """Hides each tick label within `_GAP_PX` of the last one kept on its axis.

  Labels are visited in axis order, so the first one always stays.
  """
  for ax in _drawn(fig, axis.Axis):
    kept = None
    for tick in _ticks_in_view(ax):
      if not (tick.label1.get_visible() and tick.label1.get_text()):
        continue
      box = tick.label1.get_window_extent(renderer)
      if kept is not None and box.overlaps(kept.padded(_GAP_PX)):
        tick.label1.set_visible(False)
      else:
        kept = box


def illegible_texts(fig):
  """Texts of `fig` that leave its canvas or overlap another text, and axes
  squeezed below `_MIN_AXES_PX` by their texts.

  Lays `fig` out as saving does, then measures with its canvas's renderer
  every non-empty Text artist that drawing it draws: titles, axis and tick
  labels, legend entries and titles, colorbar labels, ...

  Returns:
    One line per problem, empty when every text is legible.
  """
  fig.draw_without_rendering()
  renderer = fig.canvas.get_renderer()
  boxes = [
      (t.get_text(), t.get_window_extent(renderer))
      for t in _drawn(fig, text.Text) if t.get_text()
  ]
  canvas = fig.bbox.padded(_SLACK_PX)
  collapsed = [
      f"axes {i} is only {_bounds(ax.bbox)} (its texts crowd it out)"
      for i, ax in enumerate(fig.axes)
      if _is_plot_axes(ax)
      and min(ax.bbox.width, ax.bbox.height) < _MIN_AXES_PX
  ]
  problems = collapsed + [
      f"{s!r} at {_bounds(box)} leaves the canvas {_bounds(fig.bbox)}"
      for s, box in boxes
      if not (canvas.contains(box.x0, box.y0)
              and canvas.contains(box.x1, box.y1))
  ]
  return problems + [
      f"{s!r} at {_bounds(a)} overlaps {t!r} at {_bounds(b)}"
      for (s, a), (t, b) in itertools.combinations(boxes, 2)
      if a.padded(-_SLACK_PX).overlaps(b.padded(-_SLACK_PX))
  ]


def _is_plot_axes(ax):
  """Whether `ax` is a visible axes with its axis drawn, not a colorbar
  (narrow by design) or an image tile (axis off)."""
  return ax.get_visible() and ax.axison and ax.get_label() != "<colorbar>"


def _bounds(box):
  """`box` as rounded pixel extents (x0, y0, x1, y1)."""
  return tuple(round(float(v)) for v in box.extents)


def _drawn(artist, kind):
  """The artists of type `kind` among `artist` and those it draws."""
  if not artist.get_visible():
    return []
  found = [artist] if isinstance(artist, kind) else []
  return found + [
      a for child in _drawn_children(artist) for a in _drawn(child, kind)
  ]


def _drawn_children(artist):
  """The children of `artist` that drawing it draws if they are visible."""
  if isinstance(artist, axis.Axis):
    return [artist.label, artist.offsetText, *_ticks_in_view(artist)]
  if isinstance(artist, axes.Axes) and not artist.axison:
    return [c for c in artist.get_children() if not isinstance(c, axis.Axis)]
  return artist.get_children()


def _ticks_in_view(ax):
  """Major and minor ticks of the Axis `ax` in its view interval, in order."""
  low, high = sorted(ax.get_view_interval())
  slack = 1e-9 * (high - low)
  ticks = [
      t for t in ax.get_major_ticks() + ax.get_minor_ticks()
      if low - slack <= t.get_loc() <= high + slack
  ]
  return sorted(ticks, key=lambda t: t.get_loc())
