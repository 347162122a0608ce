"""A checkpoint written for another parameter layout is refused by name.

Orbax's partial restore hands back placeholders for arrays a checkpoint
does not hold; `Checkpointer` must not pass them on as parameters."""

import flax
import jax.numpy as jnp
import pytest

import mimjax
from mimjax import training


@flax.struct.dataclass
class _State:
  params: dict
  best_params: dict
  best_epoch: jnp.ndarray
  opt: dict


def _state(names):
  params = {name: jnp.ones((2, 3)) for name in names}
  return _State(params, params, jnp.zeros(()), {"m": jnp.zeros(3)})


def test_missing_parameter_arrays_are_named(tmp_path):
  old = training.Checkpointer(str(tmp_path), save_every=1)
  old.save(1, _state(["encoder"]), force=True)
  old.close()
  new = training.Checkpointer(str(tmp_path), save_every=1)
  like = _state(["encoder", "encoder_features"])
  with pytest.raises(mimjax.CheckpointError,
                     match="another parameter layout") as info:
    new.restore_latest(like)
  assert "encoder_features" in str(info.value)
  with pytest.raises(mimjax.CheckpointError, match="encoder_features"):
    new.restore_parameters(like)
  # The same layout still restores.
  same = new.restore_parameters(_state(["encoder"]))
  assert float(same["params"]["encoder"].sum()) == 6.0
