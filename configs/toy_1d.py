"""1-D x and z with GMM priors and conditionals: L_MIM vs L_CE (App. B.1).

  python -m experiments.toy_mim --config=configs/toy_1d.py

All of q(x), q(z|x), p(z), p(x|z) are 10-component GMMs (conditionals
regressed by a 10-unit swish MLP); the anchors are 3-component GMMs. Expected
(Fig. B.1): both losses reconstruct well; only MIM learns a consistent model
(low consistency_gap), while CE fits the priors to the anchors more closely.

Arguments (comma-separated, with "quick"):
  gaussian_priors  p(z) and q(x) are single learned Gaussians (App. B.2);
  pretrain         B.3: "ce>mim" (CE, then MIM from CE's models) and
                   "mim>ce" besides plain MIM and CE.
"""

from configs import toy_common


def get_config(arg=""):
  config = toy_common.base()
  config.sweep = dict(losses=("mim", "ce"), hidden=(10,), latent_dim=(1,))
  config.data.dim = 1
  config.data.means = ((-2.0,), (0.0,), (1.5,))
  config.data.std = 0.4
  config.latent_anchor.kind = "gmm"
  config.latent_anchor.means = ((-1.5,), (1.0,))
  config.latent_anchor.std = 0.5
  config.model.activation = "swish"
  config.model.conditional = "gmm"
  config.model.decoder_head = "gmm"
  config.model.prior = "gmm"
  config.model.data_prior = "gmm"
  config.model.min_scale = 1e-3
  config.train.max_epochs = 100
  config.train.patience = 10
  config.plots.kinds = ["densities_1d", "curves"]
  tokens = (arg or "").split(",")
  if "gaussian_priors" in tokens:
    config.model.prior_components = 1
  if "pretrain" in tokens:
    config.sweep.losses = ("mim", "ce", "ce>mim", "mim>ce")
  return toy_common.apply_arg(config, arg, known=("gaussian_priors", "pretrain"))
