"""Latent health statistics of a posterior on a fixed batch (pure jax).

Two failure modes of a learned latent code look alike in k-NN accuracy and
must be told apart (thesis ch. 5; BUILD_NOTES, posterior-collapse monitor):

* **posterior collapse**: q(z|x) ~ p(z) for every x; the posterior is broad
  (std near the prior's) and its means hardly move with x.
* **scale collapse**: the whole aggregate posterior shrinks onto the
  standard-deviation floor (seen with a learned VampPrior as the sampling
  anchor); the posterior is narrow, but its means move even less.

Posterior collapse shows in the *std ratio*, the mean posterior std over
the prior's std (samples of p(z)): each posterior covers much of the prior.
Both collapses leave a small *signal-to-noise ratio* per latent dimension,

    snr_j = std_i(mu_j(x_i)) / rms_i(sigma_j(x_i)),

the spread of the posterior means across data against the posterior noise.
`noise_share_j = 1 / (1 + snr_j^2) = E[sigma_j^2] / (Var[mu_j] + E[sigma_j^2])`
is the fraction of the aggregate posterior's variance along j that is
posterior noise: ~1 for a collapsed unit, ~0 for an informative one.
Pooled over the units,

    pooled_noise_share = sum_j E[sigma_j^2] / sum_j (Var[mu_j] + E[sigma_j^2]),

is the fraction of the whole aggregate posterior's variance that is noise.
A high pooled share with a small std ratio is scale collapse. The pooled
share, not the mean of the per-unit shares, decides: a code that uses 27 of
80 units and leaves the other 53 on the std floor (MIM on MNIST) has a mean
share near 53/80, but its pooled share is ~0.1, because the unused units
hold little variance.
"""

import jax.numpy as jnp


def scale_per_dimension(z_mean, z_std):
  """The scale diagnostic per latent dimension j.

  Args:
    z_mean: `[N, d]` posterior means mu(x_i).
    z_std: `[N, d]` posterior standard deviations sigma(x_i).

  Returns:
    Dict of `[d]` arrays: `mean_spread` std_i(mu_j(x_i)), `posterior_std`
    rms_i(sigma_j(x_i)) and `noise_share` = E[sigma_j^2] / (Var[mu_j] +
    E[sigma_j^2]) (see the module docstring).
  """
  var_mean = jnp.var(z_mean, axis=0)
  noise_var = jnp.mean(jnp.square(z_std), axis=0)
  return {
      "mean_spread": jnp.sqrt(var_mean),
      "posterior_std": jnp.sqrt(noise_var),
      "noise_share": noise_var / (var_mean + noise_var),
  }


def pooled_noise_share(per_dim):
  """sum_j E[sigma_j^2] / sum_j (Var[mu_j] + E[sigma_j^2]), in [0, 1].

  Args:
    per_dim: `scale_per_dimension`'s dict (`mean_spread`, `posterior_std`,
      each `[d]`).

  Returns:
    Scalar: the share of the aggregate posterior's variance, summed over the
    units, that is posterior noise (see the module docstring).
  """
  noise_var = jnp.sum(jnp.square(per_dim["posterior_std"]))
  return noise_var / (jnp.sum(jnp.square(per_dim["mean_spread"])) + noise_var)


def latent_health(z_mean, z_std, log_q_z_given_x, log_p_z, prior_z):
  """Posterior-collapse and scale statistics of one batch of codes.

  Args:
    z_mean: `[N, d]` posterior means mu(x_i).
    z_std: `[N, d]` posterior standard deviations sigma(x_i).
    log_q_z_given_x: `[N]` log q(z_i|x_i) at z_i ~ q(z|x_i).
    log_p_z: `[N]` log p(z_i) at the same samples.
    prior_z: `[M, d]` samples of the prior p(z).

  Returns:
    Dict of scalars:
      `kl`: mean of log q(z|x) - log p(z), a one-sample estimate of
        E_x KL(q(z|x) || p(z)) (the rate), an upper bound on I(x; z) under
        the encoder (nats);
      `active_units`: units with Var_i(mu_j) > 0.01 (Burda et al. 2016);
      `informative_units`: units with snr_j > 1;
      `noise_share`: mean_j noise_share_j in [0, 1];
      `pooled_noise_share`: sum_j E[sigma_j^2] / sum_j (Var[mu_j] +
        E[sigma_j^2]) in [0, 1] (see the module docstring);
      `posterior_std`: mean sigma;
      `prior_std`: mean_j std(prior_z_j);
      `std_ratio`: posterior_std / prior_std;
      `mean_spread`: mean_j std_i(mu_j), the spread of the codes.
  """
  per_dim = scale_per_dimension(z_mean, z_std)
  spread, noise_share = per_dim["mean_spread"], per_dim["noise_share"]
  prior_std = jnp.mean(jnp.std(prior_z, axis=0))
  return {
      "kl": jnp.mean(log_q_z_given_x - log_p_z),
      "active_units": jnp.sum(jnp.square(spread) > 1e-2).astype(jnp.float32),
      "informative_units": jnp.sum(noise_share < 0.5).astype(jnp.float32),
      "noise_share": jnp.mean(noise_share),
      "pooled_noise_share": pooled_noise_share(per_dim),
      "posterior_std": jnp.mean(z_std),
      "prior_std": prior_std,
      "std_ratio": jnp.mean(z_std) / prior_std,
      "mean_spread": jnp.mean(spread),
  }
