"""A real 2-process run on localhost (CPU, gloo collectives) through the
entrypoint's --coordinator_address / --num_processes / --process_id flags
equals the 1-process run, and writes its checkpoints and results once; a
2-process run stopped by --time_budget resumes as 1 process to the same
results."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
_CONFIG = """
from configs import toy_gmm2d


def get_config():
  config = toy_gmm2d.get_config("quick")
  config.sweep.losses = ("mim",)
  config.sweep.hidden = (8,)
  config.num_seeds = 2
  config.train.update(max_epochs=2, batch_size=32, eval_batch_size=100)
  config.data.update(samples_per_epoch=320, num_eval=200)
  config.eval.update(nll_samples=8, nll_chunk=4, nll_batch=100)
  config.plots.kinds = ("curves",)
  return config
"""


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


_IMAGE_CONFIG = """
from configs import mnist_hvae_vp


def get_config():
  config = mnist_hvae_vp.get_config("quick")
  config.data.update(dir={data_dir!r}, num_validation=60)
  return config
"""


def _launch(config, workdir, num_processes, module="experiments.toy_mim",
            extra=(), returncode=0):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=_REPO)
  env.pop("XLA_FLAGS", None)  # one CPU device per process
  command = [sys.executable, "-m", module,
             f"--config={config}", f"--workdir={workdir}", *extra]
  if num_processes > 1:
    command += [f"--coordinator_address=localhost:{_free_port()}",
                f"--num_processes={num_processes}"]
  procs = [
      subprocess.Popen(
          command + ([f"--process_id={i}"] if num_processes > 1 else []),
          cwd=_REPO, env=env, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, text=True,
      )
      for i in range(num_processes)
  ]
  for p in procs:
    _, err = p.communicate(timeout=900)
    assert p.returncode == returncode, err[-3000:]


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
  config = tmp_path / "tiny_config.py"
  config.write_text(_CONFIG)
  one, two, mixed = tmp_path / "one", tmp_path / "two", tmp_path / "mixed"
  _launch(config, one, 1)
  _launch(config, two, 2)
  # Stopped by the time budget after epoch 1 as 2 processes (both stop:
  # process 0 decides for all), resumed and finished as 1 process.
  _launch(config, mixed, 2, extra=["--time_budget=0.0001"], returncode=3)
  assert not (mixed / "results.json").exists()
  _launch(config, mixed, 1)
  results = [json.loads((d / "results.json").read_text())
             for d in (one, two, mixed)]
  assert results[1]["provenance"]["environment"]["process_count"] == 2
  for a, b in zip(results[0]["runs"] * 2,
                  results[1]["runs"] + results[2]["runs"]):
    assert a["metrics"].keys() == b["metrics"].keys()
    for key, value in a["metrics"].items():
      if isinstance(value, float):
        np.testing.assert_allclose(b["metrics"][key], value, rtol=1e-5,
                                   atol=1e-6, err_msg=key)
  rundir = os.path.join("runs", "mim_h8_z2")
  lines = [
      [json.loads(l) for l in open(d / rundir / "metrics.jsonl")]
      for d in (one, two, mixed)
  ]
  assert len(lines[0]) == len(lines[1]) == len(lines[2]) == 2
  for a, b, c in zip(*lines):
    np.testing.assert_allclose(b["val/loss"], a["val/loss"], rtol=1e-6)
    np.testing.assert_allclose(c["val/loss"], a["val/loss"], rtol=1e-6)
  # One set of checkpoints, as a 1-process run writes.
  assert sorted(os.listdir(two / rundir / "checkpoints")) == sorted(
      os.listdir(one / rundir / "checkpoints"))


@pytest.mark.slow
def test_two_processes_equal_one_on_an_image_config(tmp_path,
                                                   synthetic_mnist_dir):
  """The dense HVAE's :quick config (VampPrior, MIM with RLOO) on a small
  synthetic MNIST file: training, IS-NLL and k-NN evaluation as 2
  processes equal 1 process."""
  config = tmp_path / "image_config.py"
  config.write_text(_IMAGE_CONFIG.format(data_dir=synthetic_mnist_dir))
  one, two = tmp_path / "one", tmp_path / "two"
  _launch(config, one, 1, module="experiments.image_mim")
  _launch(config, two, 2, module="experiments.image_mim")
  results = [json.loads((d / "results.json").read_text()) for d in (one, two)]
  assert results[1]["provenance"]["environment"]["process_count"] == 2
  for key in ("nll_is", "elbo", "recon_err", "knn5_acc", "posterior_std",
              "noise_share"):
    np.testing.assert_allclose(results[1][key], results[0][key], rtol=1e-5,
                               err_msg=key)
  lines = [[json.loads(l) for l in open(d / "metrics.jsonl")]
           for d in (one, two)]
  for a, b in zip(*lines):
    np.testing.assert_allclose(b["val/loss"], a["val/loss"], rtol=1e-6)
  assert sorted(os.listdir(two / "checkpoints")) == sorted(
      os.listdir(one / "checkpoints"))
