"""Autoregressive categorical likelihood over padded token sequences."""

import jax
import jax.numpy as jnp


class SequenceCategorical:
  """p(x|z) = prod_{k <= L} Cat(x^k; softmax(f(x^{<k}, z)_k)) (eq 6.1).

  The sentence decoder's likelihood: `log_prob(x)` is one teacher-forced pass
  of the decoder on x, summed over the row's non-pad positions (its length
  L includes the <eos> token). Generation is a separate compiled loop
  (`mimjax.models.generate_sentences`), so this object has no `sample`;
  samples would be discrete, so `reparameterized` is False.

  Attributes:
    logits_fn: `x [B, T] -> logits [B, T, V]`, position k seeing x^{<k}.
    pad_id: the padding token, ignored by the likelihood.
  """

  reparameterized = False

  def __init__(self, logits_fn, *, pad_id=0):
    self.logits_fn = logits_fn
    self.pad_id = pad_id

  def token_log_probs(self, x):
    """`[B, T]` ids -> `[B, T]` log p(x^k | x^{<k}, z), 0 at pad positions."""
    x = jnp.asarray(x, jnp.int32)
    log_probs = jax.nn.log_softmax(self.logits_fn(x), axis=-1)  # [B, T, V]
    picked = jnp.take_along_axis(log_probs, x[..., None], axis=-1)[..., 0]
    return jnp.where(x != self.pad_id, picked, 0.0)

  def log_prob(self, x):
    """`[B, T]` ids -> `[B]` log p(x|z) over each row's non-pad tokens."""
    return jnp.sum(self.token_log_probs(x), axis=-1)

  def sample(self, **unused):
    raise TypeError(
        "SequenceCategorical has no sample(): generate sentences with "
        "mimjax.models.generate_sentences (sentence models train with "
        "encoder-only losses such as 'smim', 'vae' or 'ae')"
    )
