"""Annealing schedules for loss weights."""

import jax.numpy as jnp


def linear_warmup(step, *, warmup_steps):
  """beta = min(1, step / warmup_steps): the KL/MIM warm-up of thesis ch. 4.

  Args:
    step: scalar step or epoch count (any numeric type, traced or not).
    warmup_steps: steps to reach 1; 0 means no warm-up (beta = 1 throughout).

  Returns:
    Scalar float32 beta in [0, 1].
  """
  if warmup_steps < 0:
    raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
  if warmup_steps == 0:
    return jnp.ones((), jnp.float32)
  return jnp.clip(jnp.asarray(step, jnp.float32) / warmup_steps, 0.0, 1.0)
