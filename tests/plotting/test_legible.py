"""Every figure type of mimjax.plotting is legible at its saved size.

Each figure is drawn with the experiments' worst-case inputs (long titles
over few image columns, long run names, crowded or long tick labels) and
checked with `_figure.illegible_texts` as it is written: no text may leave
the canvas or overlap another text, tick labels included.
"""

from matplotlib import figure
import numpy as np
import pytest

from mimjax import plotting
from mimjax.plotting import _figure

_RNG = np.random.default_rng(0)
_TOY_RUNS = ("mim_h_h5_z2", "vae_h_h500_z2", "vae_then_mim_h500_z20")


@pytest.fixture(name="problems")
def _record_problems(monkeypatch):
  """Illegible texts of each figure, found just before it is written."""
  problems = []
  savefig = figure.Figure.savefig

  def checking_savefig(fig, *args, **kwargs):
    problems.append(_figure.illegible_texts(fig))
    return savefig(fig, *args, **kwargs)

  monkeypatch.setattr(figure.Figure, "savefig", checking_savefig)
  return problems


def _images(n, size=28, channels=()):
  return _RNG.uniform(size=(n, size, size) + channels)


def _sweep_runs(x_key, xs):
  """Two seeds of three losses at each x, with five-digit metrics."""
  return [
      {
          "loss": loss, "hidden": 50, "latent_dim": 2, x_key: x, "seed": seed,
          "metrics": {m: 1e4 * _RNG.normal() for m in ("mi_ksg", "nll")},
      }
      for loss in ("mim", "vae", "vae_then_mim") for x in xs
      for seed in range(2)
  ]


def _toy_2d_panel(title):
  points = _RNG.normal(size=(200, 2))
  return {"title": title, "x_test": points, "x_recon": points,
          "z_mean": points, "z_std": np.full((200, 2), 0.3)}


def _toy_1d_panel(title):
  grid = np.linspace(-4, 4, 100)
  density = np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi)
  return {
      "title": title, "x_grid": grid, "anchor_x": density,
      "model_x": density, "x_samples": _RNG.normal(size=500),
      "z_grid": grid, "anchor_z": density, "model_z": density,
      "z_samples": _RNG.normal(size=500),
  }


def _melbo(path, num_test):
  """Fig. D.2 at the K of experiments/sentence_mim.py for `num_test`."""
  sizes = [s for s in (10, 30, 100, 300, 1000, 3000) if s < num_test]
  sizes.append(num_test)
  return plotting.plot_melbo_vs_sample_size(
      sizes, 100.0 + np.log(sizes), path
  )


# (figure type, case) -> writes a worst-case figure of that type to a path.
_FIGURES = {
    ("image_grid", "16 with a long title"): lambda path: plotting.image_grid(
        _images(16), path, ncols=4,
        title="mnist vamp mim: reconstructions (means)",
    ),
    ("image_grid", "100 in 10 columns"): lambda path: plotting.image_grid(
        _images(100), path, ncols=10,
        title="fashion_mnist vamp mim: samples (means at z ~ p(z))",
    ),
    ("image_grid", "TzK samples"): lambda path: plotting.image_grid(
        _images(4, 32, (3,)), path, ncols=2,
        title="t ~ p(t | e = 1) for mnist:3, 2 Gibbs sweeps",
    ),
    ("image_grid", "unbreakable title"): lambda path: plotting.image_grid(
        _images(1, 32, (3,)), path,
        title="mnist+fashion_mnist+cifar10: test data",
    ),
    ("latent_scatter", "legend"): lambda path: plotting.latent_scatter(
        _RNG.normal(size=(300, 2)) * 1e3, _RNG.integers(0, 10, 300), path,
        title="fashion_mnist vamp mim: t-SNE of z ~ q(z|x)",
    ),
    ("latent_scatter", "colorbar"): lambda path: plotting.latent_scatter(
        _RNG.normal(size=(300, 5)), _RNG.integers(0, 50, 300), path,
        title="omniglot vamp vae: t-SNE of z ~ q(z|x)",
    ),
    ("metric_sweep", "hidden"): lambda path: plotting.metric_sweep(
        _sweep_runs("hidden", (5, 10, 20, 50, 100, 200, 500, 1000)),
        x_key="hidden", metrics=("mi_ksg", "nll"), path=path,
    ),
    ("metric_sweep", "crowded latent_dim"): lambda path: plotting.metric_sweep(
        _sweep_runs("latent_dim", (1, 2, 3, 4, 5, 10, 20, 50, 100)),
        x_key="latent_dim", metrics=("mi_ksg", "nll"), path=path,
    ),
    ("training_curves", "long names"): lambda path: plotting.training_curves(
        {name: [(e, 1e5 / (e + 1)) for e in range(200)] for name in _TOY_RUNS},
        path, metric="val loss (bits/dim)",
    ),
    ("training_curves", "a 20-run sweep"): lambda path: (
        plotting.training_curves(
            {f"{loss}_h50_z{z}": [(e, 4e3 if e < 3 else 70.0 + z / (e + 1))
                                  for e in range(200)]
             for loss in ("mim", "vae") for z in range(2, 22, 2)},
            path,
        )
    ),
    ("reconstructions_and_posteriors", "long names"): (
        lambda path: plotting.reconstructions_and_posteriors(
            [_toy_2d_panel(name) for name in _TOY_RUNS],
            lambda points: -0.5 * (points**2).sum(-1), path,
        )
    ),
    ("densities_1d", "long names"): lambda path: plotting.densities_1d(
        [_toy_1d_panel(name) for name in _TOY_RUNS], path
    ),
    ("plot_log_prob_histograms", "dropped, wide ticks"): (
        lambda path: plotting.plot_log_prob_histograms(
            1e4 * _RNG.normal(size=200),
            np.append(1e4 * _RNG.normal(size=1000) - 1e5, [np.nan] * 12),
            path, title="yahoo smim (z = 1024)",
        )
    ),
    ("plot_melbo_vs_sample_size", "small test set"): (
        lambda path: _melbo(path, 60)
    ),
    ("plot_melbo_vs_sample_size", "PTB test set"): (
        lambda path: _melbo(path, 3370)
    ),
    ("plot_per_sentence_histograms", "dropped"): (
        lambda path: plotting.plot_per_sentence_histograms(
            {"MELBO": np.append(1e3 * _RNG.normal(size=500), [np.inf] * 20),
             "ELBO": 1e3 * _RNG.normal(size=500) + 1e4},
            path, xlabel="NLL bound (nats)",
        )
    ),
}


def test_every_figure_type_is_checked():
  figure_types = set(plotting.__all__) - {"LOSS_COLORS", "loss_color"}
  assert {kind for kind, _ in _FIGURES} == figure_types


@pytest.mark.parametrize(
    "kind, case", list(_FIGURES), ids=[": ".join(key) for key in _FIGURES]
)
def test_figure_is_legible(tmp_path, problems, kind, case):
  _FIGURES[kind, case](str(tmp_path / "figure.png"))
  assert problems == [[]]
