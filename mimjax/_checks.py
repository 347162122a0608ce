"""Argument checks shared across subpackages (no jax)."""

import numbers


def check_positive_integer(name, value):
  """Raises ValueError naming `name` unless `value` is an int >= 1."""
  if (
      isinstance(value, bool)
      or not isinstance(value, numbers.Integral)
      or value < 1
  ):
    raise ValueError(f"{name} must be a positive integer, got {value!r}")
