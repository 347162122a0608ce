"""`training.Checkpointer` from several threads at once (the toy sweep trains
two points on threads): without the save lock, orbax 0.12 raised
FileExistsError on its temporary folders or deadlocked in its commit
signalling."""

import os
import threading

import jax.numpy as jnp
import numpy as np

from mimjax import training


def _save_many(directory, value, errors):
  try:
    checkpointer = training.Checkpointer(directory, save_every=1)
    state = {"w": jnp.full((64, 64), float(value)), "b": jnp.zeros(3)}
    for epoch in range(1, 31):
      checkpointer.save(epoch, state, force=True)
    restored = checkpointer.restore_latest(state)
    np.testing.assert_array_equal(restored["w"], state["w"])
    assert checkpointer.latest_epoch() == 30
  except Exception as e:  # reported to the test thread below
    errors.append(e)


def test_two_threads_save_their_own_checkpoints(tmp_path):
  errors = []
  threads = [
      threading.Thread(
          target=_save_many, args=(os.path.join(tmp_path, str(i)), i, errors),
          daemon=True,
      )
      for i in range(2)
  ]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=120)
  assert not any(t.is_alive() for t in threads), "checkpoint saves hung"
  assert not errors, errors
