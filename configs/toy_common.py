"""Shared recipe of the low-dimensional experiments (thesis ch. 4-5, App. B).

Each config file in this folder starts from `base()` and states only what
its figure changes. Every config takes an optional argument:
  ""       the thesis setup (10 seeds, up to 200 epochs);
  "quick"  a smoke run (2 seeds, few short epochs; 1-2 min on 2 CPU cores);
some configs take more (comma-separated), listed in their docstrings.
"""

import ml_collections


def base():
  """The thesis's toy setup (Sec. 4.2, 5.3.1) as a ConfigDict."""
  config = ml_collections.ConfigDict()
  # Base seed; seed index i of a sweep point is derived from it.
  config.seed = 0
  # Seeds trained together in one compiled program (vmapped).
  config.num_seeds = 10
  # Grid of runs: every (loss, hidden, latent_dim) is trained num_seeds times.
  config.sweep = ml_collections.ConfigDict(
      dict(losses=("mim", "vae"), hidden=(5, 20, 500), latent_dim=(2,))
  )
  # Sweep points trained at once, on threads (same results; one toy program
  # keeps ~1.4 of 2 cores busy). Multi-process runs train one at a time.
  config.sweep_workers = 2
  # Anchor P(x): fresh samples of a 5-component GMM (std 0.25) every batch.
  config.data = ml_collections.ConfigDict(
      dict(
          name="gmm",
          dim=2,
          num_components=5,
          std=0.25,
          means=(),  # () = the layout of mimjax.data.gmm_means
          samples_per_epoch=10000,
          num_eval=10000,  # validation, test and k-NN fitting sets
          seed=0,  # seed of the fixed validation/test sets
          # Factor on the authors' +-50 offsets of coordinates 3..d (1 = their
          # layout; 0.1 = the "scaled" variant of Fig. 4.1, BUILD_NOTES).
          offset_scale=1.0,
          dataset="mnist",  # for name="pca"
          dir="",
          num_validation=10000,
          components=20,
      )
  )
  # Anchor P(z) for decoder samples: N(0, I), or a 1-D GMM (App. B).
  config.latent_anchor = ml_collections.ConfigDict(
      dict(kind="standard_normal", means=(), std=1.0)
  )
  # Keyword arguments of mimjax.models.mlp_model (besides x/latent dims and
  # hidden, which come from data and sweep).
  config.model = ml_collections.ConfigDict(
      dict(
          num_hidden_layers=1,
          activation="tanh",
          min_scale=1e-6,
          # The decoder's std floor instead, if > 0 (0: min_scale).
          decoder_min_scale=0.0,
          conditional="gaussian",
          decoder_head="gaussian",
          num_components=10,
          prior_components=0,  # 0: same as num_components
          prior="standard_normal",
          data_prior="marginal",
          vamp_pseudo_inputs=50,
          # MLP initialisation: "torch" = U(+-1/sqrt(fan_in)) weights and
          # biases, the authors' PyTorch default, which their numbers come
          # from (Fig. 4.1: MIM 5-NN 0.72 vs 0.42 with flax's LeCun normal at
          # latent 2, BUILD_NOTES); "flax" = LeCun normal, zero biases.
          init="torch",
      )
  )
  config.train = ml_collections.ConfigDict(
      dict(
          batch_size=128,
          max_epochs=200,
          # beta = min(1, epoch / beta_warmup_epochs) (ch. 4 warm-up).
          beta_warmup_epochs=3,
          # Early stopping (training.StoppingRule): stop a seed after
          # `patience` epochs whose validation loss does not beat the last
          # progress by a relative `min_delta`, never before `min_epochs`.
          # Set from long runs (BUILD_NOTES, "Early stopping"): MIM's
          # validation loss has plateaus of up to 25 epochs; the authors'
          # patience 3 stopped MIM 20-35 nats above its later loss.
          patience=30,
          min_delta=1e-3,
          min_epochs=0,
          # A toy epoch takes 0.1-1.5 s and a checkpoint ~60 ms, so saving
          # every epoch cost ~10 % of the Fig. 5.2 sweep. Resume replays the
          # epochs since the last save bit for bit (the last epoch, a stop
          # and a time budget always save).
          checkpoint_every=10,
          log_every=10,
          eval_batch_size=1000,
          # Validation noise drawn anew every epoch (the authors' script)
          # instead of fixed keys; for studying their early stopping.
          fresh_validation_noise=False,
      )
  )
  # Adam 1e-3 with the Noam warm-up of 3 epochs (Sec. 4.2).
  config.optim = ml_collections.ConfigDict(
      dict(name="adam", learning_rate=1e-3, schedule="noam", warmup_epochs=3)
  )
  # Validation loss of early stopping and model selection: "loss" (the
  # training loss) or "encoder_half" (a symmetric loss's encoder half
  # alone, `objectives.make_loss_fn(encoder_half_only=True)`; the same for
  # the VAE, which has no decoder half). The encoder half is 3-8x less noisy
  # for MIM but is not a proxy of its loss: on PCA-20 it rises after epoch
  # ~5 while the MIM loss falls (BUILD_NOTES, "Fig. 4.2 to early stopping").
  config.validation = "loss"
  # Posterior-collapse monitor (training.CollapseRule), on the first
  # validation chunk after every epoch: the alarm fires after `checks`
  # consecutive checks with posterior std / prior std >= max_std_ratio and
  # a KL rate <= max_kl nats ("posterior" collapse) or, otherwise, a pooled
  # noise share (posterior variance over aggregate variance, summed over the
  # units) >= max_noise_share ("scale" collapse).
  config.monitor = ml_collections.ConfigDict(
      dict(max_std_ratio=0.25, max_kl=3.0, max_noise_share=0.5, checks=3)
  )
  config.eval = ml_collections.ConfigDict(
      dict(nll_samples=100, nll_chunk=50, nll_batch=2000, ksg_k=5)
  )
  # Plots: "fig51" (reconstructions and posteriors, 2-D only), "sweep"
  # (metrics vs sweep_x), "densities_1d" (App. B), "curves" (val loss).
  config.plots = ml_collections.ConfigDict(
      dict(kinds=["sweep", "curves"], sweep_x="hidden")
  )
  return config


def apply_arg(config, arg, known=()):
  """Applies "quick" from a comma-separated argument; others must be known."""
  tokens = [t for t in (arg or "").split(",") if t]
  unknown = [t for t in tokens if t != "quick" and t not in known]
  if unknown:
    raise ValueError(
        f"unknown config argument {unknown[0]!r}; use any of "
        f"{['quick', *known]} (comma-separated)"
    )
  if "quick" not in tokens:
    return config
  config.num_seeds = 2
  config.train.max_epochs = 4
  config.train.log_every = 1
  config.data.samples_per_epoch = 2560
  config.data.num_eval = 1000
  config.eval.nll_samples = 50
  config.eval.nll_chunk = 50
  return config


def latent_sweep(config, arg, known=()):
  """The latent-dimension sweep of Fig. 4.1 / 4.2 with its budget args.

  "small": 5 seeds and latent 2, 6, 10, 14, 20 (a CPU budget); "quick":
  latent 2 and 8 (with the shrinking of `apply_arg`); "authors_stopping":
  the stopping rule of the authors' script (reference digest Sec. 3.1:
  stop once 4 epochs have passed without a new best, no best before the
  warm-up's end), on our validation split where they used the test split;
  `known`: the caller's own arguments (applied by the caller).
  """
  config.sweep.hidden = (50,)
  config.sweep.latent_dim = (2, 4, 6, 8, 10, 12, 14, 16, 18, 20)
  config.plots.sweep_x = "latent_dim"
  tokens = (arg or "").split(",")
  if "small" in tokens:
    config.num_seeds = 5
    config.sweep.latent_dim = (2, 6, 10, 14, 20)
  if "quick" in tokens:
    config.sweep.latent_dim = (2, 8)
  if "authors_stopping" in tokens:
    config.train.update(
        patience=4, min_delta=0.0,
        min_epochs=config.train.beta_warmup_epochs,
    )
  return apply_arg(
      config, arg, known=("small", "authors_stopping", *known)
  )
