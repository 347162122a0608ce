"""The 1-D `data` mesh: parameters replicated, batch axes sharded."""

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


def make_mesh(num_devices=None):
  """A 1-D mesh named "data" over the first `num_devices` (default: all)."""
  devices = jax.devices()
  n = len(devices) if num_devices is None else num_devices
  if not 0 < n <= len(devices):
    raise ValueError(f"asked for {n} devices, {len(devices)} available")
  return jax.sharding.Mesh(np.asarray(devices[:n]), ("data",))


def replicated(mesh):
  return NamedSharding(mesh, P())


def data_sharding(mesh, batch_axis=0):
  """Sharding that splits axis `batch_axis` over the mesh."""
  return NamedSharding(mesh, P(*([None] * batch_axis), "data"))


def check_divisible(batch_size, mesh, what="batch size"):
  n = mesh.devices.size
  if batch_size % n:
    raise ValueError(
        f"{what} {batch_size} is not divisible by the {n} devices of the data "
        f"mesh; use a multiple of {n}"
    )


def put_global(array, sharding):
  """Places a host array (identical on every process) with `sharding`.

  Works on one host and across hosts: each process fills its addressable
  shards from its own copy.
  """
  array = np.asarray(array)
  return jax.make_array_from_callback(
      array.shape, sharding, lambda index: array[index]
  )
