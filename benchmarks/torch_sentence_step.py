"""The PyTorch baseline for the sentence step: the authors' GRU sVAE / sMIM.

An independent PyTorch re-implementation of the reference sentence model
(reference digest Sec. 2.5; `mimjax.models.SentenceVAE`): one shared
embedding (V = 10,002, E = 300), a 1-layer GRU encoder (H = 512) over the
input reversed within each length and packed, so its final state is the one
at the true last token; q(z|x) from two linear heads; the decoder state
h_0 = W z + b and, at every step, [dropout_0.5(embedding); z] into a packed
1-layer GRU; the V-way output layer and log-softmax on the padded outputs
and a summed NLL that ignores pads, as the reference does (model.py:204-205,
train.py:91). The loss is sMIM's (Alg. 4: -log p(x|z) - 1/2 (log q(z|x) +
log N(z; 0, I))) or the sVAE's negative ELBO; Adam 1e-3 with the gradient
norm clipped at 0.25, batch 20. The batch is the one
`benchmarks.sentence_step` times (the same seed and PTB-like lengths,
padded to `--max_len`), so the two print comparable sentences/s:

  pip install torch   # CPU build; PyTorch is not a mimjax dependency
  python -m benchmarks.torch_sentence_step --losses=smim,vae --latent_dims=128,512
  python -m benchmarks.sentence_step --losses=smim,vae --latent_dims=128,512

With `--ptb=/folder/ptb.train.txt.gz` it times the authors' training loop
instead: `--steps` random batches of PTB's real sentence lengths (random
word ids), each padded to its own longest sentence, as the reference's
`pad_packed_sequence` does before the output layer. Its sentences/s is
comparable with a mimjax epoch's training rate (length buckets, see
BUILD_NOTES).
"""

import math
import sys

from absl import app
from absl import flags
import numpy as np

from benchmarks import _sentence_batch
from benchmarks import _timing

_PAD, _SOS = _sentence_batch.PAD, _sentence_batch.SOS

_LOSSES = flags.DEFINE_list("losses", ["smim", "vae"], "smim and/or vae.")
_LATENTS = flags.DEFINE_list("latent_dims", ["128", "512"], "Latent sizes.")
_BATCH = flags.DEFINE_integer("batch_size", 20, "Sentences per step.")
_MAX_LEN = flags.DEFINE_integer("max_len", 64, "Padded length (incl. eos).")
_VOCAB = flags.DEFINE_integer("vocab_size", 10002, "Vocabulary size.")
_STEPS = flags.DEFINE_integer("steps", 20, "Steps (batches) per timing.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timings (best is kept).")
_THREADS = flags.DEFINE_integer("threads", 2, "torch.set_num_threads.")
_PTB = flags.DEFINE_string(
    "ptb", "", "ptb.train.txt[.gz]: time random batches of its lengths, "
    "each padded to its longest sentence (the authors' loop), instead of "
    "one full-width batch."
)

def _build(torch, latent_dim):
  """The sentence auto-encoder; `loss(x, kind)` is the batch-mean loss."""
  nn = torch.nn
  pack = nn.utils.rnn.pack_padded_sequence
  unpack = nn.utils.rnn.pad_packed_sequence
  hidden, embed_dim = 512, 300

  class SentenceAE(nn.Module):

    def __init__(self):
      super().__init__()
      self.embed = nn.Embedding(_VOCAB.value, embed_dim)
      self.encoder = nn.GRU(embed_dim, hidden, batch_first=True)
      self.decoder = nn.GRU(embed_dim + latent_dim, hidden, batch_first=True)
      self.to_mean = nn.Linear(hidden, latent_dim)
      self.to_logvar = nn.Linear(hidden, latent_dim)
      self.to_hidden = nn.Linear(latent_dim, hidden)
      self.to_vocab = nn.Linear(hidden, _VOCAB.value)
      self.dropout = nn.Dropout(0.5)

    def loss(self, x, lengths, kind):
      inputs = torch.cat([torch.full_like(x[:, :1], _SOS), x[:, :-1]], 1)
      steps = torch.arange(x.shape[1])[None, :]
      inputs = torch.where(steps < lengths[:, None], inputs, _PAD)
      flip = torch.where(steps < lengths[:, None],
                         lengths[:, None] - 1 - steps, steps)
      reversed_inputs = torch.gather(inputs, 1, flip)
      _, h_last = self.encoder(pack(
          self.embed(reversed_inputs), lengths, batch_first=True,
          enforce_sorted=False))
      mean, logvar = self.to_mean(h_last[0]), self.to_logvar(h_last[0])
      z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
      step_in = torch.cat([
          self.dropout(self.embed(inputs)),
          z[:, None, :].expand(-1, x.shape[1], -1)], -1)
      outputs, _ = self.decoder(
          pack(step_in, lengths, batch_first=True, enforce_sorted=False),
          self.to_hidden(z)[None])
      outputs, _ = unpack(outputs, batch_first=True,
                          total_length=x.shape[1])  # the batch's width
      log_probs = torch.log_softmax(self.to_vocab(outputs), -1)
      nll = nn.functional.nll_loss(
          log_probs.transpose(1, 2), x, ignore_index=_PAD, reduction="none"
      ).sum(1)
      log_q = _log_normal(z, mean, logvar)
      log_p = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
      if kind == "smim":
        return (nll - 0.5 * (log_q + log_p)).mean()
      return (nll + log_q - log_p).mean()

  return SentenceAE()


def _log_normal(z, mean, logvar):
  return -0.5 * (logvar + (z - mean) ** 2 / logvar.exp()
                 + math.log(2 * math.pi)).sum(-1)


def main(argv):
  del argv
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit("PyTorch is not installed: `pip install torch` (CPU build)")
  torch.manual_seed(0)
  torch.set_num_threads(_THREADS.value)
  batches = _batches(torch)
  tokens = sum(int((x != _PAD).sum()) for x in batches)
  width = sum(x.shape[0] * x.shape[1] for x in batches)
  print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{len(batches)} batch(es) of {_BATCH.value}, {tokens / width:.0%} "
        f"real tokens, V = {_VOCAB.value}, H = 512, E = 300")
  print("| latent | loss | sentences/s | tokens/s |")
  print("| --- | --- | --- | --- |")
  for d in map(int, _LATENTS.value):
    for kind in _LOSSES.value:
      model = _build(torch, d)
      optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

      def step(x):
        optimizer.zero_grad()
        model.loss(x, (x != _PAD).sum(1), kind).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        optimizer.step()

      seconds = _timing.best_seconds(
          lambda: [step(x) for x in batches], _REPEATS.value
      )
      rate = len(batches) * _BATCH.value / seconds
      print(f"| {d} | {kind} | {rate:.1f} | {tokens / seconds:.0f} |",
            flush=True)


def _batches(torch):
  """The `--steps` timed batches: `benchmarks.sentence_step`'s full-width
  batch each time, or (`--ptb`) random batches of PTB lengths, each as
  wide as its longest sentence."""
  rng = np.random.default_rng(0)
  if not _PTB.value:
    return [torch.from_numpy(_sentence_batch.ptb_like_batch(
        rng, _BATCH.value, _MAX_LEN.value, _VOCAB.value)).long()
           ] * _STEPS.value
  lengths = _sentence_batch.ptb_lengths(_PTB.value, _MAX_LEN.value)
  out = []
  for _ in range(_STEPS.value):
    chosen = rng.choice(lengths, _BATCH.value, replace=False)
    out.append(torch.from_numpy(_sentence_batch.batch_of_lengths(
        rng, chosen, _VOCAB.value, int(chosen.max()))).long())
  return out


if __name__ == "__main__":
  app.run(main)
