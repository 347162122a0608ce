"""SentenceVAE against a float64 NumPy GRU, unpadded recomputations, decoding.

The reference GRU is written from PyTorch's gate equations; encoder and
decoder are recomputed one sentence at a time with no padding at all, so any
leak of padding, wrong reversal or off-by-one in teacher forcing shows up.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from mimjax import data
from mimjax import models
from mimjax import objectives

_VOCAB, _EMBED, _HIDDEN, _LATENT = 20, 6, 8, 3
# Three sentences of different lengths (words only; <eos> is appended).
_WORDS = ([5, 7, 9], [4], [10, 11, 12, 13, 14, 15])


def _model(**overrides):
  kwargs = dict(
      vocab_size=_VOCAB, embed_dim=_EMBED, hidden_dim=_HIDDEN,
      latent_dim=_LATENT,
  )
  kwargs.update(overrides)
  return models.SentenceVAE(**kwargs)


def _random_params(module, *example_args, seed=0):
  """N(0, 0.5^2) float32 values in the module's parameter layout.

  The layout comes from `jax.eval_shape`, so no initialiser is compiled.
  """
  shapes = jax.eval_shape(module.init, jax.random.key(0), *example_args)
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda s: (0.5 * rng.standard_normal(s.shape)).astype(np.float32),
      shapes,
  )


@pytest.fixture(scope="module")
def params():
  return _random_params(_model(), jnp.zeros((2, 5), jnp.int32))


def _rows(words, width):
  """`w_1 .. w_n <eos> <pad> ..` rows of `width` columns."""
  x = np.full((len(words), width), data.PAD, np.int32)
  for i, w in enumerate(words):
    x[i, : len(w) + 1] = list(w) + [data.EOS]
  return x


def _f64(tree):
  return jax.tree.map(lambda a: np.asarray(a, np.float64), tree)


def _np_gru(inputs, h0, gru):
  """PyTorch's GRU in float64: `inputs [T, D]`, `h0 [H]` -> states `[T, H]`.

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

  `gru` holds the flax GRU's params; its `[D, 3H]` kernels stack the
  (r, z, n) blocks along the output axis.
  """
  w_i, b_i = gru["input"]["kernel"], gru["input"]["bias"]
  w_h, b_h = gru["hidden_kernel"], gru["hidden_bias"]
  size = h0.shape[-1]
  gate = lambda w, b, v, k: v @ w[:, k * size:(k + 1) * size] + b[
      k * size:(k + 1) * size
  ]
  h, states = h0, []
  for x in inputs:
    r = special.expit(gate(w_i, b_i, x, 0) + gate(w_h, b_h, h, 0))
    z = special.expit(gate(w_i, b_i, x, 1) + gate(w_h, b_h, h, 1))
    n = np.tanh(gate(w_i, b_i, x, 2) + r * gate(w_h, b_h, h, 2))
    h = (1.0 - z) * n + z * h
    states.append(h)
  return np.array(states).reshape(len(inputs), size)


def _np_posterior(p, inputs):
  """q(z|x) mean and stddev in float64 from one unpadded encoder input.

  Args:
    p: the model's variables.
    inputs: the tokens `<sos> w_1 .. w_n` (the encoder reads them reversed).
  """
  p = _f64(p["params"])
  states = _np_gru(
      p["embed"]["embedding"][list(inputs)[::-1]], np.zeros(_HIDDEN),
      p["encoder"],
  )
  h = states[-1]
  mean = h @ p["to_mean"]["kernel"] + p["to_mean"]["bias"]
  logvar = np.maximum(
      h @ p["to_logvar"]["kernel"] + p["to_logvar"]["bias"], -10.0
  )
  return mean, np.exp(0.5 * logvar)


def _np_log_likelihood(p, words, z):
  """log p(x|z) of one unpadded sentence (its <eos> included), float64."""
  p = _f64(p["params"])
  z = np.asarray(z, np.float64)
  target = list(words) + [data.EOS]
  inputs = [data.SOS] + list(words)
  embedded = p["embed"]["embedding"][inputs]
  x = np.concatenate([embedded, np.tile(z, (len(inputs), 1))], axis=1)
  h0 = z @ p["to_hidden"]["kernel"] + p["to_hidden"]["bias"]
  states = _np_gru(x, h0, p["decoder"])
  logits = states @ p["to_vocab"]["kernel"] + p["to_vocab"]["bias"]
  log_probs = special.log_softmax(logits, axis=-1)
  return np.sum(log_probs[np.arange(len(target)), target])


@functools.partial(jax.jit, static_argnums=0)
def _posterior(model, p, x, key=None):
  """q(z|x) mean and stddev; `key` feeds train-mode <unk> masking."""
  rngs = None if key is None else {"dropout": key}
  q = model.apply(p, x, method="encode", rngs=rngs)
  return q.mean(), q.stddev()


@functools.partial(jax.jit, static_argnums=0)
def _log_likelihood(model, p, z, x):
  """Teacher-forced log p(x|z), `[B]`."""
  return model.apply(p, z, x, method=lambda m, z, x: m.decode(z).log_prob(x))


# -------------------------------------------------------------------- GRU


def test_gru_matches_numpy_and_freezes_past_length():
  rng = np.random.default_rng(2)
  x = rng.standard_normal((3, 6, 5)).astype(np.float32)
  h0 = rng.standard_normal((3, _HIDDEN)).astype(np.float32)
  lengths = np.array([6, 2, 0])
  gru = models.GRU(_HIDDEN)
  p = _random_params(gru, x, h0, lengths)
  outputs, final = jax.jit(gru.apply)(p, x, h0, lengths)
  for b, length in enumerate(lengths):
    start = np.asarray(h0[b], np.float64)
    states = _np_gru(np.asarray(x[b, :length], np.float64), start,
                     _f64(p["params"]))
    last = states[-1] if length else start
    np.testing.assert_allclose(outputs[b, :length], states, atol=1e-5)
    # Past its length the state stays at the one after the last true step.
    np.testing.assert_allclose(
        outputs[b, length:], np.tile(last, (6 - length, 1)), atol=1e-5
    )
    np.testing.assert_allclose(final[b], last, atol=1e-5)


# ---------------------------------------------------------------- encoder


def test_reversed_encoder_matches_unpadded_recomputation(params):
  model = _model(train=False)
  x = _rows(_WORDS, width=len(_WORDS[2]) + 4)
  mean, stddev = _posterior(model, params, x)
  for i, words in enumerate(_WORDS):
    ref_mean, ref_stddev = _np_posterior(params, [data.SOS] + list(words))
    np.testing.assert_allclose(mean[i], ref_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stddev[i], ref_stddev, rtol=1e-5, atol=1e-5)


def test_extra_pad_columns_change_nothing(params):
  model = _model(train=False)
  narrow = _rows(_WORDS, width=len(_WORDS[2]) + 1)
  wide = _rows(_WORDS, width=len(_WORDS[2]) + 9)
  z = jax.random.normal(jax.random.key(4), (3, _LATENT))
  for a, b in zip(_posterior(model, params, narrow),
                  _posterior(model, params, wide)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(
      _log_likelihood(model, params, z, narrow),
      _log_likelihood(model, params, z, wide), rtol=1e-6,
  )


# ---------------------------------------------------------------- decoder


def test_teacher_forcing_matches_stepwise_decoding(params):
  model = _model(train=False)
  x = _rows(_WORDS, width=len(_WORDS[2]) + 3)
  z = jax.random.normal(jax.random.key(5), (3, _LATENT))
  log_lik = _log_likelihood(model, params, z, x)

  def stepwise(m, target, z):
    h, token, total = m.initial_state(z), jnp.array([data.SOS]), 0.0
    for t in target:
      h, logits = m.decode_step(h, token, z)
      total += jax.nn.log_softmax(logits[0])[t]
      token = jnp.array([t])
    return total

  for i, words in enumerate(_WORDS):
    target = list(words) + [data.EOS]
    ref = model.apply(params, target, z[i:i + 1], method=stepwise)
    np.testing.assert_allclose(log_lik[i], ref, rtol=1e-5)
    np.testing.assert_allclose(
        log_lik[i], _np_log_likelihood(params, words, z[i]), rtol=1e-5
    )


# ------------------------------------------------------------- generation


def _biased(params):
  """Params whose unmasked argmax often is <pad>, <sos>, <unk> or <eos>."""
  bias = np.array(params["params"]["to_vocab"]["bias"])
  bias[[data.PAD, data.SOS]] += 4.0
  bias[data.UNK] += 1.2
  bias[data.EOS] += 0.8
  to_vocab = {**params["params"]["to_vocab"], "bias": bias}
  return {"params": {**params["params"], "to_vocab": to_vocab}}


def _first_logits(model, p, z):
  """Logits `[B, V]` of the first generated token (after `<sos>`)."""
  first = lambda m, z: m.decode_step(
      m.initial_state(z), jnp.full((z.shape[0],), data.SOS), z
  )[1]
  return np.array(model.apply(p, z, method=first), np.float64)


def _greedy_reference(model, p, z, max_len, banned):
  """Argmax decoding one step at a time, then <pad> after the first <eos>."""

  def greedy(m, z):
    h, token, out = m.initial_state(z), jnp.full((z.shape[0],), data.SOS), []
    for _ in range(max_len):
      h, logits = m.decode_step(h, token, z)
      logits = np.array(logits)
      logits[:, banned] = -np.inf
      token = jnp.asarray(logits.argmax(-1))
      out.append(np.asarray(token))
    return np.stack(out, axis=1)

  tokens = model.apply(p, z, method=greedy)
  for row in tokens:
    eos = np.flatnonzero(row == data.EOS)
    if len(eos):
      row[eos[0] + 1:] = data.PAD
  return tokens


def _check_layout(tokens):
  """No <sos>; no <pad> before an <eos>; only <pad> after the first one."""
  for row in np.asarray(tokens):
    assert data.SOS not in row
    eos = np.flatnonzero(row == data.EOS)
    end = eos[0] + 1 if len(eos) else len(row)
    assert data.PAD not in row[:end]
    assert np.all(row[end:] == data.PAD)


@pytest.mark.parametrize("allow_unk", [False, True])
def test_greedy_generation_matches_stepwise_argmax(params, allow_unk):
  model, p = _model(train=False), _biased(params)
  z = 2.0 * jax.random.normal(jax.random.key(6), (16, _LATENT))
  out = np.asarray(models.generate_sentences(
      model, p, z, jax.random.key(0), max_len=8, allow_unk=allow_unk
  ))
  banned = [data.PAD, data.SOS] + ([] if allow_unk else [data.UNK])
  np.testing.assert_array_equal(
      out, _greedy_reference(model, p, z, 8, banned)
  )
  _check_layout(out)
  # Not vacuous: some rows end early, others run out of steps.
  has_eos = (out == data.EOS).any(axis=1)
  assert has_eos.any() and not has_eos.all()
  assert (data.UNK in out) == allow_unk


def test_sampling_is_deterministic_in_key_and_top1_is_greedy(params):
  model, p = _model(train=False), _biased(params)
  z = 2.0 * jax.random.normal(jax.random.key(7), (32, _LATENT))
  generate = lambda key, **kw: np.asarray(models.generate_sentences(
      model, p, z, key, max_len=10, **kw
  ))
  first = generate(jax.random.key(1), mode="sample")
  np.testing.assert_array_equal(
      first, generate(jax.random.key(1), mode="sample")
  )
  assert np.any(first != generate(jax.random.key(2), mode="sample"))
  _check_layout(first)
  assert data.UNK not in first
  np.testing.assert_array_equal(
      generate(jax.random.key(3), mode="top_k", top_k=1),
      generate(jax.random.key(4)),
  )


@pytest.mark.parametrize("mode,top_k", [("sample", 0), ("top_k", 3)])
def test_first_token_frequencies_match_softmax(params, mode, top_k):
  model, p = _model(train=False), _biased(params)
  n, temperature = 20000, 0.7
  z = jnp.tile(jax.random.normal(jax.random.key(8), (1, _LATENT)), (n, 1))
  out = np.asarray(models.generate_sentences(
      model, p, z, jax.random.key(9), max_len=1, mode=mode,
      temperature=temperature, top_k=top_k,
  ))[:, 0]
  logits = _first_logits(model, p, z[:1])[0] / temperature
  logits[[data.PAD, data.SOS, data.UNK]] = -np.inf
  if top_k:
    logits[np.argsort(logits)[:-top_k]] = -np.inf
  probs = special.softmax(logits)
  freq = np.bincount(out, minlength=_VOCAB) / n
  assert np.all(freq[probs == 0] == 0)
  np.testing.assert_array_less(
      np.abs(freq - probs), 5 * np.sqrt(probs * (1 - probs) / n) + 1e-4
  )


def test_generation_does_not_recompile_for_new_codes(params):
  model = _model(train=False)
  generate = lambda z, max_len: models.generate_sentences(
      model, params, z, jax.random.key(0), max_len=max_len
  )
  generate(jnp.zeros((4, _LATENT)), 5)
  size = models.generate_sentences._cache_size()
  generate(jnp.ones((4, _LATENT)), 5)
  assert models.generate_sentences._cache_size() == size
  generate(jnp.ones((4, _LATENT)), 6)  # the counter does count compiles
  assert models.generate_sentences._cache_size() == size + 1


# ------------------------------------------------ train-mode noise (rngs)


@pytest.mark.slow  # whole-model train-mode passes
def test_dropout_only_in_train_mode(params):
  x = jnp.asarray(_rows(_WORDS, width=9))
  keys = jax.random.split(jax.random.key(0), 2)

  def ae_losses(model):  # the "ae" loss under the two keys
    loss_fn = objectives.make_loss_fn(model, loss="ae")
    return np.asarray(jax.jit(jax.vmap(
        lambda key: loss_fn(params, {"x": x}, key)[0]
    ))(keys))

  train = _model(embed_dropout=0.5)
  dropped = ae_losses(train)
  assert dropped[0] != dropped[1]
  evaluation = ae_losses(train.clone(train=False))
  assert evaluation[0] == evaluation[1]
  # The "ae" loss has no other noise: without dropout, train == eval.
  np.testing.assert_array_equal(
      ae_losses(_model(embed_dropout=0.0)), evaluation
  )


@pytest.mark.slow  # whole-model train-mode passes
def test_encoder_unk_masking_only_in_train_mode(params):
  words = ([5, 7], [4, 6, 8])
  x = _rows(words, width=6)
  model = _model(embed_dropout=0.0, encoder_unk_rate=0.5)
  # No key: evaluation must not ask for one, and masks nothing.
  clean = _posterior(model.clone(train=False), params, x)
  for a, b in zip(clean, _posterior(_model(train=False), params, x)):
    np.testing.assert_array_equal(a, b)
  changed = 0
  for seed in range(4):
    mean, stddev = _posterior(model, params, x, jax.random.key(seed))
    changed += int(np.any(mean != clean[0]))
    # Each row is the posterior of its encoder input <sos> w_1 .. w_n with
    # some of the words (never <sos>) replaced by <unk>: search every subset.
    for i, w in enumerate(words):
      candidates = [
          _np_posterior(
              params,
              [data.SOS] + [data.UNK if m else t for m, t in zip(mask, w)],
          )
          for mask in itertools.product([False, True], repeat=len(w))
      ]
      assert any(
          np.allclose(mean[i], ref_mean, atol=1e-5)
          and np.allclose(stddev[i], ref_stddev, atol=1e-5)
          for ref_mean, ref_stddev in candidates
      )
  assert changed >= 3
