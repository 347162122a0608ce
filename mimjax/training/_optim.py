"""Optimisers and learning-rate schedules (the fields of a `config.optim`
section, as keyword arguments: `make_optimizer(**config.optim, ...)`)."""

import jax
import jax.numpy as jnp
import optax


def learning_rate_schedule(
    *, learning_rate, schedule, steps_per_epoch, warmup_epochs=0,
    warmup_steps=0,
):
  """Learning rate as a function of the global step.

  Schedules:
    * "constant": lr.
    * "noam": the warm-up schedule of Vaswani et al. (2017) used by the
      thesis's toy experiments, stepped once per epoch as in the authors'
      code: with e = epoch + 1 and w = warmup_epochs,
      lr(e) = lr * sqrt(w) * min(e * w^-1.5, e^-0.5) (peaks at lr when e = w).
    * "linear_warmup": linear from 0 to lr over `warmup_steps` optimiser
      steps if > 0, else over `warmup_epochs` epochs; then constant.

  Args:
    learning_rate: the peak (or constant) rate lr.
    schedule: "constant", "noam" or "linear_warmup".
    steps_per_epoch: optimiser steps per epoch.
    warmup_epochs: w of "noam" and "linear_warmup".
    warmup_steps: "linear_warmup" over this many steps instead (> 0).

  Returns:
    An optax schedule.
  """
  lr, w = learning_rate, warmup_epochs
  if schedule == "constant":
    return optax.constant_schedule(lr)
  if schedule == "noam":
    if w <= 0:
      raise ValueError("the noam schedule needs optim.warmup_epochs > 0")

    def noam(step):
      e = (jnp.asarray(step) // steps_per_epoch + 1).astype(jnp.float32)
      return lr * w**0.5 * jnp.minimum(e * w**-1.5, e**-0.5)

    return noam
  if schedule == "linear_warmup":
    warmup_steps = warmup_steps or w * steps_per_epoch
    if warmup_steps <= 0:
      return optax.constant_schedule(lr)
    return optax.linear_schedule(0.0, lr, int(warmup_steps))
  raise ValueError(
      f"unknown schedule {schedule!r}; use 'constant', 'noam' or "
      "'linear_warmup'"
  )


def normalize_by_leaf_norm(eps=1e-7):
  """Divides every gradient leaf by its own L2 norm: g / (||g||_2 + eps).

  Chained before Adam this is the "AdamNormGrad" of Tomczak & Welling's
  VampPrior code, used for the thesis's image models (reference digest
  Sec. 3.2). Each parameter array is normalised on its own.

  Args:
    eps: added to each norm.

  Returns:
    A stateless `optax.GradientTransformation`.
  """

  def update(updates, state, params=None):
    del params
    return (
        jax.tree.map(lambda g: g / (jnp.linalg.norm(g) + eps), updates),
        state,
    )

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update)


def make_optimizer(
    *, name, learning_rate, steps_per_epoch, schedule="constant",
    warmup_epochs=0, warmup_steps=0, clip_global_norm=0.0,
):
  """optax optimiser with an optional global-norm clipping.

  Args:
    name: "adam", "adam_norm_grad" (per-leaf normalised gradients, then
      Adam) or "sgd".
    learning_rate, steps_per_epoch, schedule, warmup_epochs, warmup_steps:
      the learning-rate schedule (`learning_rate_schedule`).
    clip_global_norm: clip the gradient to this global norm first (0: off).

  Returns:
    An `optax.GradientTransformation`.
  """
  rate = learning_rate_schedule(
      learning_rate=learning_rate, schedule=schedule,
      steps_per_epoch=steps_per_epoch, warmup_epochs=warmup_epochs,
      warmup_steps=warmup_steps,
  )
  if name == "adam":
    opt = optax.adam(rate)
  elif name == "adam_norm_grad":
    opt = optax.chain(normalize_by_leaf_norm(), optax.adam(rate))
  elif name == "sgd":
    opt = optax.sgd(rate)
  else:
    raise ValueError(
        f"unknown optimiser {name!r}; use 'adam', 'adam_norm_grad' or 'sgd'"
    )
  if clip_global_norm:
    opt = optax.chain(optax.clip_by_global_norm(clip_global_norm), opt)
  return opt
