"""Training and sampling throughput of a Glow flow.

Times (1) the jitted Adam step on the mean negative log-likelihood
-mean_b log p(x_b) of a fixed uniform-noise batch and (2) jitted `to_data` on
standard-normal z: compile time, then the best of `--repeats` timings of
`--steps_timed` calls, as images/second. Usage:

  python -m benchmarks.flow_speed --event_shape=32,32,1 --levels=3 --steps=4 \\
    --hidden=64 --batch_size=64
"""

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import optax

from mimjax import models
import experiments  # noqa: F401  (the entrypoints' XLA:CPU convolutions)

_EVENT = flags.DEFINE_list("event_shape", ["32", "32", "1"], "H, W, C.")
_LEVELS = flags.DEFINE_integer("levels", 3, "Glow scales L.")
_FLOW_STEPS = flags.DEFINE_integer("steps", 4, "Flow steps K per level.")
_HIDDEN = flags.DEFINE_integer("hidden", 64, "Coupling network channels.")
_PERMUTATION = flags.DEFINE_enum(
    "permutation", "shuffle", ["shuffle", "conv1x1"], "Channel mixing."
)
_BATCH = flags.DEFINE_integer("batch_size", 64, "Images per call.")
_TIMED = flags.DEFINE_integer("steps_timed", 5, "Calls per timing.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timings (best is kept).")


def _seconds_per_call(compiled, args, advance):
  """Best time of one call; `advance(args, outputs)` gives the next args."""
  best = float("inf")
  for _ in range(_REPEATS.value):
    start = time.perf_counter()
    for _ in range(_TIMED.value):
      outputs = compiled(*args)
      args = advance(args, outputs)
    jax.block_until_ready(outputs)
    best = min(best, (time.perf_counter() - start) / _TIMED.value)
  return best


def _compile(fn, *args, **jit_kwargs):
  start = time.perf_counter()
  compiled = jax.jit(fn, **jit_kwargs).lower(*args).compile()
  return compiled, time.perf_counter() - start


def main(argv):
  del argv
  event_shape = tuple(int(d) for d in _EVENT.value)
  model = models.Glow(
      event_shape=event_shape, levels=_LEVELS.value, steps=_FLOW_STEPS.value,
      hidden=_HIDDEN.value, permutation=_PERMUTATION.value,
  )
  key = jax.random.key(0)
  x = jax.random.uniform(key, (_BATCH.value, *event_shape))
  params = jax.jit(model.init)(key, x)
  optimizer = optax.adam(1e-3)

  def train_step(params, opt_state):
    loss, grads = jax.value_and_grad(
        lambda p: -model.apply(p, x, method="log_prob").mean()
    )(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  def to_data(params, z):
    return model.apply(params, z, method="to_data")[0]

  config = (f"{'x'.join(_EVENT.value)}, L={_LEVELS.value}, "
            f"K={_FLOW_STEPS.value}, hidden={_HIDDEN.value}, "
            f"{_PERMUTATION.value}, batch {_BATCH.value}, JAX "
            f"{jax.__version__} on {jax.devices()[0].device_kind}")
  # Sampling first: the training step donates (and so deletes) `params`.
  z = jax.random.normal(key, (_BATCH.value, model.dim))
  compiled, compile_s = _compile(to_data, params, z)
  seconds = _seconds_per_call(compiled, (params, z), lambda args, _: args)
  print(f"sample: {_BATCH.value / seconds:.1f} images/s "
        f"(compile {compile_s:.1f} s; {config})", flush=True)

  opt_state = optimizer.init(params)
  compiled, compile_s = _compile(
      train_step, params, opt_state, donate_argnums=(0, 1)
  )
  seconds = _seconds_per_call(
      compiled, (params, opt_state), lambda _, outputs: outputs[:2]
  )
  print(f"train: {_BATCH.value / seconds:.1f} images/s "
        f"(compile {compile_s:.1f} s; {config})", flush=True)


if __name__ == "__main__":
  jnp.zeros(())  # initialise the backend before timing
  app.run(main)
