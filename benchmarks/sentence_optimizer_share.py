"""How much of the PTB sentence training step the optimiser update costs.

Times, on one PTB-like batch (`benchmarks._sentence_batch`) at the
thesis's PTB sizes, the jitted gradient of the sentence objective alone,
then the engine's per-seed update as the epoch program runs it
(`training.train_step` with the plateau schedule's `lr_scale`, then
`training.keep_if` for a stopped seed; state donated) with SGD, Adam and
the PTB config's optimiser (global-norm clipping + Adam), and finally that
optimiser's update alone on a given gradient. A step minus the gradient is
what the update costs inside the step; the last row is what it costs on its
own.

  python -m benchmarks.sentence_optimizer_share [--latent_dim=512 --width=24]
"""

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

from configs import sentence_common
from mimjax import models
from mimjax import objectives
from mimjax import training
from benchmarks import _sentence_batch

_LOSS = flags.DEFINE_string("loss", "smim", "Objective.")
_LATENT = flags.DEFINE_integer("latent_dim", 512, "Latent size.")
_BATCH = flags.DEFINE_integer("batch_size", 20, "Sentences per step.")
_WIDTH = flags.DEFINE_integer(
    "width", 24, "Batch width in tokens (a PTB length bucket)."
)
_VOCAB = flags.DEFINE_integer("vocab_size", 10002, "Vocabulary size.")
_REPEATS = flags.DEFINE_integer("repeats", 12, "Timed calls (best is kept).")


def _best_ms(fn, args, donate=False):
  """Best milliseconds of `fn(*args)` over `--repeats` calls.

  With `donate` the first argument is donated and replaced by the previous
  call's output.
  """
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
  x = jnp.asarray(_sentence_batch.ptb_like_batch(
      np.random.default_rng(0), _BATCH.value, _WIDTH.value, _VOCAB.value
  ))
  variables = model.init({"params": key, "dropout": key}, x)
  fresh = lambda: jax.tree.map(jnp.copy, variables)
  configured = sentence_common.base(
      "ptb", loss=_LOSS.value, latent_dim=_LATENT.value
  ).optim
  config_optimizer = training.make_optimizer(
      **configured.to_dict(), steps_per_epoch=1
  )
  lr_scale, active = jnp.float32(1.0), jnp.bool_(True)

  def gradient(v, x, k):
    return jax.grad(loss_fn, has_aux=True)(v, {"x": x}, k)[0]

  def engine_step(optimizer):
    def step(state, x, k):
      v, opt_state = state
      new_v, new_opt_state, _ = training.train_step(
          v, opt_state, {"x": x}, k, loss_fn=loss_fn, optimizer=optimizer,
          beta=1.0, lr_scale=lr_scale,
      )
      return (training.keep_if(active, new_v, v),
              training.keep_if(active, new_opt_state, opt_state))
    return step

  def update_alone(state, grads):
    v, opt_state = state
    updates, opt_state = config_optimizer.update(
        grads["params"], opt_state, v["params"]
    )
    updates = jax.tree.map(lambda u: u * lr_scale, updates)
    return {**v, "params": optax.apply_updates(v["params"], updates)}, opt_state

  num = sum(a.size for a in jax.tree.leaves(variables))
  print(f"JAX {jax.__version__}, {_LOSS.value} ({_LATENT.value}), batch "
        f"{_BATCH.value} x {_WIDTH.value} tokens, {num / 1e6:.1f}M parameters, "
        f"configured optimiser: {configured.name}, clip "
        f"{configured.clip_global_norm}")
  print("| program | ms |")
  print("| --- | --- |")
  print(f"| gradient alone | {_best_ms(gradient, (variables, x, key)):.1f} |")
  for name, optimizer in [
      ("engine step, SGD", optax.sgd(configured.learning_rate)),
      ("engine step, Adam", optax.adam(configured.learning_rate)),
      ("engine step, configured optimiser", config_optimizer),
  ]:
    state = (fresh(), optimizer.init(variables["params"]))
    ms = _best_ms(engine_step(optimizer), (state, x, key), donate=True)
    print(f"| {name} | {ms:.1f} |", flush=True)
  state = (fresh(), config_optimizer.init(variables["params"]))
  ms = _best_ms(update_alone, (state, fresh()), donate=True)
  print(f"| configured optimiser's update alone | {ms:.1f} |")


if __name__ == "__main__":
  app.run(main)
