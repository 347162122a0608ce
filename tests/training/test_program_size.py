"""The training arrays are arguments of the compiled epoch, not constants:
its lowered program is the same size at 1k and at 50k MNIST-shaped images
(before: 2 MB at 1k, 79 MB at 50k, the dataset inlined as a constant)."""

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


def _lowered_text(num_images):
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
      beta_warmup_epochs=1, patience=10,
  )
  validation_x = jnp.asarray(bits.reshape(2, 10, 28, 28, 1))
  lowered = epoch_fn.lower(state, source.device_data, validation_x)
  return lowered.as_text()


def test_lowered_epoch_does_not_grow_with_the_dataset():
  small, large = _lowered_text(1000), _lowered_text(50000)
  assert abs(len(large) - len(small)) < 4096, (len(small), len(large))
  assert len(large) < 200_000  # the 39 MB of uint8 images are not in it
  assert "50000x28x28x1xui8" in large  # they are an argument
