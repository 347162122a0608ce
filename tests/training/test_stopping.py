"""Early-stopping and collapse-alarm rules on synthetic validation curves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import training
from mimjax.training import _stopping

# The toy chapter's rule (configs/toy_common.py) and the authors' (patience
# 3, no margin).
_TOY_RULE = training.StoppingRule(patience=30, min_delta=1e-3)
_AUTHORS_RULE = training.StoppingRule(patience=3)


def _replay(rule, curves, *, warmup=0, finite=None):
  """The final stopping state of `rule` over `[E, S]` curves (numpy)."""
  return jax.device_get(
      training.replay_stopping(rule, curves, finite, warmup_epochs=warmup)
  )


def _bumpy_descent(num_epochs=200, bump_length=12, seed=0):
  """A loss falling from 100 to ~60 (the shape of MIM's toy curves) whose
  descent pauses on plateaus with bumps `bump_length` epochs long."""
  epochs = np.arange(num_epochs)
  trend = 60.0 + 40.0 * np.exp(-epochs / 60.0)
  bumps = 3.0 * (np.sin(2 * np.pi * epochs / (2 * bump_length)) > 0)
  noise = 0.05 * np.random.default_rng(seed).standard_normal(num_epochs)
  return trend + bumps * np.exp(-epochs / 150.0) + noise


def test_bumpy_descent_does_not_stop_but_did_with_the_authors_patience():
  curve = _bumpy_descent()[:, None]
  state = _replay(_TOY_RULE, curve, warmup=3)
  assert not state["stopped"][0] and state["stop_reason"][0] == 0
  # The authors' patience of 3 stops inside the first bump: the test can
  # fail, and the long patience is what keeps the seed going.
  old = _replay(_AUTHORS_RULE, curve, warmup=3)
  assert old["stopped"][0] and old["stop_epoch"][0] < 40
  assert old["stop_reason"][0] == _stopping.PATIENCE


def test_flat_curve_stops_after_patience():
  curve = np.full((100, 2), 5.0)
  curve[:, 1] += 1e-4 * np.arange(100)  # slowly worse
  state = _replay(_TOY_RULE, curve, warmup=3)
  # Epoch 3 is the first eligible one (progress); 30 bad epochs follow.
  np.testing.assert_array_equal(state["stop_epoch"], [33, 33])
  np.testing.assert_array_equal(state["stop_reason"], [_stopping.PATIENCE] * 2)


def test_improvements_below_the_margin_are_not_progress():
  # Falls by 0.05 % per epoch: below min_delta = 0.1 % per epoch, but it
  # adds up to a 0.1 % margin every 2 epochs, so the seed goes on.
  slow = 100.0 * (1 - 5e-4) ** np.arange(100)
  # Falls by 1e-4 % per epoch: 30 epochs make 0.003 %, never the margin.
  crawl = 100.0 * (1 - 1e-6) ** np.arange(100)
  state = _replay(_TOY_RULE, np.stack([slow, crawl], 1))
  assert not state["stopped"][0]
  assert state["stopped"][1] and state["stop_epoch"][1] == 31
  # Its best value still follows the raw loss up to the stop (selection has
  # no margin).
  np.testing.assert_allclose(state["best_val"][1], crawl[30], rtol=1e-6)


def test_min_epochs_delays_the_stop():
  curve = np.full((60, 1), 1.0)
  rule = training.StoppingRule(patience=3, min_epochs=40)
  assert _replay(rule, curve)["stop_epoch"][0] == 40


def test_non_finite_seed_stops_with_its_reason():
  curve = np.tile(np.linspace(10, 1, 20)[:, None], (1, 2))
  finite = np.ones((20, 2), bool)
  finite[7, 1] = False
  state = _replay(_TOY_RULE, curve, finite=finite)
  assert not state["stopped"][0]
  assert state["stop_reason"][1] == _stopping.NON_FINITE
  assert state["stop_epoch"][1] == 8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(patience=0), "patience"),
        (dict(patience=3, min_delta=1.5), "min_delta"),
        (dict(patience=3, lr_decay_factor=0.5), "lr_decay_patience"),
    ],
)
def test_bad_rules_raise(kwargs, match):
  with pytest.raises(ValueError, match=match):
    training.StoppingRule(**kwargs)


def _alarm(std_ratio, noise_share, kl=None, rule=training.CollapseRule()):
  num_seeds = std_ratio.shape[1]
  kl = np.zeros_like(std_ratio) if kl is None else kl
  state = training.initial_collapse_state(num_seeds)
  kinds = []
  for e in range(std_ratio.shape[0]):
    state = training.collapse_update(
        rule, epoch=e + 1, std_ratio=jnp.asarray(std_ratio[e]),
        kl=jnp.asarray(kl[e]), pooled_noise_share=jnp.asarray(noise_share[e]),
        **state,
    )
    kinds.append(np.asarray(state["collapse_kind"]))
  return np.stack(kinds), jax.device_get(state)


def test_collapse_alarm_needs_consecutive_checks_and_names_the_kind():
  # Seed 0: posteriors as broad as the prior from epoch 2 (posterior
  # collapse). Seed 1: broad on epochs 1-2 only (no alarm: 3 checks are
  # needed). Seed 2: narrow posteriors, mostly noise from epoch 3 (scale
  # collapse). Seed 3: healthy throughout.
  ratio = np.array([
      [0.1, 0.9, 0.05, 0.05],
      [0.9, 0.9, 0.05, 0.05],
      [0.9, 0.1, 0.05, 0.05],
      [0.9, 0.1, 0.05, 0.05],
      [0.9, 0.1, 0.05, 0.05],
  ])
  share = np.tile([0.1, 0.1, 0.3, 0.1], (5, 1))
  share[2:, 2] = 0.8
  kinds, state = _alarm(ratio, share)
  np.testing.assert_array_equal(kinds[:, 1], 0)
  np.testing.assert_array_equal(kinds[:, 3], 0)
  np.testing.assert_array_equal(kinds[:, 0], [0, 0, 0, 1, 1])
  np.testing.assert_array_equal(kinds[:, 2], [0, 0, 0, 0, 2])
  np.testing.assert_array_equal(state["collapse_epoch"], [4, 0, 5, 0])


def test_informative_broad_codes_are_not_posterior_collapse():
  """The monitor values of two dense-HVAE VampPrior runs after 3-5 epochs
  (BUILD_NOTES, "VampPrior MIM: the sampling anchor"): the healthy VAE
  (posteriors half the prior's width, 23 nats of KL, 5-NN 0.95) raises no
  alarm; MIM under the learned anchor (codes and prior shrunk together onto
  the std floor: std ratio 0.35, 21 nats, noise share 0.86) is scale
  collapse, not posterior collapse. The toy VAE at 500 units (std ratio
  0.45, 1.7 nats) stays posterior collapse."""
  ratio = np.tile([0.49, 0.35, 0.45], (3, 1))
  kl = np.tile([23.0, 21.0, 1.7], (3, 1))
  share = np.tile([0.33, 0.86, 0.2], (3, 1))
  kinds, _ = _alarm(ratio, share, kl)
  np.testing.assert_array_equal(kinds[-1], [0, 2, 1])


def test_collapse_alarm_clears_when_the_code_recovers():
  ratio = np.array([[0.9], [0.9], [0.9], [0.1]])
  kinds, state = _alarm(ratio, np.zeros((4, 1)))
  np.testing.assert_array_equal(kinds[:, 0], [0, 0, 1, 0])
  assert state["collapse_epoch"][0] == 0


@pytest.mark.parametrize(
    "rule",
    [
        training.StoppingRule(patience=20, lr_decay_factor=0.25,
                              lr_decay_patience=2,
                              min_lr_scale=0.25 ** 2.5),  # "cuts3"
        training.StoppingRule(patience=20, lr_decay_factor=0.25,
                              lr_decay_patience=2, min_lr_scale=1e-5),
        training.StoppingRule(patience=5, lr_decay_factor=0.1,
                              lr_decay_patience=3, min_lr_scale=1e-6),
        training.StoppingRule(patience=4, min_epochs=9),
    ],
)
def test_schedule_outlook_predicts_the_stop_of_a_flat_curve(rule):
  """On a validation curve that never improves after `progress_epochs`,
  `schedule_outlook`'s soonest stop is the epoch `stopping_update` stops
  at, and its cut counts follow the logged learning-rate factor."""
  for progress_epochs in (1, 4):
    state = _stopping.initial_stopping_state(1)
    predicted, epoch = None, 0
    while not bool(state["stopped"][0]):
      epoch += 1
      val = jnp.asarray([100.0 - min(epoch, progress_epochs)], jnp.float32)
      state = _stopping.stopping_update(
          rule, epoch=epoch, val=val, eligible=True,
          active=~state["stopped"], finite=jnp.ones(1, bool), **state,
      )
      state.pop("improved")
      outlook = _stopping.schedule_outlook(
          rule, epoch=epoch, lr_scale=state["lr_scale"],
          bad_epochs=state["bad_epochs"],
      )
      scale = float(state["lr_scale"][0])
      if rule.decays_lr:
        assert scale == pytest.approx(
            rule.lr_decay_factor ** int(outlook["cuts"][0]), rel=1e-5
        )
      if epoch >= progress_epochs and not bool(state["stopped"][0]):
        if predicted is None:
          predicted = epoch + int(outlook["soonest"][0])
        assert epoch + int(outlook["soonest"][0]) == predicted
      assert epoch < 200
    assert int(state["stop_epoch"][0]) == predicted
    if int(state["stop_reason"][0]) == _stopping.MIN_LR:
      assert int(outlook["cuts"][0]) == int(outlook["stop_cut"][0])
