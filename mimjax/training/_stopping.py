"""Per-seed decisions after each validation pass: early stopping and the
posterior-collapse alarm, as pure functions of `[S]` arrays.

Both run inside the compiled epoch program and keep their counters in the
`TrainState`, so a resumed run makes the same decisions as an uninterrupted
one. The rules and the measurements behind their defaults are in
BUILD_NOTES ("Early stopping" and "Posterior-collapse monitor").
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

# `TrainState.stop_reason` codes; a seed still running when the epoch cap
# is reached reports "max_epochs" (see `stop_reasons`).
RUNNING, PATIENCE, MIN_LR, NON_FINITE = 0, 1, 2, 3
_REASON_NAMES = {
    RUNNING: "max_epochs", PATIENCE: "patience", MIN_LR: "min_lr",
    NON_FINITE: "non_finite",
}
# `TrainState.collapse_kind` codes.
HEALTHY, POSTERIOR_COLLAPSE, SCALE_COLLAPSE = 0, 1, 2
_COLLAPSE_NAMES = {
    HEALTHY: None, POSTERIOR_COLLAPSE: "posterior", SCALE_COLLAPSE: "scale",
}


@dataclasses.dataclass(frozen=True)
class StoppingRule:
  """When a seed stops.

  A validation loss v_e counts as progress when it beats the reference
  r (the loss at the last progress) by a relative margin,
  v_e < r - min_delta |r|; `patience` epochs without progress stop the seed,
  but never before `min_epochs`. The best model (lowest v_e, any margin) is
  kept separately. min_delta = 0 and min_epochs = 0 give classic patience.

  Attributes:
    patience: epochs without progress before a seed stops.
    min_delta: relative improvement that counts as progress.
    min_epochs: no seed stops before this many epochs.
    lr_decay_factor: if < 1, multiply a seed's learning rate by this after
      every `lr_decay_patience` consecutive epochs without progress (the
      plateau schedule of Sec. 7.2).
    lr_decay_patience: see `lr_decay_factor`.
    min_lr_scale: stop a seed once its learning-rate factor falls below this.
  """

  patience: int
  min_delta: float = 0.0
  min_epochs: int = 0
  lr_decay_factor: float = 1.0
  lr_decay_patience: int = 0
  min_lr_scale: float = 0.0

  def __post_init__(self):
    if self.patience < 1:
      raise ValueError(f"patience must be >= 1, got {self.patience}")
    if not 0.0 <= self.min_delta < 1.0:
      raise ValueError(f"min_delta must be in [0, 1), got {self.min_delta}")
    if self.lr_decay_factor < 1.0 and self.lr_decay_patience < 1:
      raise ValueError("lr_decay_factor < 1 needs lr_decay_patience >= 1")

  @property
  def decays_lr(self):
    return self.lr_decay_factor < 1.0


@dataclasses.dataclass(frozen=True)
class CollapseRule:
  """When the posterior-collapse alarm fires.

  A check (`metrics.latent_health` on a fixed validation batch) is
  *posterior-collapsed* when the mean posterior std is at least
  `max_std_ratio` of the prior's and the KL rate E_x KL(q(z|x) || p(z)) is
  at most `max_kl` nats: each q(z|x) covers much of p(z), so the codes of
  different x overlap and carry little information (the VAE of Fig. 5.2,
  MIM - H of Fig. 5.3). Otherwise it is *scale-collapsed* when the pooled
  noise share (`metrics.latent_health`) is at least `max_noise_share`: the
  posteriors are narrow, but their means spread even less, so most of the
  aggregate posterior's variance is noise (the latent shrank onto the std
  floor; a learned prior that shrank with it keeps the std ratio high,
  which is why the KL bound decides). The pooled share is high whatever
  the posterior width, so "scale" also names codes whose posteriors blew up
  (MIM - H at 500 units) and partial collapses where some units sit at the
  prior and hold most of the variance (VAE + H at 5 units, BUILD_NOTES).
  The alarm fires after `checks` consecutive checks of one kind or the
  other and names the kind of the latest.

  Attributes:
    max_std_ratio: posterior collapse needs posterior std / prior std >=
      this.
    max_kl: ... and a KL rate <= this (nats).
    max_noise_share: scale collapse when the pooled noise share >= this.
    checks: consecutive collapsed checks before the alarm fires.
  """

  max_std_ratio: float = 0.25
  max_kl: float = 3.0
  max_noise_share: float = 0.5
  checks: int = 3


def initial_stopping_state(num_seeds):
  """The `TrainState` fields `stopping_update` reads, before any epoch.

  Returns:
    Dict of `[S]` arrays: `best_val`, `stop_ref` (inf), `bad_epochs`,
    `stop_reason`, `stop_epoch` (0), `lr_scale` (1), `stopped` (False);
    fresh arrays each (the epoch program donates the state).
  """
  zeros = lambda: jnp.zeros((num_seeds,), jnp.int32)
  return dict(
      best_val=jnp.full((num_seeds,), jnp.inf, jnp.float32),
      stop_ref=jnp.full((num_seeds,), jnp.inf, jnp.float32),
      bad_epochs=zeros(),
      lr_scale=jnp.ones((num_seeds,), jnp.float32),
      stopped=jnp.zeros((num_seeds,), bool),
      stop_reason=zeros(),
      stop_epoch=zeros(),
  )


def initial_collapse_state(num_seeds):
  """The `TrainState` fields `collapse_update` reads, before any check."""
  return {
      name: jnp.zeros((num_seeds,), jnp.int32)
      for name in ("collapse_count", "collapse_kind", "collapse_epoch")
  }


def stopping_update(
    rule, *, epoch, val, eligible, active, finite, best_val, stop_ref,
    bad_epochs, lr_scale, stopped, stop_reason, stop_epoch,
):
  """One early-stopping step for every seed.

  Args:
    rule: `StoppingRule`.
    epoch: scalar, the epoch just finished (1-based).
    val: `[S]` validation loss.
    eligible: scalar bool, the epoch counts (beta reached 1).
    active: `[S]` seeds that trained this epoch.
    finite: `[S]` the seed's training and validation losses were finite.
    best_val, stop_ref, bad_epochs, lr_scale, stopped, stop_reason,
      stop_epoch: the `TrainState` fields of the same names.

  Returns:
    Dict with `improved` (`[S]`, the best model changes) and the new values
    of the state fields above.
  """
  counts = active & eligible & finite
  improved = counts & (val < best_val)
  # The first eligible epoch always makes progress (stop_ref = inf).
  target = jnp.where(
      jnp.isfinite(stop_ref), stop_ref - rule.min_delta * jnp.abs(stop_ref),
      jnp.inf,
  )
  progress = counts & (val < target)
  bad_epochs = jnp.where(
      progress, 0, bad_epochs + counts.astype(jnp.int32)
  )
  if rule.decays_lr:
    decay = counts & ~progress & (bad_epochs % rule.lr_decay_patience == 0)
    lr_scale = jnp.where(decay, lr_scale * rule.lr_decay_factor, lr_scale)
  reason = jnp.where(
      active & ~finite,
      NON_FINITE,
      jnp.where(
          (bad_epochs >= rule.patience) & (epoch >= rule.min_epochs),
          PATIENCE,
          jnp.where(lr_scale < rule.min_lr_scale, MIN_LR, RUNNING),
      ),
  )
  newly_stopped = active & (reason != RUNNING)
  return dict(
      improved=improved,
      best_val=jnp.where(improved, val, best_val),
      stop_ref=jnp.where(progress, val, stop_ref),
      bad_epochs=bad_epochs,
      lr_scale=lr_scale,
      stopped=stopped | newly_stopped,
      stop_reason=jnp.where(newly_stopped, reason, stop_reason),
      stop_epoch=jnp.where(newly_stopped, epoch, stop_epoch),
  )


def schedule_outlook(rule, *, epoch, lr_scale, bad_epochs):
  """Where a seed stands in its stopping schedule, for the progress line.

  Host-side numpy on the `TrainState` fields (not traced).

  Args:
    rule: `StoppingRule`.
    epoch: the epochs finished so far.
    lr_scale: `[S]` learning-rate factors.
    bad_epochs: `[S]` epochs since the last progress.

  Returns:
    Dict of `[S]` int arrays: `cuts` (learning-rate cuts so far), `stop_cut`
    (the cut that takes lr_scale below `min_lr_scale` and stops the seed,
    = `cuts` once it has; 0 without a plateau schedule or floor) and
    `soonest` (the fewest further epochs before the seed stops if none of
    them makes progress, by patience or by that cut; 0 once stopped).
  """
  lr_scale = np.asarray(lr_scale, np.float32)
  bad = np.asarray(bad_epochs, np.int64)
  by_patience = np.maximum(rule.patience - bad, rule.min_epochs - epoch)
  if not (rule.decays_lr and rule.min_lr_scale > 0):
    zeros = np.zeros_like(bad)
    return dict(cuts=zeros, stop_cut=zeros, soonest=by_patience)
  factor = np.float32(rule.lr_decay_factor)
  floor = np.float32(rule.min_lr_scale)
  cuts, stop_cut = [], []
  for scale in lr_scale:
    done = int(np.rint(np.log(scale) / np.log(factor)))
    more, next_scale = 0, scale  # the program's float32 products
    while next_scale >= floor:
      more, next_scale = more + 1, np.float32(next_scale * factor)
    cuts.append(done)
    stop_cut.append(done + more)
  cuts, stop_cut = np.asarray(cuts), np.asarray(stop_cut)
  patience = rule.lr_decay_patience
  by_lr = np.where(
      stop_cut > cuts,
      (patience - bad % patience) + (stop_cut - cuts - 1) * patience, 0,
  )
  return dict(
      cuts=cuts, stop_cut=stop_cut,
      soonest=np.maximum(np.minimum(by_patience, by_lr), 0),
  )


@functools.partial(jax.jit, static_argnums=0, static_argnames="warmup_epochs")
def replay_stopping(rule, val, finite=None, *, warmup_epochs=0):
  """Runs `stopping_update` over whole validation curves (to tune a rule
  on a finished run's metrics.jsonl, or to test it).

  Args:
    rule: `StoppingRule`.
    val: `[E, S]` validation loss per epoch and seed.
    finite: optional `[E, S]` bool, the epoch's losses were finite
      (default all True).
    warmup_epochs: epoch e (1-based) counts once e >= this, as the
      engine's beta warm-up.

  Returns:
    The final state dict of `initial_stopping_state`'s fields, plus
    `improved` of the last epoch.
  """
  num_epochs, num_seeds = val.shape
  if finite is None:
    finite = jnp.ones(val.shape, bool)

  def body(state, inputs):
    epoch, val_e, finite_e = inputs
    state = stopping_update(
        rule, epoch=epoch, val=val_e, eligible=epoch >= warmup_epochs,
        active=~state["stopped"], finite=finite_e,
        **{k: v for k, v in state.items() if k != "improved"},
    )
    return state, None

  start = dict(
      initial_stopping_state(num_seeds), improved=jnp.zeros(num_seeds, bool)
  )
  epochs = jnp.arange(1, num_epochs + 1)
  state, _ = jax.lax.scan(
      body, start, (epochs, jnp.asarray(val, jnp.float32), finite)
  )
  return state


def collapse_update(
    rule, *, epoch, std_ratio, kl, pooled_noise_share, collapse_count,
    collapse_kind, collapse_epoch,
):
  """One collapse-alarm step for every seed (see `CollapseRule`).

  Args:
    rule: `CollapseRule`.
    epoch: scalar, the epoch just finished (1-based).
    std_ratio: `[S]` posterior std / prior std of this check.
    kl: `[S]` KL rate of this check (nats).
    pooled_noise_share: `[S]` pooled noise share of this check.
    collapse_count, collapse_kind, collapse_epoch: the `TrainState` fields.

  Returns:
    Dict of the new `collapse_count`, `collapse_kind` (the kind while the
    alarm holds, `HEALTHY` once a check is healthy again) and
    `collapse_epoch` (the epoch the current alarm first fired, 0 if none).
  """
  # int32, not weak-typed: the epoch program must return the state's types,
  # or its second call compiles it again.
  kind = jnp.where(
      (std_ratio >= rule.max_std_ratio) & (kl <= rule.max_kl),
      POSTERIOR_COLLAPSE,
      jnp.where(pooled_noise_share >= rule.max_noise_share, SCALE_COLLAPSE,
                HEALTHY),
  ).astype(jnp.int32)
  count = jnp.where(kind != HEALTHY, collapse_count + 1, 0)
  firing = count >= rule.checks
  return dict(
      collapse_count=count,
      collapse_kind=jnp.where(firing, kind, HEALTHY),
      collapse_epoch=jnp.where(
          firing, jnp.where(collapse_epoch > 0, collapse_epoch, epoch), 0
      ),
  )


def stop_reasons(stop_reason):
  """Names of `TrainState.stop_reason` codes `[S]`: "patience", "min_lr",
  "non_finite" or "max_epochs" (still running at the cap)."""
  return [_REASON_NAMES[int(r)] for r in stop_reason]


def collapse_alarms(collapse_kind):
  """Names of `TrainState.collapse_kind` codes `[S]`: None (no alarm),
  "posterior" or "scale"."""
  return [_COLLAPSE_NAMES[int(k)] for k in collapse_kind]


def seed_outcome(state, seed):
  """How seed `seed` of a finished run ended, for results.json.

  Returns:
    Dict of `stop_epoch` (the epoch it stopped at, or the last epoch trained
    when it ran to the cap), `stop_reason` (see `stop_reasons`),
    `collapse_alarm` (bool) and `collapse_kind` (None, "posterior" or
    "scale"; see `collapse_alarms`).
  """
  kind = _COLLAPSE_NAMES[int(state.collapse_kind[seed])]
  return dict(
      stop_epoch=int(state.stop_epoch[seed]) or int(state.epoch),
      stop_reason=_REASON_NAMES[int(state.stop_reason[seed])],
      collapse_alarm=kind is not None,
      collapse_kind=kind,
  )
