"""The README's library examples run and train."""

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

_README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def test_readme_example_trains():
  with open(_README) as f:
    blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
  namespace = {}
  exec(blocks[0], namespace)  # pylint: disable=exec-used
  enc, dec, loss_fn = (namespace[k] for k in ("enc", "dec", "loss_fn"))
  x = jax.random.normal(jax.random.key(0), (256, 2)) * jnp.array([1.0, 0.3])
  params = {
      "enc": enc.init(jax.random.key(1), x),
      "dec": dec.init(jax.random.key(2), jnp.zeros((1, 2))),
  }
  opt = optax.adam(1e-2)
  opt_state = opt.init(params)

  @jax.jit
  def step(params, opt_state, key):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, key)
    updates, opt_state = opt.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  first = None
  for i in range(200):
    params, opt_state, loss = step(params, opt_state, jax.random.key(i))
    first = loss if first is None else first
  assert np.isfinite(loss) and loss < first - 0.5


@pytest.mark.slow  # end to end: trains the README example
def test_readme_engine_example_trains(tmp_path, monkeypatch):
  with open(_README) as f:
    blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
  # A shorter run of the same call, in a temporary folder.
  code = blocks[1].replace("max_epochs=20", "max_epochs=2")
  assert code != blocks[1]
  monkeypatch.chdir(tmp_path)
  namespace = {}
  exec(code, namespace)  # pylint: disable=exec-used
  state, best = namespace["state"], namespace["best"]
  assert int(state.epoch) == 2
  assert (tmp_path / "workdirs" / "my_mim" / "metrics.jsonl").exists()
  leaves = jax.tree.leaves(best)
  assert leaves and all(leaf.shape[0] == 3 for leaf in leaves)
  assert all(np.all(np.isfinite(leaf)) for leaf in leaves)
