"""Test setup: 4 simulated CPU devices for the data-parallel tests, a
TensorBoard event reader (`tb_scalars`), a folder snapshot (`snapshot`) and
a read-only file system (`read_only`) and a small synthetic MNIST file
(`synthetic_mnist_dir`).

The flag must be set before JAX creates its CPU backend, i.e. before any test
module touches a device; conftest.py is imported first.
"""

import glob
import os
import struct

import jax
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from mimjax import xla_cpu

# The entrypoints' XLA:CPU convolutions (`experiments/__init__.py`), chosen
# here first so that a test's numbers do not depend on which module some
# earlier test imported.
xla_cpu.use_multithreaded_convolutions()
jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_platforms", "cpu")


def _read_tb_scalars(directory):
  """All (tag, step, value) scalars of every event file in `directory`
  (TFRecord framing: u64 length, u32 crc, payload, u32 crc)."""
  out = []
  for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
    with open(path, "rb") as f:
      data = f.read()
    pos = 0
    while pos < len(data):
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        out.append((value.tag, event.step, value.simple_value))
  return out


@pytest.fixture
def tb_scalars():
  """`tb_scalars(directory)`: the TensorBoard scalars written there."""
  return _read_tb_scalars



def _snapshot(folder):
  """{relative path: bytes} of every file under `folder`."""
  out = {}
  for root, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, folder)] = f.read()
  return out


@pytest.fixture
def snapshot():
  """`snapshot(folder)`: every file's bytes, to check nothing changed."""
  return _snapshot


@pytest.fixture
def read_only(monkeypatch):
  """Every `open` for writing fails with EROFS, as on a read-only mount
  (root ignores chmod, so permissions cannot simulate it)."""
  real_open = open

  def read_only_open(path, mode="r", *args, **kwargs):
    if any(c in mode for c in "wax+"):
      raise OSError(30, "Read-only file system", str(path))
    return real_open(path, mode, *args, **kwargs)

  monkeypatch.setattr("builtins.open", read_only_open)


@pytest.fixture(scope="session")
def synthetic_mnist_dir(tmp_path_factory):
  """A folder holding `mnist.npz` with 260 training and 100 test images:
  ten "classes" of horizontal bars, so codes can carry label information."""
  folder = tmp_path_factory.mktemp("synthetic_mnist")
  rng = np.random.RandomState(0)

  def images(n):
    labels = rng.randint(0, 10, n)
    x = np.zeros((n, 28, 28), np.uint8)
    for i, y in enumerate(labels):
      x[i, 2 * y : 2 * y + 8, 4:24] = 255
    return x, labels.astype(np.int64)

  (x_train, y_train), (x_test, y_test) = images(260), images(100)
  np.savez(folder / "mnist.npz", x_train=x_train, y_train=y_train,
           x_test=x_test, y_test=y_test)
  return str(folder)
