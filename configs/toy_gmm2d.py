"""Posterior collapse in 2-D: MIM vs VAE, hidden 5/20/500 (Fig. 5.1, 5.2).

  python -m experiments.toy_mim --config=configs/toy_gmm2d.py

Expected (thesis Fig. 5.2; the authors' code gives at >= 20 hidden units MIM
KSG MI ~6.8 and 5-NN ~0.95, VAE ~1.4 and ~0.74): MIM has higher MI and 5-NN
accuracy, far lower reconstruction error and posterior std, worse NLL; the
collapse monitor alarms on the VAE and not on MIM at >= 20 units. The MLPs
use the authors' PyTorch initialisation (`model.init="torch"`), with which
the VAE matches their numbers (BUILD_NOTES, Fig. 5.2).
"""

from configs import toy_common


def get_config(arg=""):
  config = toy_common.base()
  config.plots.kinds = ["fig51", "sweep", "curves"]
  if arg == "quick":
    config.sweep.hidden = (5, 50)
  return toy_common.apply_arg(config, arg)
