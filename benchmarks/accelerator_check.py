r"""The check to run on the first machine with an accelerator.

Runs every chapter's `:quick` config end to end (toy, image, sentence,
TzK) on synthetic data it writes itself (no download, no ../shared), then
the step timings: convHVAE VAE and MIM steps (`benchmarks.image_step`), one
IS-NLL chunk (`benchmarks.is_nll`), the PTB sentence step
(`benchmarks.sentence_step`) and the flow step (`benchmarks.flow_speed`).
Prints one JSON line per check: its name, the command, exit status, wall
seconds, the backend it ran on and the last lines of its output (the
benchmarks print their own throughput there). Aimed at under 5 minutes on
one GPU; on this 2-core CPU it takes ~25 minutes.

  python -m benchmarks.accelerator_check [--only=image,image_step] \
      [--workdir=/tmp/accelerator_check]
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

_ONLY = flags.DEFINE_list(
    "only", [], "Run only these checks (default: all; see CHECKS)."
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Folder for the synthetic data and the runs (default: "
    "a new temporary folder)."
)
_TIMEOUT = flags.DEFINE_integer("timeout", 900, "Seconds per check.")

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def checks(data_dir, workdir):
  """Name -> command (argument list after `python -m`)."""
  data = f"--config.data.dir={data_dir}"
  run = lambda name: f"--workdir={os.path.join(workdir, name)}"
  return {
      "toy": ["experiments.toy_mim", "--config=configs/toy_gmm2d.py:quick",
              run("toy")],
      "image": ["experiments.image_mim", "--config=configs/mnist_vp.py:quick",
                data, "--config.data.num_validation=200", run("image")],
      "sentence": ["experiments.sentence_mim",
                   "--config=configs/ptb_smim.py:quick", data,
                   run("sentence")],
      "tzk": ["experiments.tzk", "--config=configs/tzk_mnist.py:quick", data,
              "--config.data.num_validation=200", run("tzk")],
      "image_step": ["benchmarks.image_step", "--priors=standard_normal,vamp",
                     "--losses=vae,mim"],
      "is_nll": ["benchmarks.is_nll", "--prior=vamp", "--images=4"],
      "sentence_step": ["benchmarks.sentence_step", "--losses=smim",
                        "--latent_dims=512"],
      "flow_step": ["benchmarks.flow_speed"],
  }


def write_synthetic_data(folder):
  """mnist.npz (1,200 + 200 images of bars by class) and PTB-like text."""
  rng = np.random.default_rng(0)

  def images(n):
    labels = rng.integers(0, 10, n)
    x = (rng.random((n, 28, 28)) < 0.05).astype(np.uint8) * 255
    for i, y in enumerate(labels):
      x[i, 2 * y : 2 * y + 6, 4:24] = 255
    return x, labels
  (x_train, y_train), (x_test, y_test) = images(1200), images(200)
  np.savez(os.path.join(folder, "mnist.npz"), x_train=x_train,
           y_train=y_train, x_test=x_test, y_test=y_test)
  words = [f"w{i}" for i in range(300)]
  for split, n in (("train", 2000), ("valid", 200), ("test", 200)):
    lines = [" ".join(rng.choice(words, rng.integers(3, 30)))
             for _ in range(n)]
    with open(os.path.join(folder, f"ptb.{split}.txt"), "w") as f:
      f.write("\n".join(lines) + "\n")


def _backend():
  probe = "import jax; print(jax.default_backend())"
  out = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                       text=True, cwd=_REPO)
  return out.stdout.strip()


def main(argv):
  del argv
  workdir = _WORKDIR.value or tempfile.mkdtemp(prefix="accelerator_check_")
  data_dir = os.path.join(workdir, "data")
  os.makedirs(data_dir, exist_ok=True)
  write_synthetic_data(data_dir)
  backend = _backend()
  todo = checks(data_dir, workdir)
  unknown = set(_ONLY.value) - set(todo)
  if unknown:
    raise app.UsageError(f"unknown checks {sorted(unknown)}; use {list(todo)}")
  failed = 0
  for name, command in todo.items():
    if _ONLY.value and name not in _ONLY.value:
      continue
    start = time.perf_counter()
    try:
      proc = subprocess.run(
          [sys.executable, "-m", *command], cwd=_REPO, capture_output=True,
          text=True, timeout=_TIMEOUT.value,
      )
      status, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as e:
      text = lambda b: b.decode(errors="replace") if isinstance(b, bytes) else (
          b or "")
      status, output = "timeout", text(e.stdout) + text(e.stderr)
    failed += status != 0
    tail = [line for line in output.splitlines()
            if line.strip() and not line.startswith("W")][-6:]
    print(json.dumps(dict(
        check=name, command="python -m " + " ".join(command),
        status=status, wall_s=round(time.perf_counter() - start, 1),
        backend=backend, output_tail=tail,
    )), flush=True)
  sys.exit(1 if failed else 0)


if __name__ == "__main__":
  app.run(main)
