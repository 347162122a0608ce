"""How much of the PTB sentence training step the optimiser update costs.

Times, on one batch of random tokens at the thesis's PTB sizes, the jitted
gradient of the sentence objective alone, then whole steps (gradient +
update, state donated) with SGD, Adam, and the configs' global-norm
clipping + Adam, and finally the clipped Adam update alone on a given
gradient. The difference between a step and the gradient is what the
update costs inside the step; the last row is what it costs on its own.

  python -m benchmarks.sentence_optimizer_share [--latent_dim=512 --max_len=24]
"""

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import optax

from mimjax import models
from mimjax import objectives
from mimjax import training

_LOSS = flags.DEFINE_string("loss", "smim", "Objective.")
_LATENT = flags.DEFINE_integer("latent_dim", 512, "Latent size.")
_BATCH = flags.DEFINE_integer("batch_size", 20, "Sentences per step.")
_MAX_LEN = flags.DEFINE_integer("max_len", 24, "Tokens per sentence.")
_VOCAB = flags.DEFINE_integer("vocab_size", 10002, "Vocabulary size.")
_REPEATS = flags.DEFINE_integer("repeats", 12, "Timed calls (best is kept).")


def _best_ms(fn, args, donate=False):
  """Best milliseconds of `fn(*args)`; with `donate` the first argument is
  donated and replaced by the previous call's output."""
  compiled = jax.jit(fn, donate_argnums=(0,) if donate else ()).lower(
      *args
  ).compile()
  out = compiled(*args)
  jax.block_until_ready(out)
  best = float("inf")
  for _ in range(_REPEATS.value):
    if donate:
      args = (out, *args[1:])
    start = time.perf_counter()
    out = compiled(*args)
    jax.block_until_ready(out)
    best = min(best, time.perf_counter() - start)
  return 1e3 * best


def main(argv):
  del argv
  model = models.SentenceVAE(vocab_size=_VOCAB.value, latent_dim=_LATENT.value)
  loss_fn = objectives.make_loss_fn(model, loss=_LOSS.value)
  key = jax.random.key(0)
  x = jax.random.randint(
      jax.random.fold_in(key, 1), (_BATCH.value, _MAX_LEN.value), 4,
      _VOCAB.value,
  )
  params = model.init({"params": key, "dropout": key}, x)
  copy = lambda tree: jax.tree_util.tree_map(jnp.copy, tree)

  def grad(p, x, k):
    return jax.grad(loss_fn, has_aux=True)(p, {"x": x}, k)[0]

  def step_with(optimizer):
    def step(state, x, k):
      p, opt_state = state
      updates, opt_state = optimizer.update(grad(p, x, k), opt_state, p)
      return optax.apply_updates(p, updates), opt_state
    return step

  clipped_adam = training.make_optimizer(
      name="adam", learning_rate=1e-3, steps_per_epoch=1,
      clip_global_norm=0.25,
  )

  def update_alone(state, g):
    p, opt_state = state
    updates, opt_state = clipped_adam.update(g, opt_state, p)
    return optax.apply_updates(p, updates), opt_state

  num = sum(a.size for a in jax.tree_util.tree_leaves(params))
  print(f"JAX {jax.__version__}, {_LOSS.value} ({_LATENT.value}), batch "
        f"{_BATCH.value} x {_MAX_LEN.value} tokens, {num / 1e6:.1f}M parameters")
  print("| program | ms |")
  print("| --- | --- |")
  print(f"| gradient alone | {_best_ms(grad, (params, x, key)):.1f} |")
  for name, optimizer in [("step, SGD", optax.sgd(1e-3)),
                          ("step, Adam", optax.adam(1e-3)),
                          ("step, clip + Adam (configs)", clipped_adam)]:
    state = (copy(params), optimizer.init(params))
    ms = _best_ms(step_with(optimizer), (state, x, key), donate=True)
    print(f"| {name} | {ms:.1f} |", flush=True)
  state = (copy(params), clipped_adam.init(params))
  ms = _best_ms(update_alone, (state, copy(params)), donate=True)
  print(f"| clip + Adam update alone | {ms:.1f} |")


if __name__ == "__main__":
  app.run(main)
