"""Compiled sentence generation from latent codes (greedy, sampling, top-k)."""

import functools

import jax
import jax.numpy as jnp

from mimjax import data

DECODING_MODES = ("greedy", "sample", "top_k")


def _next_token_logits(logits, *, allow_unk):
  """Masks tokens a sentence never emits: <pad>, <sos> (and <unk>)."""
  banned = [data.PAD, data.SOS] + ([] if allow_unk else [data.UNK])
  return logits.at[:, jnp.asarray(banned)].set(-jnp.inf)


def _choose(logits, key, mode, temperature, top_k):
  """`[B, V]` logits -> `[B]` next tokens."""
  if mode == "greedy":
    return jnp.argmax(logits, axis=-1)
  logits = logits / temperature
  if mode == "top_k":
    kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
    logits = jnp.where(logits < kth, -jnp.inf, logits)
  return jax.random.categorical(key, logits, axis=-1)


@functools.partial(
    jax.jit,
    static_argnames=("model", "max_len", "mode", "top_k", "allow_unk"),
)
def generate_sentences(
    model,
    params,
    z,
    key,
    *,
    max_len,
    mode="greedy",
    temperature=1.0,
    top_k=0,
    allow_unk=False,
):
  """Decodes one sentence per latent code, all steps in one `lax.scan`.

  Starts from <sos> and h_0 = W z + b and feeds each chosen token back
  (Fig. 6.1). Tokens after the first <eos> are <pad>, so the result has the
  layout of `mimjax.data.encode_sentences` (a row without <eos> ran out of
  steps).

  Args:
    model: a `SentenceVAE` (use `train=False`: no dropout).
    params: its variables.
    z: `[B, d]` latent codes.
    key: PRNG key (unused by "greedy").
    max_len: number of decoding steps T.
    mode: "greedy" (argmax), "sample" (softmax(logits / temperature)) or
      "top_k" (sampling among the `top_k` most likely tokens).
    temperature: softmax temperature for the sampling modes.
    top_k: k for "top_k".
    allow_unk: whether <unk> may be emitted.

  Returns:
    `[B, max_len]` int32 token ids.
  """
  if mode not in DECODING_MODES:
    raise ValueError(f"unknown mode {mode!r}; use one of {DECODING_MODES}")
  if mode == "top_k" and top_k < 1:
    raise ValueError("mode 'top_k' needs top_k >= 1")
  z = jnp.asarray(z, jnp.float32)
  batch = z.shape[0]
  h0 = model.apply(params, z, method=model.initial_state)

  def body(carry, step_key):
    h, token, done = carry
    h, logits = model.apply(params, h, token, z, method=model.decode_step)
    logits = _next_token_logits(logits, allow_unk=allow_unk)
    token = _choose(logits, step_key, mode, temperature, top_k)
    token = jnp.where(done, data.PAD, token).astype(jnp.int32)
    return (h, token, done | (token == data.EOS)), token

  start = jnp.full((batch,), data.SOS, jnp.int32)
  _, tokens = jax.lax.scan(
      body,
      (h0, start, jnp.zeros((batch,), bool)),
      jax.random.split(key, max_len),
  )
  return tokens.T
