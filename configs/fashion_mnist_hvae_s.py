r"""HVAE (L = 2, gated dense), p(z2) = N(0, I), binarised fashion_mnist.

  python -m experiments.image_mim --config=configs/fashion_mnist_hvae_s.py[:small|quick][,vae|amim]

The VampPrior paper's two-level MLP model (Tomczak & Welling's HVAE_2level)
on a laptop schedule (configs/image_common.py, LAPTOP): beta warm-up 10
epochs, early stopping patience 10, <= 200 epochs; IS-NLL with S = 5000 on
all test images. MIM by default; append ",vae" or ",amim". Arguments: see
configs/image_common.py. Results: BUILD_NOTES, "Image chapter: dense HVAE".
"""

from configs import image_common


def get_config(arg=""):
  return image_common.hvae("fashion_mnist", "standard_normal", loss="mim", arg=arg)
