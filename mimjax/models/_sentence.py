"""The GRU sentence auto-encoder of sentenceMIM / sVAE (thesis Figs 6.1, 6.2).

A sentence is a row of token ids `x = (w_1 .. w_n, <eos>, <pad> ..)`
(`mimjax.data.encode_sentences`); its length L = n + 1 is the number of
non-pad tokens. The decoder reads `<sos> w_1 .. w_n` (teacher forcing) and
predicts x; the encoder reads the same input reversed within its length and
stops at its true last token (reference digest Sec. 2.5).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from mimjax import data
from mimjax import distributions
from mimjax.models import _init


def gru_step(h, x_proj, hidden_kernel, hidden_bias):
  """One GRU update, `h [B, H]`, `x_proj [B, 3H]` -> `[B, H]` (see `GRU`)."""
  hh = h @ hidden_kernel + hidden_bias
  xr, xz, xn = jnp.split(x_proj, 3, axis=-1)
  hr, hz, hn = jnp.split(hh, 3, axis=-1)
  r = jax.nn.sigmoid(xr + hr)
  u = jax.nn.sigmoid(xz + hz)
  n = jnp.tanh(xn + r * hn)
  return (1.0 - u) * n + u * h


class GRU(nn.Module):
  """A one-layer GRU with PyTorch's gate layout, scanned with `lax.scan`.

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    u = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - u) * n + u * h

  The input projection of all T steps is one matmul outside the scan; only
  `h @ W_h` runs sequentially.

  Attributes:
    features: hidden size H.
  """

  features: int

  def setup(self):
    init = _init.torch_uniform(self.features**-0.5)
    self.input_kernel = nn.Dense(3 * self.features, kernel_init=init,
                                 bias_init=init, name="input")
    self.hidden_kernel = self.param(
        "hidden_kernel", init, (self.features, 3 * self.features)
    )
    self.hidden_bias = self.param("hidden_bias", init, (3 * self.features,))

  def step(self, h, x_proj):
    """One step: `h [B, H]`, projected input `x_proj [B, 3H]` -> `[B, H]`."""
    return gru_step(h, x_proj, self.hidden_kernel, self.hidden_bias)

  def project(self, x):
    """`[..., D]` inputs -> `[..., 3H]` input projections."""
    return self.input_kernel(x)

  def __call__(self, x, h0, lengths):
    """Runs the GRU over `x [B, T, D]` from `h0 [B, H]`.

    Steps t >= lengths[b] leave row b's state unchanged, so the returned
    final state is the state after its true last token.

    Returns:
      (outputs `[B, T, H]`, final state `[B, H]`).
    """
    x_proj = self.project(x)
    hidden_kernel, hidden_bias = self.hidden_kernel, self.hidden_bias

    def body(h, inputs):
      xp, t = inputs
      h_new = gru_step(h, xp, hidden_kernel, hidden_bias)
      h_new = jnp.where((t < lengths)[:, None], h_new, h)
      return h_new, h_new

    steps = jnp.arange(x.shape[1])
    h_last, outputs = jax.lax.scan(
        body, h0, (jnp.swapaxes(x_proj, 0, 1), steps)
    )
    return jnp.swapaxes(outputs, 0, 1), h_last


def sequence_lengths(x):
  """`[B, T]` token ids -> `[B]` int32 count of non-pad tokens."""
  return jnp.sum(x != data.PAD, axis=-1).astype(jnp.int32)


def decoder_inputs(x):
  """`(w_1 .. w_n, <eos>, pad..)` -> `(<sos>, w_1 .. w_n, pad..)`, `[B, T]`."""
  shifted = jnp.concatenate(
      [jnp.full_like(x[:, :1], data.SOS), x[:, :-1]], axis=1
  )
  lengths = sequence_lengths(x)
  keep = jnp.arange(x.shape[1])[None, :] < lengths[:, None]
  return jnp.where(keep, shifted, data.PAD)


def reverse_within_length(x, lengths):
  """Reverses each row's first `lengths[b]` entries; pads stay in place.

  Args:
    x: `[B, T, ...]`.
    lengths: `[B]`.

  Returns:
    `[B, T, ...]` with row b = (x[b, L-1], .., x[b, 0], x[b, L], ..).
  """
  t = jnp.arange(x.shape[1])[None, :]
  idx = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
  idx = idx.reshape(idx.shape + (1,) * (x.ndim - 2))
  return jnp.take_along_axis(x, idx, axis=1)


class SentenceVAE(nn.Module):
  """Bowman-style GRU auto-encoder with a Gaussian posterior (ch. 6).

  The same network is an sVAE, an sMIM or a deterministic AE; only the loss
  differs (`mimjax.objectives.make_loss_fn` with "vae", "smim" or "ae").

  Attributes:
    vocab_size: V, including the 4 special tokens.
    embed_dim: E, word embedding size (PTB: 300), shared by encoder and
      decoder.
    hidden_dim: H, GRU state size (PTB: 512).
    latent_dim: d (PTB: 16, 128 or 512).
    embed_dropout: dropout rate on the decoder's input embeddings (0.5).
    encoder_unk_rate: fraction of the encoder's input words replaced by <unk>
      in training (App. E.4 uses 0.2 for question answering; default 0).
    min_logvar: floor on log sigma^2 of q(z|x) (the reference's -10).
    train: dropout and <unk> masking on (True) or off (evaluation).
  """

  vocab_size: int
  embed_dim: int = 300
  hidden_dim: int = 512
  latent_dim: int = 16
  embed_dropout: float = 0.5
  encoder_unk_rate: float = 0.0
  min_logvar: float = -10.0
  train: bool = True

  def setup(self):
    self.embed = nn.Embed(
        self.vocab_size, self.embed_dim,
        embedding_init=nn.initializers.normal(1.0),
    )
    self.encoder = GRU(self.hidden_dim)
    self.decoder = GRU(self.hidden_dim)
    head = _init.torch_uniform(self.hidden_dim**-0.5)
    self.to_mean = nn.Dense(self.latent_dim, kernel_init=head, bias_init=head)
    self.to_logvar = nn.Dense(
        self.latent_dim, kernel_init=head, bias_init=head
    )
    latent = _init.torch_uniform(self.latent_dim**-0.5)
    self.to_hidden = nn.Dense(
        self.hidden_dim, kernel_init=latent, bias_init=latent
    )
    self.to_vocab = nn.Dense(self.vocab_size, kernel_init=head, bias_init=head)
    self.dropout = nn.Dropout(self.embed_dropout)

  def __call__(self, x):
    """Initialisation entry point: the decoder log-probability at q's mean."""
    return self.decode(self.encode(x).mean()).log_prob(x)

  def encode(self, x):
    """q(z|x) = N(mu(h_L), diag sigma^2(h_L)) (eq 6.3).

    Args:
      x: `[B, T]` int token ids.

    Returns:
      A distrax diagonal Gaussian with batch `[B]`, event `[d]`.
    """
    x = jnp.asarray(x, jnp.int32)
    lengths = sequence_lengths(x)
    inputs = decoder_inputs(x)
    if self.train and self.encoder_unk_rate > 0:
      drop = jax.random.bernoulli(
          self.make_rng("dropout"), self.encoder_unk_rate, inputs.shape
      )
      words = (inputs != data.PAD) & (inputs != data.SOS)
      inputs = jnp.where(drop & words, data.UNK, inputs)
    reversed_inputs = reverse_within_length(inputs, lengths)
    h0 = jnp.zeros((x.shape[0], self.hidden_dim), jnp.float32)
    _, h_last = self.encoder(self.embed(reversed_inputs), h0, lengths)
    mean = self.to_mean(h_last)
    logvar = jnp.maximum(self.to_logvar(h_last), self.min_logvar)
    return distributions.diag_gaussian(mean, jnp.exp(0.5 * logvar))

  def initial_state(self, z):
    """Decoder state h_0 = W z + b, `[B, d]` -> `[B, H]`."""
    return self.to_hidden(z)

  def _step_inputs(self, tokens, z):
    """[dropout(embed(tokens)); z] for `tokens [B, ...]`, `z [B, d]`."""
    e = self.dropout(self.embed(tokens), deterministic=not self.train)
    z = jnp.broadcast_to(
        z.reshape(z.shape[:1] + (1,) * (tokens.ndim - 1) + z.shape[1:]),
        tokens.shape + z.shape[1:],
    )
    return jnp.concatenate([e, z], axis=-1)

  def decoder_logits(self, z, x):
    """Teacher-forced next-token logits, `[B, d]`, `[B, T]` -> `[B, T, V]`."""
    x = jnp.asarray(x, jnp.int32)
    inputs = self._step_inputs(decoder_inputs(x), z)
    outputs, _ = self.decoder(
        inputs, self.initial_state(z), sequence_lengths(x)
    )
    return self.to_vocab(outputs)

  def decode(self, z):
    """p(x|z) (eq 6.1) as a `SequenceCategorical` over padded rows."""
    return distributions.SequenceCategorical(
        lambda x: self.decoder_logits(z, x), pad_id=data.PAD
    )

  def decode_step(self, h, tokens, z):
    """One generation step: `h [B, H]`, `tokens [B]` -> (h', logits [B, V])."""
    x_proj = self.decoder.project(self._step_inputs(tokens, z))
    h = self.decoder.step(h, x_proj)
    return h, self.to_vocab(h)

  def latent_prior(self):
    """The anchor P(z) = N(0, I) (also the sVAE prior)."""
    return distributions.standard_normal(self.latent_dim)

  def data_prior(self):
    """None: q(x) is the decoder marginal (eq 6.8)."""
    return None
