"""Shared recipe of the flow / TzK experiments (thesis ch. 8, App. G).

Each `configs/tzk_<data>.py` calls `base(...)` and states only what it
changes. Arguments (comma-separated, after the file name):
  ""          the thesis setup: t-flow of 3 levels x 32 steps with 512
              channels, code flows of 1 level x 4 steps, C = 10, App. G.1
              regressor sizes, Adam lr 1e-5 with a 4000-step warm-up, batch
              10 (a GPU-scale budget: far beyond a CPU);
  "small"     a CPU budget (see `SMALL`): a 3 x 4 step flow with 64 channels,
              small regressors, batch 64, a few thousand steps per phase;
  "quick"     a smoke run on a few hundred images (about 5 min on 2 CPU
              cores, mostly compilation);
  "flow" / "conditional" / "two_phase" / "end_to_end"  the workflow;
  "encoder_sampling" / "stratified"  the sampling of eq G.1 (default: the
              thesis's per-batch mixture).
e.g. `python -m experiments.tzk --config=configs/tzk_mnist.py:small`.
Local data: `--config.data.dir=/folder/with/mnist.npz` (or the IDX files, or
cifar10.npz / cifar-10-batches-py/).
"""

import ml_collections

# The CPU budget of "small" (stated in BUILD_NOTES.md with its results).
SMALL = dict(batch_size=64, epoch_steps=250, flow_epochs=8,
             conditional_epochs=4, hidden=64)
WORKFLOWS = ("flow", "conditional", "two_phase", "end_to_end")
_SAMPLING_ARGS = {"encoder_sampling": "encoder", "stratified": "stratified"}
_ARGS = ("small", "quick") + WORKFLOWS + tuple(_SAMPLING_ARGS)


def base(datasets, knowledge, *, channels=1, arg=""):
  """The thesis's TzK setup on `datasets` with knowledge types `knowledge`."""
  config = ml_collections.ConfigDict()
  # Base seed (parameters, data order, dequantisation noise derive from it).
  config.seed = 0
  # One model per run.
  config.num_seeds = 1
  # "flow": the t-flow alone (C = 0). "conditional": freeze the t-flow of a
  # finished flow run (`flow_workdir`) and learn the knowledge types (Sec.
  # 8.4.4). "two_phase": both, in <workdir>/flow and <workdir>/conditional.
  # "end_to_end": the t-flow and the knowledge types together.
  config.workflow = "two_phase"
  # For workflow "conditional": the workdir of a finished "flow" run.
  config.flow_workdir = ""
  # `data.train_filter` of the flow phase only (e.g. "cifar10": a t-flow of
  # CIFAR10 images, specialised later with MNIST in the mix; Fig. 8.8).
  config.flow_train_filter = ""
  # Samples of eq G.1: "mixture" (encoder or decoder per batch, the thesis),
  # "stratified" (half of each batch from each) or "encoder" (App. G.2.1's
  # encoder-only alternative).
  config.sampling = "mixture"
  config.data = ml_collections.ConfigDict(
      dict(
          # Mixed datasets; an image's dataset id is its position here.
          datasets=tuple(datasets),
          # Local folder with mnist.npz / IDX files / cifar10.npz /
          # cifar-10-batches-py; "" = tfds.
          dir="",
          # "auto" (local if dir is set, else tfds), "local" or "tfds".
          loader="auto",
          # tfds data_dir (None: the tfds default).
          tfds_data_dir=None,
          # 1 (gray) or 3 (RGB; gray images are repeated into R, G, B).
          channels=channels,
          # Knowledge types: "<dataset>" or "<dataset>:<class>", or ("auto",)
          # for every label that occurs in the training data (added online
          # in order of first appearance).
          knowledge=tuple(knowledge),
          # With ("auto",): one type per class instead of per dataset.
          per_class=False,
          # Held-out end of each training split.
          num_validation=10000,
          # Truncations per dataset (0 = all) and steps per "epoch" (0 =
          # one pass).
          max_train=0,
          max_validation=0,
          max_test=0,
          epoch_steps=0,
          # Train the flow only on images of one knowledge type ("" = all).
          train_filter="",
      )
  )
  config.model = ml_collections.ConfigDict(
      dict(
          # The t-flow (App. G.1; Sec. 8.4.2 baselines: 3 levels x 32 steps).
          flow=dict(levels=3, steps=32, hidden=512, permutation="shuffle"),
          # Every knowledge type (App. G.1).
          knowledge=dict(
              code_dim=10,
              code_flow_steps=4,
              # 0 = 10 C.
              code_flow_hidden=0,
              code_channels=80,
              code_levels=3,
              latent_channels=512,
              latent_width=80,
              latent_grid=4,
              # 0 = 10 C.
              discriminator_channels=0,
          ),
      )
  )
  config.train = ml_collections.ConfigDict(
      dict(
          batch_size=10,
          # Per phase (flow, then conditional).
          max_epochs=100,
          conditional_max_epochs=100,
          # TzK has no KL warm-up.
          beta_warmup_epochs=1,
          # Early stopping on the validation loss.
          patience=10,
          checkpoint_every=1,
          log_every=1,
          eval_batch_size=100,
          # Log the training loss every this many steps inside an epoch.
          progress_every=0,
          # Images of the first training batch that initialise ActNorm.
          init_batch=500,
      )
  )
  config.optim = ml_collections.ConfigDict(
      dict(
          name="adam",
          learning_rate=1e-5,
          # The thesis: a 4000-step warm-up (set in steps below).
          schedule="linear_warmup",
          warmup_epochs=0,
          warmup_steps=4000,
          # Global-norm clipping (0 = off); flows are prone to spikes.
          clip_global_norm=0.0,
      )
  )
  config.eval = ml_collections.ConfigDict(
      dict(
          # Test images per dataset for bits/dim (0 = all).
          num_test=0,
          batch_size=100,
          # Importance samples of q(c | e = 1, t) for the IS conditional NLL.
          is_samples=64,
          # Prior draws estimating p(e^i = 1).
          existence_samples=10000,
          # Samples per picture, Gibbs sweeps (App. G.2.2), base temperature.
          num_samples=64,
          gibbs_steps=10,
          temperature=1.0,
          # Interpolation grid side (Figs 8.5-8.7).
          interpolation_steps=8,
      )
  )
  return apply_arg(config, arg)


def apply_arg(config, arg):
  """Applies the comma-separated arguments of the module docstring."""
  for a in filter(None, arg.split(",")):
    if a not in _ARGS:
      raise ValueError(f"unknown config argument {a!r}; use {_ARGS}")
    if a in WORKFLOWS:
      config.workflow = a
    elif a in _SAMPLING_ARGS:
      config.sampling = _SAMPLING_ARGS[a]
    elif a == "small":
      config.model.flow.update(steps=4, hidden=SMALL["hidden"])
      config.model.knowledge.update(
          code_flow_hidden=32, code_channels=32, latent_channels=64,
          latent_width=32, discriminator_channels=32,
      )
      config.data.epoch_steps = SMALL["epoch_steps"]
      config.data.max_validation = 2000
      config.train.update(
          batch_size=SMALL["batch_size"], max_epochs=SMALL["flow_epochs"],
          conditional_max_epochs=SMALL["conditional_epochs"],
          patience=SMALL["flow_epochs"], progress_every=50,
      )
      config.optim.update(learning_rate=1e-3, warmup_steps=200,
                          clip_global_norm=50.0)
      config.eval.update(is_samples=32, existence_samples=4096)
    elif a == "quick":
      config.model.flow.update(levels=2, steps=2, hidden=8)
      config.model.knowledge.update(
          code_flow_steps=2, code_flow_hidden=8, code_channels=4,
          code_levels=2, latent_channels=8, latent_width=4,
          discriminator_channels=4, code_dim=4,
      )
      config.data.update(max_train=160, max_validation=40, max_test=40,
                         epoch_steps=4)
      config.train.update(batch_size=20, max_epochs=2,
                          conditional_max_epochs=2, patience=2,
                          eval_batch_size=20, init_batch=40)
      config.optim.update(learning_rate=1e-3, warmup_steps=4)
      config.eval.update(num_test=40, batch_size=20, is_samples=4,
                         existence_samples=64, num_samples=4, gibbs_steps=2,
                         interpolation_steps=3)
  return config
