"""`mimjax.xla_cpu`: the XLA_FLAGS entry that moves XLA:CPU's convolutions
from single-threaded YNNPACK to its multi-threaded Eigen kernels."""

import os
import re

import jax
import jax.numpy as jnp
import pytest

from mimjax import models
from mimjax import xla_cpu


def test_flag_is_added_once_and_only_where_tested():
  environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}
  assert xla_cpu.use_multithreaded_convolutions(environ, "0.10.2")
  assert environ["XLA_FLAGS"] == (
      "--xla_dump_to=/tmp/x "
      "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
  )
  # the user's own choice, or the flag already there, is left alone
  assert not xla_cpu.use_multithreaded_convolutions(environ, "0.10.2")
  mine = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=+individual_dot"}
  assert not xla_cpu.use_multithreaded_convolutions(mine, "0.10.2")
  assert mine["XLA_FLAGS"].endswith("+individual_dot")
  # a jaxlib whose XLA may not know the flag (XLA aborts on unknown flags)
  for version in ("0.9.1", "0.11.0", "1.0.0"):
    other = {}
    assert not xla_cpu.use_multithreaded_convolutions(other, version)
    assert other == {}
  empty = {}
  assert xla_cpu.use_multithreaded_convolutions(empty, "0.10.0.dev1")
  assert empty["XLA_FLAGS"].startswith("--xla_cpu_experimental")


def test_convolutions_leave_ynnpack_in_this_process():
  """conftest.py set the flag before JAX started: compiled convolutions are
  XLA's own (Eigen, every core), not single-threaded YNNPACK fusions."""
  if "ynn_fusion_type=-individual_convolution" not in os.environ.get(
      "XLA_FLAGS", ""):
    pytest.skip("XLA_FLAGS chose otherwise, or jaxlib is untested with the flag")
  # (XLA leaves smaller convolutions to Eigen anyway)
  x, w = jnp.ones((4, 16, 16, 32)), jnp.ones((3, 3, 32, 64))
  compiled = jax.jit(models.conv2d).lower(x, w).compile().as_text()
  assert re.search(r"\bconvolution\(", compiled)
  assert "ynn_fusion" not in compiled
