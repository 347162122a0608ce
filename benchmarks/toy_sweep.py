"""Wall time of a whole toy sweep (thesis Fig. 5.2: 3 widths x 2 losses x
10 seeds), training and evaluation included, from an empty workdir.

  python -m benchmarks.toy_sweep [--config=configs/toy_gmm2d.py]

Also reports the cost of vmapping seeds: one sweep point trained with 1 seed
and with `--num_seeds` seeds.
"""

import copy
import tempfile
import time

from absl import app
from absl import flags
from absl import logging

from experiments import common
from experiments import toy_mim

_SEED_POINT = flags.DEFINE_bool(
    "seed_scaling", True, "Also time one sweep point with 1 seed vs all."
)


def _timed_run(config):
  with tempfile.TemporaryDirectory() as workdir:
    start = time.perf_counter()
    toy_mim.run(config, workdir)
    return time.perf_counter() - start


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  config = copy.deepcopy(common.CONFIG.value)
  total = _timed_run(config)
  print(
      f"sweep {config.sweep.to_dict()} x {config.num_seeds} seeds: "
      f"{total:.0f} s end to end"
  )
  if _SEED_POINT.value:
    for num_seeds in (1, config.num_seeds):
      point = copy.deepcopy(config)
      point.num_seeds = num_seeds
      point.sweep.losses = ["mim"]
      point.sweep.hidden = [max(config.sweep.hidden)]
      print(
          f"  mim h={point.sweep.hidden[0]} with {num_seeds} seed(s): "
          f"{_timed_run(point):.0f} s"
      )


if __name__ == "__main__":
  flags.FLAGS.set_default("config", "configs/toy_gmm2d.py")
  app.run(main)
