"""Compile time and peak host memory of one image training run, per commit.

Runs `experiments.image_mim` for one epoch in a subprocess from `--tree` (a
git worktree of the commit to measure, so two commits are compared with
the same command) under `/usr/bin/time -v` and `JAX_LOG_COMPILES=1`, and
prints one JSON line: the seconds of tracing, lowering to StableHLO and XLA
compilation of the epoch program (the jitted function named `--function`),
the run's peak resident memory and its wall time.

  git worktree add /tmp/before <commit>
  python -m benchmarks.epoch_compile --tree=/tmp/before \
      --data_dir=../shared/data > before.json
  python -m benchmarks.epoch_compile --tree=. --data_dir=../shared/data

Peak memory covers the whole run (data loading, the epoch, a small
evaluation), so only its difference between commits is the program's.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

_TREE = flags.DEFINE_string("tree", ".", "Worktree of the commit to measure.")
_CONFIG = flags.DEFINE_string(
    "config", "configs/mnist_hvae_s.py:vae", "Image config, relative to --tree."
)
_DATA_DIR = flags.DEFINE_string("data_dir", "", "config.data.dir (MNIST npz).")
_FUNCTION = flags.DEFINE_string(
    "function", "epoch", "Substring of the epoch program's jit name."
)

_TIMED = {
    "trace_s": r"Finished tracing \S*?(\S+) for jit in ([\d.]+) sec",
    "lower_s": r"Finished jaxpr to MLIR module conversion (\S+) in ([\d.]+) sec",
    "compile_s": r"Finished XLA compilation of (\S+) in ([\d.]+) sec",
}


def _seconds(log, pattern, function):
  """Sum of the logged seconds of every jit whose name holds `function`."""
  return sum(
      float(s) for name, s in re.findall(pattern, log) if function in name
  )


def main(argv):
  del argv
  tree = os.path.abspath(_TREE.value)
  with tempfile.TemporaryDirectory() as workdir:
    command = [
        "/usr/bin/time", "-v", sys.executable, "-m", "experiments.image_mim",
        f"--config={_CONFIG.value}", f"--config.data.dir={_DATA_DIR.value}",
        "--config.train.max_epochs=1", "--config.eval.nll_samples=10",
        "--config.eval.nll_chunk=10", "--config.eval.num_nll_examples=100",
        "--config.eval.num_train_features=1000", f"--workdir={workdir}",
    ]
    env = dict(os.environ, JAX_LOG_COMPILES="1")
    env.pop("PYTHONPATH", None)  # import mimjax from `tree` alone
    run = subprocess.run(command, cwd=tree, env=env, capture_output=True,
                         text=True, check=False)
  log = run.stdout + run.stderr
  if run.returncode:
    sys.exit(f"run failed ({run.returncode}):\n{log[-3000:]}")
  commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree,
                          capture_output=True, text=True).stdout.strip()
  result = dict(commit=commit, config=_CONFIG.value)
  for key, pattern in _TIMED.items():
    result[key] = round(_seconds(log, pattern, _FUNCTION.value), 2)
  rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
  wall = re.search(r"Elapsed \(wall clock\) time.*?: ([\d:.]+)", log)
  result["peak_rss_mb"] = round(int(rss.group(1)) / 1024) if rss else None
  result["wall"] = wall.group(1) if wall else None
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
