"""`benchmarks.bucket_padding`: the dynamic programme against enumeration."""

import itertools

import numpy as np

from benchmarks import bucket_padding


def test_best_widths_match_every_choice_enumerated():
  """On a small corpus, no other set of widths has fewer token slots."""
  rng = np.random.default_rng(0)
  lengths = rng.integers(1, 13, size=200)
  for count in (1, 2, 3, 4):
    best = bucket_padding.best_widths(lengths, count, 12)
    assert len(best) == count and best[-1] == 12
    least = max(
        bucket_padding.real_fraction(lengths, tuple(head) + (12,))
        for head in itertools.combinations(range(1, 12), count - 1)
    )
    assert bucket_padding.real_fraction(lengths, best) == least


def test_real_fraction_counts_slots_of_each_bucket():
  """Lengths 3, 5, 8 under widths (4, 8): 16 / (4 + 8 + 8)."""
  assert bucket_padding.real_fraction(np.array([3, 5, 8]), (4, 8)) == 0.8
