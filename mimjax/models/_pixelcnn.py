"""Masked PixelCNN decoder p(x | z1, z2) of PixelHVAE (L=2).

The decoder of the two-level PixelHVAE (Tomczak & Welling, VampPrior, 2018;
MIM thesis): each latent is mapped by a GatedDense layer to an image-shaped
map, the maps are concatenated with the image on the channel axis and a stack
of masked convolutions (one type 'A', then type 'B') produces per-pixel
Bernoulli logits that depend only on pixels strictly before in raster order.

Layouts are NHWC. The caller wraps the logits into a Bernoulli; `sample`
draws from the autoregressive model pixel by pixel inside one
`jax.lax.fori_loop`.
"""

from typing import Callable, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mimjax.models import _conv
from mimjax.models import _gated


def causal_mask(kernel_size: int, mask_type: str) -> np.ndarray:
  """The PixelCNN kernel mask, shared by all input and output channels.

  For a `k x k` kernel with centre `(c, c)`, zeroes the centre row from
  column `c` (type 'A', excludes the current pixel) or `c + 1` (type 'B') on,
  and every row below the centre.

  Args:
    kernel_size: odd kernel side `k`.
    mask_type: "A" or "B".

  Returns:
    float32 array `[k, k]` of zeros and ones.
  """
  if mask_type not in ("A", "B"):
    raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
  if kernel_size % 2 != 1:
    raise ValueError(f"kernel_size must be odd, got {kernel_size}")
  c = kernel_size // 2
  mask = np.ones((kernel_size, kernel_size), np.float32)
  mask[c, c + (mask_type == "B"):] = 0.0
  mask[c + 1:, :] = 0.0
  return mask


class MaskedConv2d(nn.Module):
  """A stride-1 SAME-padded conv whose kernel is multiplied by a causal mask.

  Attributes:
    features: output channels.
    mask_type: "A" (first layer, excludes the centre pixel) or "B".
    kernel_size: odd kernel side.
    use_bias: whether to add a bias.
  """

  features: int
  mask_type: str
  kernel_size: int = 3
  use_bias: bool = False

  @nn.compact
  def __call__(self, x):
    """Applies the masked convolution.

    Args:
      x: `[B, H, W, C_in]`.

    Returns:
      `[B, H, W, features]`.
    """
    k = self.kernel_size
    kernel = self.param("kernel", _gated.torch_uniform,
                        (k, k, x.shape[-1], self.features))
    mask = jnp.asarray(causal_mask(k, self.mask_type))[:, :, None, None]
    y = _conv.conv2d(x, (kernel * mask).astype(x.dtype), 1, k // 2)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,))
    return y


class PixelCNNDecoder(nn.Module):
  """PixelHVAE (L=2) decoder: per-pixel Bernoulli logits of p(x | z1, z2).

  z1 and z2 each go through GatedDense(d_z -> H*W*C) reshaped to
  `[B, H, W, C]`; `[x, z1map, z2map]` (3C channels) feeds `num_layers`
  masked 3x3 convs (type 'A' then 'B', no bias) each followed by BatchNorm
  and ReLU, and a 1x1 conv (with bias) to C logits per pixel. The logit at a
  pixel depends on x, z1map and z2map only at raster-earlier pixels.

  BatchNorm follows PyTorch's momentum 0.1 (flax momentum 0.9, eps 1e-5):
  `train=True` normalises with batch statistics and updates `batch_stats`
  (pass `mutable=["batch_stats"]`); `train=False` uses the running averages.

  Attributes:
    image_shape: `(H, W, C)` of the binary images.
    num_layers: number of masked conv layers (1 type 'A' + the rest 'B').
    channels: hidden channels of the masked convs.
    kernel_size: masked conv kernel side.
  """

  image_shape: Sequence[int] = (28, 28, 1)
  num_layers: int = 8
  channels: int = 64
  kernel_size: int = 3

  def setup(self):
    size = int(np.prod(self.image_shape))
    self.z1_map = _gated.GatedDense(size)
    self.z2_map = _gated.GatedDense(size)
    self.convs = [
        MaskedConv2d(self.channels, "A" if i == 0 else "B",
                     kernel_size=self.kernel_size, name=f"masked_conv_{i}")
        for i in range(self.num_layers)
    ]
    self.norms = [
        nn.BatchNorm(momentum=0.9, epsilon=1e-5, name=f"bn_{i}")
        for i in range(self.num_layers)
    ]
    self.out_conv = _conv.Conv(self.image_shape[-1], 1,
                               kernel_init=_gated.torch_uniform,
                               name="out_conv")

  def __call__(self, x, z1, z2, *, train: bool):
    """Per-pixel Bernoulli logits.

    Args:
      x: `[B, H, W, C]` binary images (any float values are accepted).
      z1: `[B, d_z1]` first-level latents.
      z2: `[B, d_z2]` second-level latents.
      train: batch statistics (True) or running averages (False) in BN.

    Returns:
      logits `[B, H, W, C]`.
    """
    shape = (x.shape[0], *self.image_shape)
    z1map = jnp.reshape(self.z1_map(z1), shape)
    z2map = jnp.reshape(self.z2_map(z2), shape)
    h = jnp.concatenate([x.astype(z1map.dtype), z1map, z2map], axis=-1)
    return self.pixelcnn(h, train=train)

  def pixelcnn(self, h, *, train: bool):
    """The masked stack on the concatenated input `[x, z1map, z2map]`.

    Args:
      h: `[B, H, W, 3C]`.
      train: as in `__call__`.

    Returns:
      logits `[B, H, W, C]`.
    """
    for conv, norm in zip(self.convs, self.norms):
      h = nn.relu(norm(conv(h), use_running_average=not train))
    return self.out_conv(h)


def eval_apply(decoder: PixelCNNDecoder, variables) -> Callable:
  """The eval-mode closure `(x, z1, z2) -> logits` that `sample` expects.

  Args:
    decoder: the module.
    variables: `{"params": ..., "batch_stats": ...}`.

  Returns:
    A function of `(x [B,H,W,C], z1 [B,d], z2 [B,d])` returning logits.
  """
  return lambda x, z1, z2: decoder.apply(variables, x, z1, z2, train=False)


def sample(
    decoder_apply: Callable,
    z1: jax.Array,
    z2: jax.Array,
    key: jax.Array,
    image_shape: Tuple[int, int, int] = (28, 28, 1),
) -> Tuple[jax.Array, jax.Array]:
  """Ancestral sampling x ~ p(x | z1, z2) in raster order.

  A pure function: one `jax.lax.fori_loop` of H*W steps; step t runs the full
  network on the current canvas, reads the logits at pixel
  `(t // W, t % W)`, draws its C Bernoulli values and writes them into the
  canvas. Jit it together with its caller, e.g.
  `jax.jit(lambda k: sample(eval_apply(dec, v), z1, z2, k))`.

  Args:
    decoder_apply: `(x [B,H,W,C], z1, z2) -> logits [B,H,W,C]`, eval mode
      (running-average BatchNorm) and causal in raster order.
    z1: `[B, d_z1]`.
    z2: `[B, d_z2]`.
    key: PRNG key.
    image_shape: `(H, W, C)`.

  Returns:
    (samples `[B,H,W,C]` of 0./1., probabilities `[B,H,W,C]`), the latter
    from one more pass on the finished canvas: by causality each pixel's
    probability is the one it was drawn with.
  """
  height, width, ch = image_shape
  batch = z1.shape[0]
  canvas = jnp.zeros((batch, height, width, ch), jnp.float32)

  def step(t, canvas):
    i, j = t // width, t % width
    logits = decoder_apply(canvas, z1, z2)
    logit = jax.lax.dynamic_slice(logits, (0, i, j, 0), (batch, 1, 1, ch))
    u = jax.random.uniform(jax.random.fold_in(key, t), logit.shape)
    pixel = (u < jax.nn.sigmoid(logit)).astype(canvas.dtype)
    return jax.lax.dynamic_update_slice(canvas, pixel, (0, i, j, 0))

  canvas = jax.lax.fori_loop(0, height * width, step, canvas)
  probs = jax.nn.sigmoid(decoder_apply(canvas, z1, z2))
  return canvas, probs
