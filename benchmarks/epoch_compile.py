"""Compile time and peak host memory of one training run, per commit.

Runs one short training run in a subprocess from `--tree` (a git worktree
of the commit to measure, so two commits are compared with the same
command) under `/usr/bin/time -v` and `JAX_LOG_COMPILES=1`, and prints one
JSON line: the seconds of tracing, lowering to StableHLO and XLA
compilation of the epoch program (the jitted function named `--function`),
the run's peak resident memory and its wall time.

`--experiment=image`: one epoch of `experiments.image_mim` on MNIST from
`--data_dir`, with a small evaluation.
`--experiment=flow`: the flow phase of `experiments.tzk` on a CIFAR10-sized
source: a random `cifar10.npz` of CIFAR10's shapes (50,000 + 10,000 RGB
32 x 32 uint8 images; 40,000 of them train, as float32 that is 491 MB) is
written to a temporary folder, and the tiny `:quick` flow takes 4 steps on
it, so the training split dominates what a captured dataset would add to
the program.

  git worktree add /tmp/before <commit>
  python -m benchmarks.epoch_compile --tree=/tmp/before \
      --data_dir=../shared/data > before.json
  python -m benchmarks.epoch_compile --tree=. --data_dir=../shared/data
  python -m benchmarks.epoch_compile --tree=/tmp/before --experiment=flow

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
import numpy as np

_TREE = flags.DEFINE_string("tree", ".", "Worktree of the commit to measure.")
_EXPERIMENT = flags.DEFINE_enum(
    "experiment", "image", ["image", "flow"],
    "image: one MNIST epoch of experiments.image_mim; flow: the flow phase of "
    "experiments.tzk on a random CIFAR10-sized source (see the docstring).",
)
_CONFIG = flags.DEFINE_string(
    "config", "", "Config, relative to --tree (default: "
    "configs/mnist_hvae_s.py:vae for image, configs/tzk_cifar10.py:quick,flow "
    "for flow)."
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", "", "config.data.dir (MNIST npz) for --experiment=image."
)
_FUNCTION = flags.DEFINE_string(
    "function", "epoch", "Substring of the epoch program's jit name."
)

_IMAGE_CONFIG = "configs/mnist_hvae_s.py:vae"
_FLOW_CONFIG = "configs/tzk_cifar10.py:quick,flow"

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


def _image_command(config, data_dir):
  """One MNIST epoch and a small evaluation of `experiments.image_mim`."""
  return [
      "experiments.image_mim", f"--config={config or _IMAGE_CONFIG}",
      f"--config.data.dir={data_dir}", "--config.train.max_epochs=1",
      "--config.eval.nll_samples=10", "--config.eval.nll_chunk=10",
      "--config.eval.num_nll_examples=100",
      "--config.eval.num_train_features=1000",
  ]


def _flow_command(config, data_dir):
  """The flow phase of `experiments.tzk`: 4 steps on all 40k training
  images of `data_dir/cifar10.npz`, a 40-image validation and test."""
  return [
      "experiments.tzk", f"--config={config or _FLOW_CONFIG}",
      f"--config.data.dir={data_dir}", "--config.data.datasets=('cifar10',)",
      "--config.data.knowledge=('cifar10',)", "--config.flow_train_filter=",
      "--config.data.max_train=0", "--config.data.max_validation=40",
      "--config.data.max_test=40", "--config.data.epoch_steps=4",
      "--config.train.max_epochs=1",
  ]


def write_random_cifar10(directory, seed=0):
  """Writes `directory/cifar10.npz` with CIFAR10's shapes and dtypes:
  x_train [50000, 32, 32, 3] and x_test [10000, 32, 32, 3] uniform uint8,
  labels uniform in 0..9."""
  rng = np.random.default_rng(seed)
  np.savez(
      os.path.join(directory, "cifar10.npz"),
      x_train=rng.integers(0, 256, (50000, 32, 32, 3), dtype=np.uint8),
      y_train=rng.integers(0, 10, 50000, dtype=np.uint8),
      x_test=rng.integers(0, 256, (10000, 32, 32, 3), dtype=np.uint8),
      y_test=rng.integers(0, 10, 10000, dtype=np.uint8),
  )


def main(argv):
  del argv
  tree = os.path.abspath(_TREE.value)
  with tempfile.TemporaryDirectory() as workdir, \
      tempfile.TemporaryDirectory() as data_dir:
    if _EXPERIMENT.value == "flow":
      write_random_cifar10(data_dir)
      args = _flow_command(_CONFIG.value, data_dir)
    else:
      args = _image_command(_CONFIG.value, _DATA_DIR.value)
    command = ["/usr/bin/time", "-v", sys.executable, "-m", *args,
               f"--workdir={workdir}"]
    env = dict(os.environ, JAX_LOG_COMPILES="1")
    env.pop("PYTHONPATH", None)  # import mimjax from `tree` alone
    run = subprocess.run(command, cwd=tree, env=env, capture_output=True,
                         text=True, check=False)
  log = run.stdout + run.stderr
  if run.returncode:
    sys.exit(f"run failed ({run.returncode}):\n{log[-3000:]}")
  commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree,
                          capture_output=True, text=True).stdout.strip()
  result = dict(commit=commit, experiment=_EXPERIMENT.value,
                config=args[1].split("=", 1)[1])
  for key, pattern in _TIMED.items():
    result[key] = round(_seconds(log, pattern, _FUNCTION.value), 2)
  rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
  wall = re.search(r"Elapsed \(wall clock\) time.*?: ([\d:.]+)", log)
  result["peak_rss_mb"] = round(int(rss.group(1)) / 1024) if rss else None
  result["wall"] = wall.group(1) if wall else None
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(main)
