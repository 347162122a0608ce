"""`TrainSettings`: how `train` runs, as explicit typed fields.

The library takes these settings, not a config object: experiments build
them from their ml_collections `config.train` section
(`experiments.common.train`: `TrainSettings(**config.train)` less the
fields only an experiment reads, such as TzK's `conditional_max_epochs`),
and a researcher's own code writes them out.
"""

import dataclasses

from mimjax.training import _stopping


@dataclasses.dataclass(frozen=True)
class TrainSettings:
  """The schedule, early stopping and logging of one `train` call.

  Attributes:
    batch_size: training images (examples) per step and seed.
    max_epochs: the epoch cap.
    patience: early stopping: stop a seed after this many epochs without
      progress (`StoppingRule`).
    beta_warmup_epochs: beta = min(1, e / this) in the e-th epoch (e = 1,
      2, ...; 0: beta = 1 from the start).
    beta_warmup_steps: per-step warm-up over this many steps instead (> 0
      overrides `beta_warmup_epochs`).
    min_delta: relative margin an epoch must beat the last progress by.
    min_epochs: no early stop before this epoch.
    lr_decay_factor: plateau schedule: multiply the learning rate by this
      after `lr_decay_patience` epochs without progress (1: off).
    lr_decay_patience: see `lr_decay_factor` (0: off).
    min_lr_scale: stop a seed once its learning-rate scale falls below
      this (0: never).
    checkpoint_every: save a checkpoint every this many epochs (and always
      after the last).
    log_every: one progress line every this many epochs.
    eval_batch_size: validation chunk size.
    progress_every: a within-epoch progress line every this many steps (0:
      none).
    fresh_validation_noise: new sampling noise in the validation loss every
      epoch (the authors' toy script) instead of the same keys
      (`make_epoch_fn`).
  """

  batch_size: int
  max_epochs: int
  patience: int
  beta_warmup_epochs: int = 0
  beta_warmup_steps: int = 0
  min_delta: float = 0.0
  min_epochs: int = 0
  lr_decay_factor: float = 1.0
  lr_decay_patience: int = 0
  min_lr_scale: float = 0.0
  checkpoint_every: int = 1
  log_every: int = 1
  eval_batch_size: int = 100
  progress_every: int = 0
  fresh_validation_noise: bool = False

  @property
  def stopping_rule(self):
    """The `StoppingRule` these settings describe."""
    return _stopping.StoppingRule(
        patience=self.patience, min_delta=self.min_delta,
        min_epochs=self.min_epochs, lr_decay_factor=self.lr_decay_factor,
        lr_decay_patience=self.lr_decay_patience,
        min_lr_scale=self.min_lr_scale,
    )
