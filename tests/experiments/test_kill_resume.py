"""`kill -9` at several points of a run, each followed by a resume, gives
the results, checkpoints and TensorBoard scalars of an uninterrupted run.

Each run is a child process on one CPU device (so that the killed, resumed
and uninterrupted runs compute on the same device count); a kill point is
injected by wrapping an internal function in the child only.
"""

import json
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs import toy_gmm2d

# End-to-end runs: the slow tier (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

_REPO = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)
_CHILD = r'''
import json, os, signal, sys
import ml_collections
from experiments import toy_mim
from mimjax import files
from mimjax.training import _checkpoint, _writer

workdir, kill_at, config_path = sys.argv[1:]
with open(config_path) as f:
  config = ml_collections.ConfigDict(json.load(f))
what, _, arg = kill_at.partition(":")
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if what == "epoch":  # metrics.jsonl has the epoch; TensorBoard not flushed
  write = _writer.MetricWriter.write
  def write_then_die(self, epoch, metrics):
    write(self, epoch, metrics)
    if epoch == int(arg):
      die()
  _writer.MetricWriter.write = write_then_die
elif what == "checkpoint":  # Orbax is writing that epoch's checkpoint
  save = _checkpoint.Checkpointer.save
  def save_then_die(self, epoch, state, **kwargs):
    save(self, epoch, state, **kwargs)
    if epoch == int(arg):
      die()
  _checkpoint.Checkpointer.save = save_then_die
elif what == "file":  # the file's temporary is written, not yet renamed
  replace = os.replace
  def die_before(src, dst):
    if os.path.basename(dst) == arg:
      die()
    replace(src, dst)
  files.os.replace = die_before
toy_mim.run(config, workdir)
'''
# Kill points, in the order a run reaches them.
_KILLS = ("epoch:2", "checkpoint:3", "file:eval.json", "file:summary.md",
          "file:results.json")


def _run(workdir, kill_at, config_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=_REPO)
  return subprocess.run(
      [sys.executable, "-c", _CHILD, str(workdir), kill_at, str(config_path)],
      cwd=_REPO, env=env, capture_output=True, text=True, timeout=600,
  )


def _checkpoint_arrays(rundir):
  directory = os.path.join(rundir, "checkpoints")
  last = max(int(d) for d in os.listdir(directory) if d.isdigit())
  with ocp.StandardCheckpointer() as checkpointer:
    tree = checkpointer.restore(os.path.join(directory, str(last), "default"))
  return last, jax.tree.map(np.asarray, tree)


@pytest.fixture(scope="module")
def config_path(tmp_path_factory, tiny_toy):
  config = tiny_toy(toy_gmm2d.get_config("quick"), max_epochs=4)
  config.sweep.losses = ("mim",)
  config.sweep.hidden = (8,)
  config.plots.kinds = ("curves",)
  path = tmp_path_factory.mktemp("config") / "config.json"
  path.write_text(json.dumps(config.to_dict(), default=list))
  return path


def test_killed_and_resumed_run_equals_an_uninterrupted_one(
    tmp_path, config_path, tb_scalars):
  reference, killed = tmp_path / "reference", tmp_path / "killed"
  done = _run(reference, "none", config_path)
  assert done.returncode == 0, done.stderr[-3000:]
  for kill_at in _KILLS:
    child = _run(killed, kill_at, config_path)
    assert child.returncode == -signal.SIGKILL, (kill_at, child.stderr[-3000:])
  done = _run(killed, "none", config_path)
  assert done.returncode == 0, done.stderr[-3000:]

  results = [json.loads((d / "results.json").read_text())
             for d in (reference, killed)]
  assert results[0]["runs"] == results[1]["runs"]
  rundir = ("runs", "mim_h8_z2")
  for a, b in zip(*(_checkpoint_arrays(os.path.join(d, *rundir))
                    for d in (reference, killed))):
    jax.tree.map(np.testing.assert_array_equal, a, b)
  scalars = [sorted(tb_scalars(os.path.join(d, *rundir, "tensorboard")))
             for d in (reference, killed)]
  assert scalars[0] == scalars[1]
  assert {step for _, step, _ in scalars[1]} == {1, 2, 3, 4}
  lines = [(d / os.path.join(*rundir, "metrics.jsonl")).read_text()
           for d in (reference, killed)]
  assert lines[0] == lines[1]
  # No torn temporary is mistaken for an output.
  assert (killed / "summary.md").read_text() == (
      reference / "summary.md").read_text()
