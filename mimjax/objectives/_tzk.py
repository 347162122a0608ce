"""TzK objective: samples from M_S (eq G.1) -> the loss of eq G.2."""

import jax
import jax.numpy as jnp
import numpy as np

from mimjax import data
from mimjax import losses
from mimjax import metrics

# How the training samples of eq G.1 are drawn:
#   "mixture":    per mini-batch, encoder or decoder samples with probability
#                 1/2 each (the thesis).
#   "stratified": the first half of every batch from the encoder, the second
#                 from the decoder (the same expectation, lower variance, and
#                 no wasted branch when seeds are vmapped).
#   "encoder":    encoder samples only (the App. G.2.1 alternative).
SAMPLINGS = ("mixture", "stratified", "encoder")


def make_tzk_loss_fn(model, *, sampling="mixture", train_flow=True,
                     num_bits=8):
  """Builds `loss_fn(params, batch, key, beta) -> (loss, aux)` for `TzK`.

  Every step dequantises the batch (t = (x + u) / 2^bits - 1/2). With no
  knowledge types the loss is the t-flow's -log q(t); otherwise it is
  `losses.tzk_mim` on samples of eq G.1. Losses are reported in bits per
  dimension: per-example nats / D + bits log 2, over log 2 (exactly the
  flow's bits/dim when C = 0; the same affine map of the bound otherwise).

  Args:
    model: a `mimjax.models.TzK`.
    sampling: one of `SAMPLINGS`.
    train_flow: False freezes the t-flow (stop-gradient on its parameters):
      the "specialise a t-flow" workflow of Sec. 8.4.4.
    num_bits: bits per pixel of the data (8 for gray levels 0..255).

  Returns:
    The loss function; `batch` holds "x" `[B, *event_shape]` gray levels and,
    with knowledge, "e" `[B, C]` in {0, 1}. `aux` holds "loss" and
    "flow_bpd" (the t-flow's bits/dim on the encoder rows).
  """
  if sampling not in SAMPLINGS:
    raise ValueError(
        f"unknown TzK sampling {sampling!r}; use one of {SAMPLINGS}"
    )
  num_dims = int(np.prod(model.event_shape))
  num_types = len(model.knowledge)
  # Per-example nats to minimise -> bits/dim (`metrics.bits_per_dim`).
  to_bpd = lambda nats: metrics.bits_per_dim(
      -nats, num_dims, num_bits=num_bits
  )

  def freeze(params):
    if train_flow:
      return params
    inner = dict(params["params"])
    inner["t_flow"] = jax.lax.stop_gradient(inner["t_flow"])
    return {**params, "params": inner}

  def loss_fn(params, batch, key, beta=1.0):
    del beta  # TzK has no warm-up.
    params = freeze(params)
    key_dq, key_enc, key_dec, key_coin = jax.random.split(key, 4)
    t = data.uniform_dequantize(key_dq, batch["x"], num_bits=num_bits)
    if not num_types:
      _, _, log_q_t = model.apply(params, t, method=model.flow_log_prob)
      flow_bpd = jnp.mean(to_bpd(-log_q_t))
      return flow_bpd, {"loss": flow_bpd, "flow_bpd": flow_bpd}
    e = batch["e"].astype(t.dtype)
    if e.shape[1:] != (num_types,):
      raise ValueError(
          f"batch['e'] has shape {e.shape}, want [B, {num_types}] for "
          f"knowledge types {model.knowledge}"
      )
    half = t.shape[0] // 2 if sampling == "stratified" else t.shape[0]
    enc = model.apply(params, key_enc, t[:half], e[:half],
                      method=model.encoder_terms)
    enc_loss = losses.tzk_mim(*enc)
    flow_bpd = jnp.mean(to_bpd(-enc[0][:, 0]))
    if sampling == "encoder":
      per_example = enc_loss
    else:
      rows = e[half:] if sampling == "stratified" else e
      dec_loss = losses.tzk_mim(
          *model.apply(params, key_dec, rows, method=model.decoder_terms)
      )
      if sampling == "stratified":
        per_example = jnp.concatenate([enc_loss, dec_loss])
      else:
        per_example = jnp.where(
            jax.random.bernoulli(key_coin), dec_loss, enc_loss
        )
    loss = jnp.mean(to_bpd(per_example))
    return loss, {"loss": loss, "flow_bpd": flow_bpd}

  return loss_fn
