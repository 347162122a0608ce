"""Wall-clock timing shared by the PyTorch yardsticks (plain Python, so
their venv needs no JAX)."""

import time


def best_seconds(fn, repeats):
  """Best seconds of `fn()` over `repeats` calls, after one warm-up call."""
  fn()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best
