"""The pure per-seed functions the epoch program is made of.

`make_epoch_fn` composes them: a `lax.scan` of `train_step` over the epoch's
batches (vmapped over seeds), then `validation_loss`, then the early-stopping
and collapse-alarm updates of `_stopping`. Each runs, and can be tested, on
its own.
"""

import jax
import jax.numpy as jnp
import optax


def train_step(params, opt_state, batch, key, *, loss_fn, optimizer, beta,
               lr_scale=None):
  """One optimiser step of one seed.

  Only the "params" collection w of the variables is trained; the others
  (e.g. BatchNorm's "batch_stats") take the values the forward pass returns:

    (loss, aux), g = value_and_grad(loss_fn)({**params, "params": w}, ...)
    u, opt_state = optimizer.update(g, opt_state, w)
    w = w + lr_scale * u

  Args:
    params: the seed's variables (a dict of collections: "params", the
      trainable one, and any non-trainable ones).
    opt_state: its optimiser state (over `params["params"]` only).
    batch: dict with "x" `[B, ...]` (and whatever else the loss reads).
    key: PRNG key of this step.
    loss_fn: `loss_fn(params, batch, key, beta) -> (scalar, aux)`; an
      optional `aux["collections"]` (e.g. `{"batch_stats": ...}`) replaces
      those collections after the step.
    optimizer: optax transformation.
    beta: scalar weight of the loss's KL-like term (warm-up).
    lr_scale: optional scalar factor on the updates (plateau schedule).

  Returns:
    (params, opt_state, aux) after the step; aux without "collections".
  """
  trainable = params["params"]

  def loss_of(w):
    return loss_fn({**params, "params": w}, batch, key, beta)

  (_, aux), grads = jax.value_and_grad(loss_of, has_aux=True)(trainable)
  aux = dict(aux)
  collections = aux.pop("collections", {})
  updates, opt_state = optimizer.update(grads, opt_state, trainable)
  if lr_scale is not None:
    updates = jax.tree.map(lambda u: u * lr_scale, updates)
  params = {
      **params,
      "params": optax.apply_updates(trainable, updates),
      **collections,
  }
  return params, opt_state, aux


def keep_if(active, new, old):
  """`new` where the scalar `active` holds, else `old` (a stopped seed keeps
  its state)."""
  return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old)


def validation_loss(params, chunks, key, *, loss_fn):
  """Mean validation loss of one seed at beta = 1:

    (1 / C) sum_c loss_fn(params, chunks[c], fold_in(key, c), 1)

  The keys are the same every epoch, so the curve's epoch-to-epoch changes
  are the model's, not fresh noise.

  Args:
    params: the seed's variables.
    chunks: dict holding "x" `[C, N, ...]` (and any other per-example
      arrays, chunked alike).
    key: the run's validation key.
    loss_fn: as in `train_step`.

  Returns:
    Scalar mean over the C chunks.
  """

  def body(total, inputs):
    chunk, i = inputs
    loss, _ = loss_fn(params, chunk, jax.random.fold_in(key, i), 1.0)
    return total + loss, None

  n = chunks["x"].shape[0]
  total, _ = jax.lax.scan(body, 0.0, (chunks, jnp.arange(n)))
  return total / n
