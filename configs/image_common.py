"""Shared recipe of the image experiments (thesis Sec. 4.3-4.4, 5.3.3, App. C).

Each `configs/<dataset>_<prior>.py` calls `base(dataset, prior)` and states
only what it changes. Arguments (comma-separated, after the file name):
  ""       the thesis setup: batch 100, AdamNormGrad lr 5e-4, beta warm-up 100
           epochs, early stopping patience 50, <= 2000 epochs, IS-NLL S = 5000;
  "small"  a CPU budget (see `SMALL`): 100 steps of batch 100 (10k images,
           beta = 1 throughout), IS-NLL with S = 100 on 200 test images, k-NN
           fitted on 10k training codes;
  "quick"  a smoke run on a few hundred images (4-5 min on 2 CPU cores,
           mostly compilation);
The dense HVAE (`configs/<dataset>_hvae_<prior>.py`, `hvae`) defaults to a
laptop schedule (`LAPTOP`) instead of the thesis's.
  "vae" / "mim" / "amim"  the objective (default: the file's);
  "no_warmup"  beta = 1 from the start (Table 5.1's VAE without annealing);
  "mean_samples"  MIM decoder samples are the detached mean probabilities
           (the authors' code) instead of Bernoulli samples + REINFORCE;
  "learned_anchor"  P(z) = the learned prior p(z) (the authors' code)
           instead of N(0, I);
e.g. `python -m experiments.image_mim --config=configs/mnist_vp.py:small,vae`.
Local data: `--config.data.dir=/folder/with/mnist.npz` (or the IDX files,
or Omniglot's chardata.mat).
"""

import ml_collections

# The CPU budget of "small" (stated in BUILD_NOTES.md with its results).
SMALL = dict(epochs=1, epoch_steps=100, nll_samples=100, nll_examples=200,
             train_features=10000)
# The dense HVAE's default schedule (`hvae`), in epochs of the 50k training
# images.
LAPTOP = dict(warmup_epochs=10, patience=10, max_epochs=200)
_ARGS = ("small", "quick", "vae", "mim", "amim", "no_warmup", "mean_samples",
         "learned_anchor")


def base(dataset, prior, *, kind="conv_hvae", loss="mim", arg=""):
  """The thesis's image setup for `dataset`, model `kind`, p(z2) = `prior`."""
  config = ml_collections.ConfigDict()
  # Base seed (parameters, data order, binarisation and noise derive from it).
  config.seed = 0
  # One model per run (the engine vmaps seeds; images use one).
  config.num_seeds = 1
  # Objective: "mim" (symmetric, convHVAE), "amim" or "vae".
  config.loss = loss
  # Gradient estimator of MIM's decoder half for binary x
  # (objectives.make_loss_fn): "reinforce" (baseline 0), "batch_mean",
  # "rloo" (decoder_samples >= 2 per latent) or "mean" (the authors'
  # detached mean probabilities; biased). Chosen by gradient SNR and
  # training curves (BUILD_NOTES, "Decoder-half gradient estimators").
  config.decoder_estimator = "rloo"
  # Samples x ~ p(x|z) per decoder latent z.
  config.decoder_samples = 2
  # Importance samples of the Jensen log q(x) averaged into the REINFORCE
  # weight of the decoder half (objectives.make_loss_fn; forward only).
  config.decoder_weight_samples = 1
  # RLOO's baseline at each decoder sample's own importance noise
  # (objectives.make_loss_fn; needs decoder_estimator "rloo"): on the dense
  # HVAE at init 10.6x REINFORCE's decoder-gradient SNR against plain
  # RLOO's 6.3x, for ~8 % more step time (BUILD_NOTES, "Session 28").
  config.decoder_matched_baseline = True
  # The sampling anchor P(z) of MIM's decoder half: "standard_normal" (a
  # fixed N(0, I), as the thesis's anchors: "fixed and not learned", Sec.
  # 3.2), "learned" (the model's own p(z) with pathwise gradients: the
  # authors' image code, which shrinks a VampPrior's codes onto the std
  # floor) or "learned_stop_gradient" (detached samples of p(z)). Chosen by
  # measurement: BUILD_NOTES, "VampPrior MIM: the sampling anchor".
  config.latent_anchor = ml_collections.ConfigDict(
      dict(kind="standard_normal")
  )
  config.data = ml_collections.ConfigDict(
      dict(
          # "mnist", "fashion_mnist" or "omniglot".
          name=dataset,
          # Local folder with <name>.npz / IDX files / chardata.mat; "" = tfds.
          dir="",
          # "auto" (local if dir is set, else tfds), "local" or "tfds".
          loader="auto",
          # tfds data_dir (None: the tfds default).
          tfds_data_dir=None,
          # Held-out end of the training split (10000; Omniglot 1345).
          num_validation=1345 if dataset == "omniglot" else 10000,
          # Fresh Bernoulli draw of every training batch.
          dynamic_binarization=True,
          # Truncations (0 = all) and steps per "epoch" (0 = one pass).
          max_train=0,
          max_validation=0,
          max_test=0,
          epoch_steps=0,
      )
  )
  config.model = ml_collections.ConfigDict(
      dict(
          # "conv_hvae", "pixel_hvae" (PixelCNN decoder; A-MIM or VAE) or
          # "hvae" (all gated dense, 300 units: HVAE (L = 2)).
          kind=kind,
          # (d1, d2): sizes of z1 and z2.
          latent_dims=(40, 40),
          # "vamp" (K pseudo-inputs) or "standard_normal" (N(0, I)) for p(z2).
          prior=prior,
          num_pseudo_inputs=500,
          # Pseudo-inputs start as the first K training images + N(0, 0.01^2).
          pseudo_input_init="data",
          # Floor of every latent log-variance (std >= exp(min_logvar / 2));
          # -6 (std 0.0498) as Tomczak & Welling.
          min_logvar=-6.0,
      )
  )
  config.train = ml_collections.ConfigDict(
      dict(
          batch_size=100,
          max_epochs=2000,
          # beta = min(1, epoch / warmup) (Tomczak & Welling's KL warm-up).
          beta_warmup_epochs=100,
          # Early stopping on the validation loss after the warm-up
          # (training.StoppingRule): patience 50 epochs with no margin, as
          # Tomczak & Welling's code; see BUILD_NOTES, "Early stopping".
          patience=50,
          min_delta=0.0,
          min_epochs=0,
          checkpoint_every=1,
          log_every=1,
          # "epoch e step t/T | train loss" log line every this many steps
          # (0: per-epoch lines only).
          progress_every=100,
          eval_batch_size=100,
      )
  )
  # Posterior-collapse monitor on the first validation batch (see
  # configs/toy_common.py and training.CollapseRule).
  config.monitor = ml_collections.ConfigDict(
      dict(max_std_ratio=0.25, max_kl=3.0, max_noise_share=0.5, checks=3)
  )
  config.optim = ml_collections.ConfigDict(
      dict(
          name="adam_norm_grad",
          learning_rate=5e-4,
          schedule="constant",
          warmup_epochs=0,
      )
  )
  config.eval = ml_collections.ConfigDict(
      dict(
          # Importance samples per test image and their chunking.
          nll_samples=5000,
          nll_chunk=50,
          nll_batch=10,
          # Test images for the IS-NLL (0 = all 10k).
          num_nll_examples=0,
          # Training images whose codes fit the k-NN classifier (0 = all).
          num_train_features=0,
          knn_ks=(1, 3, 5, 10),
          # Test codes in the t-SNE figure; images per picture grid.
          tsne_points=2000,
          grid_images=100,
          # PixelHVAE samples are sequential (784 passes): fewer of them.
          pixel_samples=16,
          # The split every metric is computed on: "test", or "validation"
          # (the held-out end of the training split) to compare settings
          # without looking at the test set.
          split="test",
      )
  )
  return apply_arg(config, arg)


def hvae(dataset, prior, *, loss="mim", arg=""):
  """The all-dense HVAE (L = 2) on a laptop budget (LAPTOP) for `dataset`.

  Tomczak & Welling train it like the convHVAE (warm-up 100 epochs,
  patience 50, <= 2000 epochs); this default shortens the schedule so one
  run converges on 2 CPU cores (BUILD_NOTES, "Image chapter: dense HVAE").
  """
  config = base(dataset, prior, kind="hvae", loss=loss)
  config.train.update(
      beta_warmup_epochs=LAPTOP["warmup_epochs"],
      patience=LAPTOP["patience"],
      max_epochs=LAPTOP["max_epochs"],
      progress_every=0,
  )
  return apply_arg(config, arg)


def apply_arg(config, arg):
  """Applies the comma-separated arguments of the module docstring."""
  for a in filter(None, arg.split(",")):
    if a not in _ARGS:
      raise ValueError(f"unknown config argument {a!r}; use {_ARGS}")
    if a in ("vae", "mim", "amim"):
      config.loss = a
    elif a == "no_warmup":
      config.train.beta_warmup_epochs = 1
    elif a == "learned_anchor":
      config.latent_anchor.kind = "learned"
    elif a == "mean_samples":
      config.decoder_estimator = "mean"
      config.decoder_samples = 1
      config.decoder_matched_baseline = False
    elif a == "small":
      config.data.epoch_steps = SMALL["epoch_steps"]
      config.data.max_validation = 1000
      config.train.max_epochs = SMALL["epochs"]
      config.train.beta_warmup_epochs = 1
      config.train.patience = SMALL["epochs"]
      config.train.progress_every = 10
      config.eval.nll_samples = SMALL["nll_samples"]
      config.eval.num_nll_examples = SMALL["nll_examples"]
      config.eval.num_train_features = SMALL["train_features"]
      config.eval.tsne_points = 1000
    elif a == "quick":
      config.data.update(
          max_train=200, max_validation=40, max_test=100, epoch_steps=2
      )
      config.model.num_pseudo_inputs = 10
      config.train.update(
          batch_size=20, max_epochs=2, beta_warmup_epochs=1, patience=2,
          eval_batch_size=20, progress_every=1,
      )
      config.eval.update(
          nll_samples=10, nll_chunk=5, nll_batch=10, num_nll_examples=20,
          num_train_features=200, tsne_points=60, grid_images=16,
          pixel_samples=2,
      )
  return config
