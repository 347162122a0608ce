"""Training-step throughput of the toy MLP models (thesis Fig. 5.2 setting).

Times one compiled epoch program (a `lax.scan` over optimiser steps on fresh
GMM samples, vmapped over seeds) and reports samples/second, plus the compile
time. Usage:

  python -m benchmarks.toy_step --hidden=500 --num_seeds=1 --loss=mim
"""

import time

from absl import app
from absl import flags
import jax

from mimjax import data
from mimjax import distributions
from mimjax import models
from mimjax import objectives
from mimjax import training

_HIDDEN = flags.DEFINE_integer("hidden", 500, "Hidden units.")
_NUM_SEEDS = flags.DEFINE_integer("num_seeds", 1, "Seeds vmapped together.")
_LOSSES = flags.DEFINE_list("loss", ["vae", "mim"], "Losses to time.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Batch size.")
_STEPS = flags.DEFINE_integer("steps", 780, "Steps per timed epoch.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed epochs (best is kept).")


def _time_loss(loss):
  source = data.GMMSource(
      means=data.gmm_means(2),
      std=0.25,
      batch_size=_BATCH.value,
      samples_per_epoch=_STEPS.value * _BATCH.value,
      num_eval=1000,
  )
  model = models.mlp_model(x_dim=2, latent_dim=2, hidden=_HIDDEN.value)
  loss_fn = objectives.make_loss_fn(
      model, loss=loss, latent_anchor=distributions.standard_normal(2)
  )
  optimizer = training.make_optimizer(
      name="adam", learning_rate=1e-3, steps_per_epoch=source.steps_per_epoch
  )
  mesh = training.make_mesh()
  state = training.init_state(
      model,
      optimizer,
      jax.numpy.zeros((_BATCH.value, 2)),
      seed=0,
      num_seeds=_NUM_SEEDS.value,
  )
  epoch_fn = training.make_epoch_fn(
      loss_fn=loss_fn,
      optimizer=optimizer,
      source=source,
      mesh=mesh,
      seed=0,
      num_seeds=_NUM_SEEDS.value,
      beta_warmup_epochs=0,
      stopping_rule=training.StoppingRule(patience=10**6),
  )
  val = jax.numpy.zeros((1, 8 * mesh.size, 2))
  t0 = time.perf_counter()
  compiled = epoch_fn.lower(state, source.device_data, val).compile()
  compile_s = time.perf_counter() - t0
  best = float("inf")
  for _ in range(_REPEATS.value):
    t0 = time.perf_counter()
    state, metrics = compiled(state, source.device_data, val)
    jax.block_until_ready(metrics)
    best = min(best, time.perf_counter() - t0)
  rate = _STEPS.value * _BATCH.value * _NUM_SEEDS.value / best
  print(
      f"{loss:5s} hidden={_HIDDEN.value} seeds={_NUM_SEEDS.value} "
      f"batch={_BATCH.value}: {rate:,.0f} samples/s "
      f"({rate / _NUM_SEEDS.value:,.0f} per seed), "
      f"{best / _STEPS.value * 1e6:.0f} us/step, compile {compile_s:.1f} s"
  )


def main(argv):
  del argv
  print(f"devices: {jax.devices()}")
  for loss in _LOSSES.value:
    _time_loss(loss)


if __name__ == "__main__":
  app.run(main)
