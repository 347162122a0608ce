"""Padding waste of length buckets on a sentence corpus, and the best widths.

Each training batch of a bucketed `mimjax.data.TextSource` runs at its
bucket's width, so a sentence of length L (words + <eos>) costs the width
w(L) = min{w in widths : w >= L} token slots. This prints, for the
configured widths and for the best k widths (k = `--counts`), the real-token
fraction

    sum_n L_n / sum_n w(L_n)

over the training split. The best widths minimise sum_n w(L_n) exactly
(dynamic programming over the length histogram, `best_widths`). Each width
is one compiled branch of the epoch program, ~2 s of XLA compile each for
the PTB sMIM (512) step on the 2-core dev VM (BUILD_NOTES, session 31), so
more widths trade compile time for step time.

  python -m benchmarks.bucket_padding --train=../shared/data/ptb.train.txt.gz
"""

from absl import app
from absl import flags
import numpy as np

from mimjax import data

_TRAIN = flags.DEFINE_string("train", None, "Training split (.txt[.gz]).")
_MAX_LEN = flags.DEFINE_integer("max_len", 64, "Row length incl. <eos>.")
_WIDTHS = flags.DEFINE_list(
    "widths", ["12", "16", "20", "24", "28", "32", "40", "48", "64"],
    "The configured bucket widths (configs/sentence_common.py).",
)
_COUNTS = flags.DEFINE_list(
    "counts", ["9", "12", "16", "20", "24"], "Numbers of widths to optimise."
)


def real_fraction(lengths, widths):
  """sum L / sum w(L) for `lengths [N]` under the increasing `widths`."""
  widths = np.asarray(widths)
  slots = widths[np.searchsorted(widths, lengths)]
  return float(np.sum(lengths) / np.sum(slots))


def best_widths(lengths, count, max_len):
  """The `count` widths ending at `max_len` with the fewest token slots.

  cost[k][w]: least slots for the sentences of length <= w with k widths,
  the largest w; cost[k][w] = min_p cost[k-1][p] + (n(<= w) - n(<= p)) w.

  Args:
    lengths: `[N]` sentence lengths, 1 <= L <= max_len.
    count: number of widths, 1 <= count <= max_len.
    max_len: the last width.

  Returns:
    The increasing tuple of widths.
  """
  below = np.cumsum(np.bincount(lengths, minlength=max_len + 1))
  cost = np.full((count + 1, max_len + 1), np.inf)
  previous = np.zeros((count + 1, max_len + 1), dtype=int)
  cost[1, 1:] = below[1:] * np.arange(1, max_len + 1)
  for k in range(2, count + 1):
    for w in range(k, max_len + 1):
      p = np.arange(k - 1, w)
      totals = cost[k - 1, p] + (below[w] - below[p]) * w
      best = int(np.argmin(totals))
      cost[k, w], previous[k, w] = totals[best], p[best]
  widths = [max_len]
  for k in range(count, 1, -1):
    widths.append(int(previous[k, widths[-1]]))
  return tuple(sorted(widths))


def main(argv):
  del argv
  if not _TRAIN.value:
    raise app.UsageError("pass --train=/path/to/ptb.train.txt.gz")
  sentences = data.read_sentences(_TRAIN.value)
  lengths = np.minimum([len(s) + 1 for s in sentences], _MAX_LEN.value)
  widths = tuple(int(w) for w in _WIDTHS.value)
  print(f"{len(lengths)} sentences, mean length {lengths.mean():.2f}")
  print("| widths | count | real tokens |")
  print("| --- | --- | --- |")
  print(f"| {widths} (configured) | {len(widths)} | "
        f"{real_fraction(lengths, widths):.3f} |")
  for count in map(int, _COUNTS.value):
    best = best_widths(lengths, count, _MAX_LEN.value)
    print(f"| {best} | {count} | {real_fraction(lengths, best):.3f} |")


if __name__ == "__main__":
  app.run(main)
