"""Optimisers and learning-rate schedules from a `config.optim` section."""

import jax
import jax.numpy as jnp
import optax


def learning_rate_schedule(config, steps_per_epoch):
  """Learning rate as a function of the global step.

  Schedules:
    * "constant": lr.
    * "noam": the warm-up schedule of Vaswani et al. (2017) used by the
      thesis's toy experiments, stepped once per epoch as in the authors'
      code: with e = epoch + 1 and w = warmup_epochs,
      lr(e) = lr * sqrt(w) * min(e * w^-1.5, e^-0.5) (peaks at lr when e = w).
    * "linear_warmup": linear from 0 to lr over `warmup_steps` optimiser
      steps if the config sets it (> 0), else over warmup_epochs epochs; then
      constant.

  Args:
    config: ConfigDict with `learning_rate`, `schedule`, `warmup_epochs`
      and optionally `warmup_steps`.
    steps_per_epoch: optimiser steps per epoch.

  Returns:
    An optax schedule.
  """
  lr, w = config.learning_rate, config.warmup_epochs
  if config.schedule == "constant":
    return optax.constant_schedule(lr)
  if config.schedule == "noam":
    if w <= 0:
      raise ValueError("the noam schedule needs optim.warmup_epochs > 0")

    def noam(step):
      e = (jnp.asarray(step) // steps_per_epoch + 1).astype(jnp.float32)
      return lr * w**0.5 * jnp.minimum(e * w**-1.5, e**-0.5)

    return noam
  if config.schedule == "linear_warmup":
    warmup_steps = config.get("warmup_steps", 0) or w * steps_per_epoch
    if warmup_steps <= 0:
      return optax.constant_schedule(lr)
    return optax.linear_schedule(0.0, lr, int(warmup_steps))
  raise ValueError(
      f"unknown schedule {config.schedule!r}; use 'constant', 'noam' or "
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


def make_optimizer(config, steps_per_epoch):
  """optax optimiser from `config.optim`, optional global-norm clipping.

  Names: "adam", "adam_norm_grad" (per-leaf normalised gradients, then Adam)
  and "sgd".
  """
  schedule = learning_rate_schedule(config, steps_per_epoch)
  if config.name == "adam":
    opt = optax.adam(schedule)
  elif config.name == "adam_norm_grad":
    opt = optax.chain(normalize_by_leaf_norm(), optax.adam(schedule))
  elif config.name == "sgd":
    opt = optax.sgd(schedule)
  else:
    raise ValueError(
        f"unknown optimiser {config.name!r}; use 'adam', 'adam_norm_grad' "
        "or 'sgd'"
    )
  if config.get("clip_global_norm"):
    opt = optax.chain(optax.clip_by_global_norm(config.clip_global_norm), opt)
  return opt
