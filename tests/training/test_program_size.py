"""The compiled epoch program: the training arrays are its arguments, not
constants (its lowered program is the same size at 1k and at 50k
MNIST-shaped images; before: 2 MB at 1k, 79 MB at 50k, the dataset inlined
as a constant), and it maps the state to the same types, so that one
compiled program serves every epoch."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from mimjax import data
from mimjax import training


class _Pixels(nn.Module):
  @nn.compact
  def __call__(self, x):
    w = self.param("w", nn.initializers.zeros, x.shape[1:])
    return jnp.sum(x * w, axis=(1, 2, 3))


def _loss(params, batch, key, beta=1.0):
  del key, beta
  loss = jnp.mean(jnp.square(_Pixels().apply(params, batch["x"]) - 1.0))
  return loss, {"loss": loss}


def _monitor(params, x, key):
  """A stand-in for `evaluation.make_monitor_fn`: the statistics the
  collapse rule reads, as a collapsed posterior would give them."""
  del params, key
  one = jnp.ones((), jnp.float32) + 0.0 * jnp.sum(x)
  return dict(std_ratio=one, kl=0.0 * one, pooled_noise_share=one)


def _epoch(num_images, **monitor):
  rng = np.random.default_rng(0)
  gray = rng.integers(0, 256, (num_images, 28, 28, 1), dtype=np.uint8)
  bits = (gray[:20] > 127).astype(np.float32)
  labels = np.zeros(num_images, np.int64)
  source = data.ImageSource(
      x_train=gray, y_train=labels, x_val=bits, y_val=labels[:20],
      x_test=bits, y_test=labels[:20], batch_size=10, epoch_steps=5,
  )
  optimizer = optax.sgd(0.1)
  state = training.init_state(
      _Pixels(), optimizer, jnp.zeros((10, 28, 28, 1)), seed=0, num_seeds=1
  )
  epoch_fn = training.make_epoch_fn(
      loss_fn=_loss, optimizer=optimizer, source=source,
      mesh=training.make_mesh(1), seed=0, num_seeds=1,
      beta_warmup_epochs=1,
      stopping_rule=training.StoppingRule(patience=10), **monitor,
  )
  validation_x = jnp.asarray(bits.reshape(2, 10, 28, 28, 1))
  return epoch_fn, (state, source.device_data, validation_x)


def _lowered_text(num_images):
  epoch_fn, args = _epoch(num_images)
  return epoch_fn.lower(*args).as_text()


def test_lowered_epoch_does_not_grow_with_the_dataset():
  small, large = _lowered_text(1000), _lowered_text(50000)
  assert abs(len(large) - len(small)) < 4096, (len(small), len(large))
  assert len(large) < 200_000  # the 39 MB of uint8 images are not in it
  assert "50000x28x28x1xui8" in large  # they are an argument


def _types(tree):
  return jax.tree.map(lambda a: (a.shape, a.dtype, a.weak_type), tree)


def test_epoch_returns_the_state_types_it_takes():
  """Shapes, dtypes and weak types of the new state equal the old state's,
  with the collapse monitor on (its alarm codes were once weak-typed ints,
  so every run compiled its epoch program twice)."""
  epoch_fn, args = _epoch(
      100, monitor_fn=_monitor, collapse_rule=training.CollapseRule()
  )
  new_state, _ = jax.eval_shape(epoch_fn, *args)
  assert _types(new_state) == _types(jax.eval_shape(lambda s: s, args[0]))
