"""Single-sample estimators used inside the MIM objectives."""

import jax


def jensen_log_marginal(log_p_x_given_z, log_p_z, log_q_z_given_x):
  """Jensen lower bound on log q(x) for the decoder marginal (thesis eq 3.25).

  With q(x) = E_{p(z)}[p(x|z)] and an importance sample z ~ q(z|x),

    log q(x) >= E_{q(z|x)}[log p(x|z) + log p(z) - log q(z|x)],

  and one sample of the bracket is the estimate returned here (Sec. 3.6.2).

  Args:
    log_p_x_given_z: `[B]` log p(x|z) at the importance sample z.
    log_p_z: `[B]` log p(z) at the same z.
    log_q_z_given_x: `[B]` log q(z|x) at the same z.

  Returns:
    `[B]` single-sample estimate of the bound on log q(x).
  """
  return log_p_x_given_z + log_p_z - log_q_z_given_x


def score_function_surrogate(loss, log_prob, *, baseline=0.0, weight=None):
  """Adds the REINFORCE gradient of a sampled loss (thesis eq 3.26).

  For x ~ p_theta and a per-sample loss f_theta(x),

    grad E[f(x)] = E[grad f(x) + (f(x) - b) grad log p_theta(x)],

  for any baseline b independent of x. The returned surrogate has the value of
  `loss` and, under `jax.grad`, that gradient:

    loss + sg(w - b) * log_prob - sg((w - b) * log_prob),

  with the score weight w = f(x) by default. When f(x) is itself a noisy
  estimate (e.g. through a sampled log q(x)), any other estimate w with the
  same conditional mean E[w | x] = E[f | x] keeps the gradient unbiased;
  one with less noise given x lowers its variance.

  Args:
    loss: `[B]` per-sample loss f(x) evaluated at the (stop-gradient) sample.
    log_prob: `[B]` log p_theta(x) of that sample under its sampling
      distribution, differentiable in theta.
    baseline: scalar or `[B]` control variate b; gradients do not flow into it.
    weight: `[B]` score weight w (default `loss`); gradients do not flow
      into it.

  Returns:
    `[B]` surrogate with the same value as `loss`.
  """
  weight = loss if weight is None else weight
  centred = jax.lax.stop_gradient(weight - baseline)
  return loss + centred * log_prob - jax.lax.stop_gradient(centred * log_prob)


def leave_one_out_baseline(loss, *, axis=0):
  """Mean of the *other* samples' losses along `axis` (an RLOO control variate).

  Couples the samples along `axis`. For K samples f_1..f_K,

    b_k = (sum_j f_j - f_k) / (K - 1),

  so b_k is independent of sample k whenever the samples are independent
  (given what they condition on), and `score_function_surrogate(f, log p,
  baseline=b)` stays unbiased (Kool et al. 2019, "Buy 4 REINFORCE samples,
  get a baseline for free!"). Along the batch axis of differently
  conditioned samples it is the unbiased form of a batch-mean baseline: the
  plain batch mean includes f_k itself and shrinks sample k's score term by
  a factor (1 - 1/K).

  Args:
    loss: array with K >= 2 entries along `axis`.
    axis: the sample axis.

  Returns:
    Array of `loss`'s shape, without gradient.

  Raises:
    ValueError: fewer than 2 samples along `axis`.
  """
  count = loss.shape[axis]
  if count < 2:
    raise ValueError(
        f"a leave-one-out baseline needs >= 2 samples along axis {axis}, "
        f"got {count}"
    )
  loss = jax.lax.stop_gradient(loss)
  total = jax.numpy.sum(loss, axis=axis, keepdims=True)
  return (total - loss) / (count - 1)


def matched_noise_baseline(cross_loss):
  """Leave-one-out baseline whose other samples reuse this sample's noise.

  For K samples x_1..x_K of one conditional p(x|z) whose loss f(x, e) also
  depends on auxiliary noise e (e.g. the importance sample of a Jensen
  estimate), sample k gets

    b_k = (1 / (K - 1)) sum_{j != k} f(x_j, e_k).

  b_k depends on the other samples and on e_k, both independent of x_k, so
  `score_function_surrogate(f(x_k, e_k), log p(x_k), baseline=b_k)` stays
  unbiased; unlike `leave_one_out_baseline` it shares e_k with f(x_k, e_k),
  so the part of f's noise that does not depend on x cancels in f - b.

  Args:
    cross_loss: `[K, K, ...]`, entry `[k, j]` = f(x_j, e_k) (noise k,
      sample j); K >= 2.

  Returns:
    `[K, ...]` baselines b_k, without gradient.

  Raises:
    ValueError: fewer than 2 samples, or a non-square leading block.
  """
  count = cross_loss.shape[0]
  if count < 2 or cross_loss.shape[1] != count:
    raise ValueError(
        "a matched-noise baseline needs a [K, K, ...] array with K >= 2 "
        f"(noise, sample), got shape {cross_loss.shape}"
    )
  cross_loss = jax.lax.stop_gradient(cross_loss)
  own = jax.numpy.diagonal(cross_loss, axis1=0, axis2=1)  # [..., K]
  own = jax.numpy.moveaxis(own, -1, 0)
  return (jax.numpy.sum(cross_loss, axis=1) - own) / (count - 1)
