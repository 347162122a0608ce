"""`metrics.latent_health` against closed forms, and the collapse monitor on
models collapsed by hand and on the committed Fig. 5.2 / 5.4 runs."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import evaluation
from mimjax import metrics
from mimjax import models
from mimjax import training

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_noise_share_and_units_closed_form():
  # Unit 0: means with variance 4, std 1 -> share 1/5, informative.
  # Unit 1: means with variance 0.0025, std 0.5 -> share 0.25/0.2525.
  rng = np.random.default_rng(0)
  n = 4000
  mean0 = rng.choice([-2.0, 2.0], n)  # variance exactly 4
  mean1 = rng.choice([-0.05, 0.05], n)  # variance exactly 0.0025
  z_mean = np.stack([mean0, mean1], 1)
  z_std = np.tile([1.0, 0.5], (n, 1))
  log_q, log_p = rng.normal(size=n), rng.normal(size=n)
  prior_z = np.stack(
      [rng.choice([-1.0, 1.0], n), rng.choice([-3.0, 3.0], n)], 1
  )
  out = jax.jit(metrics.latent_health)(z_mean, z_std, log_q, log_p, prior_z)
  var = np.var(z_mean, 0)
  share = np.array([1.0, 0.25]) / (var + [1.0, 0.25])
  np.testing.assert_allclose(out["noise_share"], share.mean(), rtol=1e-5)
  np.testing.assert_allclose(
      out["pooled_noise_share"], 1.25 / (var.sum() + 1.25), rtol=1e-5
  )
  assert out["informative_units"] == 1 and out["active_units"] == 1
  np.testing.assert_allclose(out["posterior_std"], 0.75, rtol=1e-6)
  prior_std = np.std(prior_z, 0).mean()  # ~ (1 + 3) / 2
  np.testing.assert_allclose(out["prior_std"], prior_std, rtol=1e-5)
  np.testing.assert_allclose(out["std_ratio"], 0.75 / prior_std, rtol=1e-5)
  np.testing.assert_allclose(out["kl"], np.mean(log_q - log_p), rtol=1e-5)
  np.testing.assert_allclose(out["mean_spread"], np.sqrt(var).mean(), 1e-5)


def _model_and_params(latent_dim=2):
  model = models.mlp_model(x_dim=2, latent_dim=latent_dim, hidden=16)
  params = model.init(jax.random.key(0), jnp.zeros((4, 2)))
  return model, params


def _set_encoder(params, *, loc_kernel, loc_bias, raw_scale_bias):
  """An encoder with mean = x W + b and a constant raw scale."""
  p = jax.tree.map(jnp.zeros_like, params)
  enc = p["params"]["encoder"]
  # Pass x through the hidden tanh layer near its linear range.
  enc["hidden_0"]["kernel"] = 0.1 * jnp.eye(2, 16)
  enc["loc"]["kernel"] = loc_kernel * jnp.eye(16, 2) / 0.1
  enc["loc"]["bias"] = loc_bias
  enc["raw_scale"]["bias"] = raw_scale_bias
  return p


def _monitor_alarm(model, params, x, checks=3):
  monitor = jax.jit(evaluation.make_monitor_fn(model))
  rule = training.CollapseRule()
  state = training.initial_collapse_state(1)
  for e in range(checks):
    stats = monitor(params, x, jax.random.key(e))
    state = training.collapse_update(
        rule, epoch=e + 1, std_ratio=stats["std_ratio"][None],
        kl=stats["kl"][None],
        pooled_noise_share=stats["pooled_noise_share"][None],
        **state,
    )
  return stats, training.collapse_alarms(state["collapse_kind"])[0]


@pytest.fixture(scope="module")
def gmm_x():
  rng = np.random.default_rng(1)
  centres = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], np.float32)
  return jnp.asarray(
      centres[rng.integers(0, 5, 1000)] + 0.25 * rng.normal(size=(1000, 2)),
      jnp.float32,
  )


def test_monitor_separates_informative_collapsed_and_shrunk_codes(gmm_x):
  model, params = _model_and_params()
  # std = 1e-6 + exp(raw): raw = log 0.05 -> std 0.05.
  informative = _set_encoder(
      params, loc_kernel=1.0, loc_bias=jnp.zeros(2),
      raw_scale_bias=jnp.full(2, np.log(0.05)),
  )
  # Posterior = prior: means ignore x, std 1.
  collapsed = _set_encoder(
      params, loc_kernel=0.0, loc_bias=jnp.zeros(2),
      raw_scale_bias=jnp.zeros(2),
  )
  # The informative code shrunk 100x by hand onto a 0.05 std floor.
  shrunk = _set_encoder(
      params, loc_kernel=0.01, loc_bias=jnp.zeros(2),
      raw_scale_bias=jnp.full(2, np.log(0.05)),
  )
  stats, alarm = _monitor_alarm(model, informative, gmm_x)
  assert alarm is None and stats["informative_units"] == 2
  stats, alarm = _monitor_alarm(model, collapsed, gmm_x)
  assert alarm == "posterior" and stats["noise_share"] > 0.99
  np.testing.assert_allclose(stats["std_ratio"], 1.0, atol=0.1)
  assert abs(float(stats["kl"])) < 0.1
  stats, alarm = _monitor_alarm(model, shrunk, gmm_x)
  assert alarm == "scale" and stats["informative_units"] == 0
  assert stats["std_ratio"] < 0.1


def _scale_alarm(z_mean, z_std, rng):
  """The collapse rule's kind after 3 checks of `latent_health` on a code
  whose KL rate is large (so only the scale branch can fire)."""
  n = len(z_mean)
  health = metrics.latent_health(
      z_mean, z_std, np.full(n, 40.0), np.zeros(n),
      rng.normal(size=(n, z_mean.shape[1])),
  )
  state = dict(collapse_count=jnp.zeros(1, jnp.int32),
               collapse_kind=jnp.zeros(1, jnp.int32),
               collapse_epoch=jnp.zeros(1, jnp.int32))
  for epoch in range(1, 4):
    state = training.collapse_update(
        training.CollapseRule(), epoch=jnp.asarray(epoch),
        std_ratio=health["std_ratio"][None], kl=health["kl"][None],
        pooled_noise_share=health["pooled_noise_share"][None], **state,
    )
  return health, training.collapse_alarms(state["collapse_kind"])[0]


def test_unused_units_on_the_floor_are_not_scale_collapse():
  """MIM's compact MNIST code: 27 of 80 units spread 0.2 over a 0.05 std,
  53 sit on the floor (spread 0.005). The mean per-unit noise share is
  above 0.5 (the old false alarm), the pooled share is ~0.1 and the rule
  stays quiet; the same code shrunk 20x onto the floor alarms "scale"."""
  rng = np.random.default_rng(3)
  n = 3000
  spread = np.r_[np.full(27, 0.2), np.full(53, 0.005)]
  z_mean = rng.choice([-1.0, 1.0], (n, 80)) * spread  # std_i exactly spread
  z_std = np.full_like(z_mean, 0.05)
  health, alarm = _scale_alarm(z_mean, z_std, rng)
  noise = 80 * 0.05**2
  np.testing.assert_allclose(
      health["pooled_noise_share"],
      noise / (noise + np.sum(np.var(z_mean, 0))), rtol=1e-4,
  )
  assert health["noise_share"] > 0.6 and health["pooled_noise_share"] < 0.2
  assert health["informative_units"] == 27 and alarm is None
  health, alarm = _scale_alarm(z_mean / 20, z_std, rng)
  assert health["pooled_noise_share"] > 0.5 and alarm == "scale"


def _committed_runs(name):
  path = os.path.join(_ROOT, "results", name, "results.json")
  if not os.path.exists(path):
    pytest.skip(f"{path} is not in this checkout")
  with open(path) as f:
    return json.load(f)["runs"]


def test_committed_fig52_and_fig54_runs_carry_the_expected_alarms():
  """The thesis's collapsed runs alarm (VAE at 500 hidden units, MIM - H at 5
  and 20), MIM at 20 and 500 does not; every run carries the field."""
  runs = _committed_runs("toy_gmm2d") + _committed_runs("toy_gmm2d_entropy")
  assert all("collapse_alarm" in r["metrics"] for r in runs)

  def alarms(loss, hidden):
    return [
        r["metrics"]["collapse_alarm"] for r in runs
        if r["loss"] == loss and r["hidden"] == hidden
    ]

  assert all(alarms("vae", 500)) and len(alarms("vae", 500)) == 10
  assert all(alarms("mim_h", 5)) and all(alarms("mim_h", 20))
  assert not any(alarms("mim", 20)) and not any(alarms("mim", 500))


def test_scale_per_dimension_flags_the_dimension_shrunk_by_hand():
  """Per dimension, against the closed form: dimension 0 healthy (means
  spread 2 over a 0.05 std), dimension 1 the same code shrunk 100x by hand
  with its std held at the 0.05 floor (spread 0.02 < 0.05)."""
  rng = np.random.default_rng(2)
  healthy = rng.choice([-2.0, 2.0], 3000)  # spread exactly 2
  z_mean = np.stack([healthy, healthy / 100], 1)
  z_std = np.full_like(z_mean, 0.05)
  out = jax.jit(metrics.scale_per_dimension)(z_mean, z_std)
  np.testing.assert_allclose(out["mean_spread"], [2.0, 0.02], rtol=1e-5)
  np.testing.assert_allclose(out["posterior_std"], [0.05, 0.05], rtol=1e-6)
  share = 0.05**2 / (np.array([2.0, 0.02]) ** 2 + 0.05**2)
  np.testing.assert_allclose(out["noise_share"], share, rtol=1e-5)
  assert out["noise_share"][0] < 0.01 and out["noise_share"][1] > 0.85
  health = metrics.latent_health(
      z_mean, z_std, np.zeros(3000), np.zeros(3000), rng.normal(size=(99, 2))
  )
  assert health["informative_units"] == 1
  np.testing.assert_allclose(
      health["noise_share"], out["noise_share"].mean(), rtol=1e-6
  )
