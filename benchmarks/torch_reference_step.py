"""The PyTorch baseline on this machine: an HVAE step and IS-NLL chunk.

An independent PyTorch re-implementation of the authors' convHVAE_2level
(reference digest Sec. 2.2: gated convolutions / gated dense layers, the same
layer sizes as `mimjax.models.HierarchicalVAE`) or, with `--network=mlp`,
of their all-dense HVAE_2level (`network="mlp"`), and of its VAE loss with a
standard or VampPrior (K = 500) p(z2), timed the way the reference runs it:
NCHW float32, batch 100, Adam, `torch.set_num_threads(--threads)`. It also
times the symmetric MIM step with the RLOO estimator of the decoder half
(K = 2 draws per latent, as mimjax's image default) and one reference
IS-NLL chunk (the image replicated 100 times, the whole
VAE loss including the VampPrior's K encoder passes; S = 5000 is 50 such
chunks per image). It is the yardstick for `benchmarks/image_step.py` and
`benchmarks/is_nll.py`; PyTorch is not a mimjax dependency:

  pip install torch   # CPU build
  python -m benchmarks.torch_reference_step --priors=standard_normal,vamp [--network=mlp]
"""

import math
import sys
import time

from absl import app
from absl import flags

_PRIORS = flags.DEFINE_list("priors", ["standard_normal", "vamp"], "p(z2) kinds.")
_BATCH = flags.DEFINE_integer("batch_size", 100, "Images per step.")
_K = flags.DEFINE_integer("num_pseudo_inputs", 500, "VampPrior K.")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed steps (after 2 warm-up).")
_THREADS = flags.DEFINE_integer("threads", 2, "torch.set_num_threads.")
_NETWORK = flags.DEFINE_enum(
    "network", "conv", ["conv", "mlp"],
    "convHVAE_2level or the dense HVAE_2level.",
)
_ANCHOR = flags.DEFINE_enum(
    "latent_anchor", "standard_normal", ["standard_normal", "learned"],
    "P(z) of the MIM step's decoder half: N(0, I) (mimjax's image configs) "
    "or the learned p(z) (the authors' code).",
)

# (in, out, kernel, stride, padding) of the two encoders' gated convolutions.
_Q_Z2 = ((1, 32, 7, 1, 3), (32, 32, 3, 2, 1), (32, 64, 5, 1, 2),
         (64, 64, 3, 2, 1), (64, 6, 3, 1, 1))
_Q_Z1 = ((1, 32, 3, 1, 1), (32, 32, 3, 2, 1), (32, 64, 3, 1, 1),
         (64, 64, 3, 2, 1), (64, 6, 3, 1, 1))


def _build(torch, vamp, dense):
  """Returns the convHVAE (or, `dense`, the HVAE_2level); its `loss(x)` is
  the `[B]` negative ELBO."""
  nn = torch.nn

  class Gated(nn.Module):

    def __init__(self, layer_h, layer_g):
      super().__init__()
      self.h, self.g = layer_h, layer_g

    def forward(self, x):
      return self.h(x) * torch.sigmoid(self.g(x))

  def gated_conv(c_in, c_out, k, s, p):
    return Gated(nn.Conv2d(c_in, c_out, k, s, p),
                 nn.Conv2d(c_in, c_out, k, s, p))

  def gated_dense(d_in, d_out):
    return Gated(nn.Linear(d_in, d_out), nn.Linear(d_in, d_out))

  def heads(d_in):
    return nn.Linear(d_in, 40), nn.Sequential(nn.Linear(d_in, 40),
                                              nn.Hardtanh(-6.0, 2.0))

  class ConvHVAE(nn.Module):

    def __init__(self):
      super().__init__()
      features = 300 if dense else 294  # of each encoder's x path
      if dense:
        self.q_z2 = nn.Sequential(nn.Flatten(), gated_dense(784, 300),
                                  gated_dense(300, 300))
        self.q_z1_x = nn.Sequential(nn.Flatten(), gated_dense(784, 300))
      else:
        self.q_z2 = nn.Sequential(*[gated_conv(*c) for c in _Q_Z2])
        self.q_z1_x = nn.Sequential(*[gated_conv(*c) for c in _Q_Z1])
      self.q_z2_mean, self.q_z2_logvar = heads(features)
      self.q_z1_z2 = gated_dense(40, features)
      self.q_z1_joint = gated_dense(2 * features, 300)
      self.q_z1_mean, self.q_z1_logvar = heads(300)
      self.p_z1 = nn.Sequential(gated_dense(40, 300), gated_dense(300, 300))
      self.p_z1_mean, self.p_z1_logvar = heads(300)
      self.p_x_z1, self.p_x_z2 = gated_dense(40, 300), gated_dense(40, 300)
      if dense:
        self.p_x_joint = gated_dense(600, 300)
        self.p_x_logits = nn.Linear(300, 784)
      else:
        self.p_x_joint = gated_dense(600, 784)
        self.p_x_convs = nn.Sequential(
            gated_conv(1, 64, 3, 1, 1),
            *[gated_conv(64, 64, 3, 1, 1) for _ in range(3)],
        )
        self.p_x_logits = nn.Conv2d(64, 1, 1)
      if vamp:
        self.pseudo = nn.Linear(_K.value, 784, bias=False)

    def posterior_top(self, x):
      h = self.q_z2(x).flatten(1)
      return self.q_z2_mean(h), self.q_z2_logvar(h)

    def posterior_bottom(self, x, z2):
      h = torch.cat([self.q_z1_x(x).flatten(1), self.q_z1_z2(z2)], 1)
      h = self.q_z1_joint(h)
      return self.q_z1_mean(h), self.q_z1_logvar(h)

    def prior_bottom(self, z2):
      h = self.p_z1(z2)
      return self.p_z1_mean(h), self.p_z1_logvar(h)

    def logits(self, z1, z2):
      h = self.p_x_joint(torch.cat([self.p_x_z1(z1), self.p_x_z2(z2)], 1))
      if dense:
        return self.p_x_logits(h).view(-1, 1, 28, 28)
      return self.p_x_logits(self.p_x_convs(h.view(-1, 1, 28, 28)))

    def pseudo_posteriors(self):
      """(mean, logvar) `[K, 40]` of q(z2 | u_k), or None (p(z2) = N(0, I))."""
      if not vamp:
        return None
      u = nn.functional.hardtanh(
          self.pseudo(torch.eye(_K.value)), 0.0, 1.0).view(-1, 1, 28, 28)
      return self.posterior_top(u)

    def log_prior(self, z1, z2, pseudo):
      """log p(z2) + log p(z1 | z2) `[B]`."""
      if pseudo is None:
        log_pz2 = _normal(z2, torch.zeros_like(z2), torch.zeros_like(z2))
      else:
        log_pz2 = torch.logsumexp(
            _normal(z2[:, None], pseudo[0][None], pseudo[1][None]), 1
        ) - math.log(_K.value)
      return log_pz2 + _normal(z1, *self.prior_bottom(z2))

    def encode(self, x):
      """z ~ q(z|x) and log q(z|x), `[B, 40]` x 2 and `[B]`."""
      mean2, logvar2 = self.posterior_top(x)
      z2 = _sample(mean2, logvar2)
      mean1, logvar1 = self.posterior_bottom(x, z2)
      z1 = _sample(mean1, logvar1)
      return z1, z2, _normal(z1, mean1, logvar1) + _normal(z2, mean2, logvar2)

    def log_q(self, x, z1, z2):
      """log q(z|x) at given z `[B]`."""
      return (_normal(z2, *self.posterior_top(x))
              + _normal(z1, *self.posterior_bottom(x, z2)))

    def loss(self, x):
      """The `[B]` negative ELBO."""
      pseudo = self.pseudo_posteriors()
      z1, z2, log_q = self.encode(x)
      log_px = _log_bernoulli(self.logits(z1, z2), x)
      return log_q - self.log_prior(z1, z2, pseudo) - log_px

    def mim_loss(self, x, draws=2):
      """Symmetric MIM (beta = 1) with the decoder marginal, RLOO with
      `draws` binary samples per latent and B / draws latents (scalar)."""
      pseudo = self.pseudo_posteriors()
      # Encoder half: log q(z|x) cancels (Jensen q(x) at z' = z).
      z1, z2, _ = self.encode(x)
      enc = -(_log_bernoulli(self.logits(z1, z2), x)
              + self.log_prior(z1, z2, pseudo))
      # Decoder half: z ~ P(z) (N(0, I), or p(z) pathwise), x ~ p(x|z),
      # draws per latent.
      n = x.shape[0] // draws
      if _ANCHOR.value == "standard_normal":
        z1, z2 = torch.randn(n, 40), torch.randn(n, 40)
      else:
        if pseudo is None:
          z2 = torch.randn(n, 40)
        else:
          k = torch.randint(0, _K.value, (n,))
          z2 = _sample(pseudo[0][k], pseudo[1][k])
        z1 = _sample(*self.prior_bottom(z2))
      logits = self.logits(z1, z2).repeat(draws, 1, 1, 1)
      z1, z2 = z1.repeat(draws, 1), z2.repeat(draws, 1)
      xs = torch.bernoulli(torch.sigmoid(logits)).detach()
      log_px = _log_bernoulli(logits, xs)
      z1i, z2i, log_qi = self.encode(xs)  # importance sample z'
      log_qx = (_log_bernoulli(self.logits(z1i, z2i), xs)
                + self.log_prior(z1i, z2i, pseudo) - log_qi)
      f = -0.5 * (log_px + self.log_prior(z1, z2, pseudo)
                  + self.log_q(xs, z1, z2) + log_qx)
      by_draw = f.detach().view(draws, n)
      baseline = ((by_draw.sum(0, keepdim=True) - by_draw)
                  / (draws - 1)).view(-1)
      centred = f.detach() - baseline
      dec = f + centred * log_px - (centred * log_px).detach()
      return 0.5 * (enc.mean() + dec.mean())

  return ConvHVAE()


def _normal(z, mean, logvar):
  """log N(z; mean, exp(logvar)) without the 2 pi constant, summed: `[B]`."""
  return (-0.5 * (logvar + (z - mean) ** 2 / logvar.exp())).sum(-1)


def _sample(mean, logvar):
  import torch  # pylint: disable=g-import-not-at-top
  return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def _log_bernoulli(logits, x):
  import torch  # pylint: disable=g-import-not-at-top
  return -torch.nn.functional.binary_cross_entropy_with_logits(
      logits, x, reduction="none").flatten(1).sum(1)


def _time(fn, steps):
  for _ in range(2):
    fn()
  start = time.perf_counter()
  for _ in range(steps):
    fn()
  return (time.perf_counter() - start) / steps


def main(argv):
  del argv
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit("PyTorch is not installed: `pip install torch` (CPU build)")
  torch.manual_seed(0)
  torch.set_num_threads(_THREADS.value)
  print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"network {_NETWORK.value}, batch {_BATCH.value}, K = {_K.value}, "
        f"MIM anchor {_ANCHOR.value}")
  print("| prior | VAE step images/s | MIM step (RLOO K = 2) images/s | "
        "IS-NLL s per image at S = 5000 |")
  print("| --- | --- | --- | --- |")
  for prior in _PRIORS.value:
    model = _build(torch, prior == "vamp", _NETWORK.value == "mlp")
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    x = (torch.rand(_BATCH.value, 1, 28, 28) < 0.13).float()

    def step():
      optimizer.zero_grad()
      model.loss(x).mean().backward()
      optimizer.step()

    def mim_step():
      optimizer.zero_grad()
      model.mim_loss(x).backward()
      optimizer.step()

    def is_chunk():
      with torch.no_grad():
        return model.loss(x[:1].expand(100, 1, 28, 28).contiguous())

    step_s = _time(step, _STEPS.value)
    mim_s = _time(mim_step, _STEPS.value)
    chunk_s = _time(is_chunk, _STEPS.value)
    print(f"| {prior} | {_BATCH.value / step_s:.1f} | "
          f"{_BATCH.value / mim_s:.1f} | {50 * chunk_s:.1f} |", flush=True)


if __name__ == "__main__":
  app.run(main)
