r"""convHVAE (L = 2), p(z2) = VampPrior (K = 500), binarised mnist (Tables 4.1, 4.2).

  python -m experiments.image_mim --config=configs/mnist_vp.py[:small|quick][,vae|mim]

MIM by default; append ",vae" for the VAE baseline. Arguments: see
configs/image_common.py.
"""

from configs import image_common


def get_config(arg=""):
  return image_common.base("mnist", "vamp", loss="mim", arg=arg)
