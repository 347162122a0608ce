"""Entropy as MI regulariser: VAE + H(M_S^q) vs MIM - H(M_S) (Fig. 5.3, 5.4).

  python -m experiments.toy_mim --config=configs/toy_gmm2d_entropy.py

Expected: VAE + H gains MI (no collapse); MIM - H collapses (5-NN near
chance 0.2, MI near 0).
"""

from configs import toy_common


def get_config(arg=""):
  config = toy_common.base()
  config.sweep.losses = ("mim_h", "vae_h")
  config.plots.kinds = ["fig51", "sweep", "curves"]
  if arg == "quick":
    config.sweep.hidden = (5, 50)
  return toy_common.apply_arg(config, arg)
