"""The timed sentence batch shared by the mimjax and PyTorch sentence steps.

numpy only, so the PyTorch benchmark (run where jax need not be installed)
builds exactly the batch `benchmarks.sentence_step` times.
"""

import numpy as np

# Special token ids of `mimjax.data` (`PAD, UNK, SOS, EOS`).
PAD, UNK, SOS, EOS = 0, 1, 2, 3


def ptb_like_batch(rng, n, max_len, vocab_size):
  """`[n, max_len]` int32 rows with PTB-like lengths (mean ~22 words).

  Row i holds w_i random word ids (>= 4), then <eos>, then pads, with
  w_i ~ Gamma(4, 5.5) clipped to [1, max_len - 1].
  """
  words = np.clip(rng.gamma(4.0, 5.5, n).astype(int), 1, max_len - 1)
  return batch_of_lengths(rng, words + 1, vocab_size, max_len)


def ptb_lengths(path, max_len):
  """Row lengths (words + <eos>, capped at `max_len`) of a PTB file
  (`ptb.train.txt[.gz]`, one sentence per line)."""
  import gzip  # pylint: disable=g-import-not-at-top
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rt") as f:
    return np.minimum([len(line.split()) + 1 for line in f], max_len)


def batch_of_lengths(rng, lengths, vocab_size, width):
  """`[len(lengths), width]` rows of random word ids (>= 4), each ending in
  <eos> at its length, then pads."""
  x = np.full((len(lengths), width), PAD, np.int32)
  for i, n in enumerate(lengths):
    x[i, : n - 1] = rng.integers(4, vocab_size, n - 1)
    x[i, n - 1] = EOS
  return x
