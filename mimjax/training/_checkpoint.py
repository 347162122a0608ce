"""Orbax checkpoints of the `TrainState`, with clear errors on bad files."""

import os
import threading

import jax
import orbax.checkpoint as ocp

from mimjax._errors import CheckpointError

# Orbax's save path is not safe from two threads at once (orbax 0.12: two
# toy sweep points training on threads deadlocked in its commit signalling,
# and concurrent managers fail with FileExistsError on their temporary
# folders, even in different directories). The saves of one process take
# turns, and each finishes before the next starts.
_SAVE_LOCK = threading.Lock()


class _MissingArrays(ValueError):
  """A checkpoint without some of the requested parameter arrays."""


class Checkpointer:
  """Periodic checkpoints (every `save_every` epochs, plus forced ones).

  The best parameters by validation loss live inside the state
  (`best_params`, per seed), so the latest checkpoint holds both.
  Writes are atomic (Orbax writes to a temporary folder and renames), so a
  run killed mid-save resumes from the previous checkpoint.
  """

  def __init__(self, directory, *, save_every=1, max_to_keep=2):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, save_interval_steps=save_every, create=True
        ),
    )

  def save(self, epoch, state, *, force=False):
    """Saves `state` as `epoch` (if due, or `force`) and waits until it is
    on disk; thread-safe (see `_SAVE_LOCK`)."""
    with _SAVE_LOCK:
      self._manager.save(epoch, args=ocp.args.StandardSave(state), force=force)
      self._manager.wait_until_finished()

  def latest_epoch(self):
    return self._manager.latest_step()

  def restore_latest(self, like_state):
    """Restores the newest checkpoint shaped and sharded like `like_state`.

    Returns:
      The restored state, or None when the directory holds no checkpoint.

    Raises:
      CheckpointError: naming the folder, when it cannot be read (corrupt,
        truncated, or written by a different model/config).
    """
    epoch = self._manager.latest_step()
    if epoch is None:
      return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
    try:
      return self._manager.restore(
          epoch, args=ocp.args.StandardRestore(abstract)
      )
    except Exception as e:  # orbax raises many types for unreadable data
      folder = os.path.join(self.directory, str(epoch))
      try:
        self._read_parameters(epoch, like_state)
      except _MissingArrays as missing:  # another parameter layout
        e = missing
      except Exception:  # the parameters are unreadable too
        pass
      else:
        raise CheckpointError(
            f"checkpoint {folder} holds this model's parameters but an "
            "optimiser state of another layout (written by an earlier mimjax, "
            "whose optimiser also covered non-trainable collections, or with "
            "another optimiser): training cannot resume from it. Nothing was "
            "deleted: use a new --workdir or --overwrite (its parameters stay "
            "readable with Checkpointer.restore_parameters)."
        ) from e
      raise CheckpointError(
          f"checkpoint {folder} cannot be "
          f"restored ({type(e).__name__}: {e}). It is corrupt or from a "
          "different model/config. Nothing was deleted: move that folder "
          "aside to resume from an earlier checkpoint, or use a new --workdir."
      ) from e

  def restore_parameters(self, like_state):
    """The parameters of the newest checkpoint, whatever optimiser state it
    holds (e.g. one written before a change of the optimiser's layout): for
    evaluating or measuring a finished run.

    Args:
      like_state: a `TrainState` with the run's shapes (e.g. `init_state`).

    Returns:
      Dict with "params", "best_params" and "best_epoch" (the fields
      `selected_params` reads; `like_state.replace(**result)` is a state to
      evaluate, not to resume), or None when the directory holds no
      checkpoint.

    Raises:
      CheckpointError: naming the folder, when they cannot be read.
    """
    epoch = self._manager.latest_step()
    if epoch is None:
      return None
    try:
      return self._read_parameters(epoch, like_state)
    except Exception as e:  # orbax raises many types for unreadable data
      raise CheckpointError(
          f"parameters of checkpoint {os.path.join(self.directory, str(epoch))}"
          f" cannot be restored ({type(e).__name__}: {e})"
      ) from e

  def _read_parameters(self, epoch, like_state):
    item = {
        name: jax.tree.map(
            ocp.utils.to_shape_dtype_struct, getattr(like_state, name)
        )
        for name in ("params", "best_params", "best_epoch")
    }
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    # A reader of its own: this manager's item handler is fixed to the
    # full-state (StandardRestore) layout once it has saved or restored.
    reader = ocp.CheckpointManager(self.directory)
    try:
      restored = reader.restore(epoch, args=ocp.args.PyTreeRestore(
          item=item,
          restore_args=jax.tree.map(
              lambda _: ocp.ArrayRestoreArgs(sharding=device), item
          ),
          partial_restore=True,
      ))
    finally:
      reader.close()
    # A partial restore hands back the placeholder of an array the
    # checkpoint does not hold, instead of failing.
    missing = [
        jax.tree_util.keystr(path)
        for path, leaf in jax.tree_util.tree_leaves_with_path(restored)
        if isinstance(leaf, jax.ShapeDtypeStruct)
    ]
    if missing:
      raise _MissingArrays(
          f"it lacks {len(missing)} of this model's arrays, e.g. "
          f"{missing[0]}: it was written for another parameter layout"
      )
    return restored

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()
