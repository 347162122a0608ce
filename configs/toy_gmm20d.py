"""20-D GMM data, latent dimension 2..20, 50 hidden units (Fig. 4.1).

  python -m experiments.toy_mim --config=configs/toy_gmm20d.py

Expected: MIM keeps higher MI and k-NN accuracy and lower reconstruction
error as the latent dimension grows; the VAE collapses more; VAE has the
better NLL.

Arguments: "small" (5 seeds, latent 2, 6, 10, 14, 20), "quick".
"""

from configs import toy_common


def get_config(arg=""):
  config = toy_common.base()
  config.data.dim = 20
  return toy_common.latent_sweep(config, arg)
