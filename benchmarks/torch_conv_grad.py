"""PyTorch's CPU convolution on the layers `benchmarks.conv_grad` times.

The yardstick for what is left inside XLA's convolution kernel itself
(issue 15): the same decoder layer (3x3, 64 -> 128 channels, batch 100,
28 x 28) timed as `benchmarks.conv_grad` times XLA's, i.e. forward, weight
gradient, and forward + both gradients of sum(conv(x, w)^2), best of
`--repeats`, then the convHVAE's edge layers (forward + both gradients),
then the decoder's whole gated layer as the authors write it, two 64 -> 64
convolutions h and g and h * sigmoid(g): forward, and backward of a fixed
cotangent in the weights, in x, and in both (each with its forward).
NCHW float32 as the authors' code runs it (PyTorch's oneDNN kernels),
`torch.set_num_threads(--threads)`. PyTorch is not a mimjax dependency:

  pip install torch   # CPU build, in its own venv
  python -m benchmarks.torch_conv_grad
"""

from absl import app
from absl import flags

from benchmarks import _conv_layers
from benchmarks import _timing

_THREADS = flags.DEFINE_integer("threads", 2, "torch.set_num_threads.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timings (best is kept).")


def _tensors(torch, x_shape, w_shape):
  """NCHW input and OIHW weight for NHWC `x_shape`, HWIO `w_shape`."""
  n, h, w, c = x_shape
  k1, k2, ci, co = w_shape
  gen = torch.Generator().manual_seed(0)
  x = torch.randn(n, c, h, w, generator=gen)
  weight = 0.05 * torch.randn(co, ci, k1, k2, generator=gen)
  return x, weight


def main(argv):
  del argv
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top

  torch.set_num_threads(_THREADS.value)
  print(f"PyTorch {torch.__version__}, {_THREADS.value} threads")
  x, w = _tensors(torch, (100, 28, 28, 64), (3, 3, 64, 128))
  flop = 2 * 100 * 28 * 28 * 9 * 64 * 128

  def forward():
    with torch.no_grad():
      F.conv2d(x, w, padding=1)

  def gradients(x_grad):
    xs = x.detach().requires_grad_(x_grad)
    ws = w.detach().requires_grad_(True)
    (F.conv2d(xs, ws, padding=1) ** 2).sum().backward()

  fwd = _timing.best_seconds(forward, _REPEATS.value)
  dw = _timing.best_seconds(lambda: gradients(False), _REPEATS.value)
  both = _timing.best_seconds(lambda: gradients(True), _REPEATS.value)
  print(f"PyTorch conv: forward {fwd:.3f} s ({flop / fwd / 1e9:.0f} GFLOP/s), "
        f"weight grad {dw:.3f} s, forward + both grads {both:.3f} s")
  for name, x_shape, w_shape, stride, padding in _conv_layers.EDGE_LAYERS:
    x, w = _tensors(torch, x_shape, w_shape)

    def step(x=x, w=w, stride=stride, padding=padding):
      xs = x.detach().requires_grad_(True)
      ws = w.detach().requires_grad_(True)
      (F.conv2d(xs, ws, stride=stride, padding=padding) ** 2).sum().backward()

    seconds = _timing.best_seconds(step, _REPEATS.value)
    print(f"{name}: forward + both grads {seconds * 1e3:.1f} ms")
  x, w = _tensors(torch, (100, 28, 28, 64), (3, 3, 64, 128))
  w_h, w_g = w[:64].contiguous(), w[64:].contiguous()
  dy = torch.randn(100, 64, 28, 28, generator=torch.Generator().manual_seed(1))

  def gated(x_grad, w_grad):
    xs = x.detach().requires_grad_(x_grad)
    hs, gs = (v.detach().requires_grad_(w_grad) for v in (w_h, w_g))
    with torch.set_grad_enabled(x_grad or w_grad):
      y = F.conv2d(xs, hs, padding=1) * torch.sigmoid(
          F.conv2d(xs, gs, padding=1))
    if y.requires_grad:
      y.backward(dy)

  parts = dict(forward=(False, False), weight=(False, True),
               input=(True, False), both=(True, True))
  times = {name: _timing.best_seconds(lambda a=a: gated(*a), _REPEATS.value)
           for name, a in parts.items()}
  print("gated decoder layer (3x3, 2 x 64 -> 64): " + ", ".join(
      f"{name} {seconds * 1e3:.1f} ms" for name, seconds in times.items()
  ) + " (weight / input / both include the forward)")


if __name__ == "__main__":
  app.run(main)
