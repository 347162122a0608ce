r"""PixelHVAE (L = 2), p(z2) = N(0, I), binarised mnist (Tables 4.1, 5.1).

  python -m experiments.image_mim --config=configs/mnist_pixel_s.py[:small|quick][,vae]

A-MIM by default; append ",vae" for the VAE baseline. Arguments: see
configs/image_common.py.
"""

from configs import image_common


def get_config(arg=""):
  return image_common.base(
      "mnist", "standard_normal", kind="pixel_hvae", loss="amim", arg=arg
  )
