"""Seconds per test image of the importance-sampled NLL (S = 5000).

Times `evaluation.evaluate_image_model`'s IS estimator (the jitted, chunked
and vmapped `importance_sampled_log_likelihood` over VAE weights) on the
convHVAE (or, with `--network=mlp`, the dense HVAE) for `--images`
test-like images after one compile. Usage:

  python -m benchmarks.is_nll --prior=vamp --samples=5000 --chunk=100
  python -m benchmarks.is_nll --network=mlp --batch=10 --images=100
"""

import time

from absl import app
from absl import flags
import jax
import numpy as np

from mimjax import models
import experiments  # noqa: F401  (the entrypoints' XLA:CPU convolutions)
from mimjax import evaluation

_PRIOR = flags.DEFINE_enum("prior", "vamp", ["vamp", "standard_normal"], "p(z2).")
_SAMPLES = flags.DEFINE_integer("samples", 5000, "Importance samples S.")
_CHUNK = flags.DEFINE_integer("chunk", 100, "Samples per vmapped chunk.")
_BATCH = flags.DEFINE_integer("batch", 2, "Images per call.")
_IMAGES = flags.DEFINE_integer("images", 4, "Images timed (after warm-up).")
_NETWORK = flags.DEFINE_enum(
    "network", "conv", ["conv", "mlp"], "convHVAE or the dense HVAE (L = 2)."
)


def main(argv):
  del argv
  model = models.HierarchicalVAE(
      vamp_pseudo_inputs=500 if _PRIOR.value == "vamp" else 0,
      network=_NETWORK.value,
  )
  key = jax.random.key(0)
  x = np.asarray(
      jax.random.uniform(key, (_IMAGES.value, 28, 28, 1)) < 0.13, np.float32
  )
  params = model.init(key, x[:1])
  run = lambda xb, k: evaluation.importance_sampled_log_q_x(
      model, params, xb, _SAMPLES.value, _CHUNK.value, k
  )
  start = time.perf_counter()
  jax.block_until_ready(run(x[: _BATCH.value], key))
  first = time.perf_counter() - start
  start = time.perf_counter()
  for i in range(0, _IMAGES.value, _BATCH.value):
    jax.block_until_ready(run(x[i : i + _BATCH.value], jax.random.key(i)))
  per_image = (time.perf_counter() - start) / _IMAGES.value
  name = {"conv": "convHVAE", "mlp": "dense HVAE"}[_NETWORK.value]
  print(f"IS-NLL, {name} ({_PRIOR.value}), S = {_SAMPLES.value}, chunk "
        f"{_CHUNK.value}, {_BATCH.value} images per call: first call "
        f"(compile + run) {first:.1f} s, then {per_image:.2f} s per image "
        f"({per_image * 10000 / 3600:.1f} h for 10k test images)")


if __name__ == "__main__":
  app.run(main)
