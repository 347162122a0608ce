"""Tests of mimjax.plotting: each figure is written with the right shape."""

import os

from matplotlib import image
import numpy as np
import pytest

from mimjax import plotting
from mimjax.plotting import _figure


def _check_png(path, width_over_height):
  """Asserts `path` is a non-trivial PNG with the given aspect ratio."""
  assert os.path.isfile(path)
  assert os.path.getsize(path) > 5_000
  pixels = image.imread(path)
  height, width = pixels.shape[:2]
  assert width / height == pytest.approx(width_over_height, rel=0.02)


def _ring_log_density(points):
  """Log-density `[M]` of 8 Gaussians (std 0.2) on a circle of radius 1.5."""
  angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
  centres = 1.5 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
  sq = ((points[:, None, :] - centres[None]) ** 2).sum(-1) / 0.2**2
  return np.log(np.exp(-0.5 * sq).mean(-1) / (2 * np.pi * 0.2**2))


def _posterior_panel(title, rng, n=300, std=0.1):
  x = 1.5 * rng.normal(size=(n, 2)) / 2
  return {
      "title": title,
      "x_test": x,
      "x_recon": x + 0.05 * rng.normal(size=(n, 2)),
      "z_mean": rng.normal(size=(n, 2)),
      "z_std": std * np.ones((n, 2)),
  }


def _runs():
  runs = []
  for offset, loss in enumerate(("mim", "vae")):
    for hidden in (5, 20, 500):
      for seed in range(3):
        runs.append({
            "loss": loss, "hidden": hidden, "latent_dim": 2, "seed": seed,
            "metrics": {
                "mi_ksg": np.log(hidden) + 0.1 * seed - offset,
                "nll": 3.0 - 0.1 * seed + offset,
                "recon_err": (1.0 + offset) / hidden,
            },
        })
  return runs


def test_reconstructions_and_posteriors(tmp_path):
  rng = np.random.default_rng(0)
  panels = [_posterior_panel("mim", rng, std=0.05),
            _posterior_panel("vae", rng, std=0.8)]
  path = str(tmp_path / "sub" / "fig51.png")
  out = plotting.reconstructions_and_posteriors(
      panels, _ring_log_density, path, max_ellipses=50
  )
  assert out == path
  _check_png(path, 2 / 2)


@pytest.mark.parametrize(
    "key, shape", [("x_test", (300, 3)), ("z_std", (300,)), ("z_mean", (10, 2))]
)
def test_reconstructions_and_posteriors_rejects_bad_shapes(
    tmp_path, key, shape
):
  panel = _posterior_panel("mim", np.random.default_rng(0))
  panel[key] = np.zeros(shape)
  with pytest.raises(ValueError, match=key if shape[0] == 300 else "length"):
    plotting.reconstructions_and_posteriors(
        [panel], _ring_log_density, str(tmp_path / "bad.png")
    )


def test_reconstructions_and_posteriors_rejects_bad_log_density(tmp_path):
  panel = _posterior_panel("mim", np.random.default_rng(0))
  with pytest.raises(ValueError, match="anchor_log_density"):
    plotting.reconstructions_and_posteriors(
        [panel], lambda p: p, str(tmp_path / "bad.png")
    )


@pytest.mark.parametrize("x_key", ["hidden", "latent_dim"])
def test_metric_sweep(tmp_path, x_key):
  path = str(tmp_path / "sweep.png")
  metrics = ["mi_ksg", "nll", "recon_err"]
  out = plotting.metric_sweep(
      _runs(), x_key=x_key, metrics=metrics, path=path,
      labels={"mi_ksg": "MI (KSG)"},
  )
  assert out == path
  _check_png(path, 3 * 3.6 / 3.2)


def test_metric_sweep_missing_metric(tmp_path):
  runs = _runs()
  del runs[4]["metrics"]["nll"]
  with pytest.raises(ValueError, match=r"run 4 .* has no metric 'nll'"):
    plotting.metric_sweep(
        runs, x_key="hidden", metrics=["mi_ksg", "nll"],
        path=str(tmp_path / "sweep.png"),
    )


def test_metric_sweep_missing_x_key(tmp_path):
  runs = _runs()
  del runs[0]["hidden"]
  with pytest.raises(ValueError, match="run 0 .* has no x_key 'hidden'"):
    plotting.metric_sweep(
        runs, x_key="hidden", metrics=["nll"],
        path=str(tmp_path / "sweep.png"),
    )


def test_densities_1d(tmp_path):
  rng = np.random.default_rng(0)
  grid = np.linspace(-4, 4, 200)
  normal = np.exp(-0.5 * grid**2) / np.sqrt(2 * np.pi)
  panels = [
      {
          "title": title,
          "x_grid": grid, "anchor_x": normal, "model_x": 0.9 * normal,
          "x_samples": rng.normal(size=1000),
          "z_grid": grid, "anchor_z": normal, "model_z": normal,
          "z_samples": rng.normal(size=1000),
      }
      for title in ("mim", "vae")
  ]
  path = str(tmp_path / "densities.png")
  assert plotting.densities_1d(panels, path) == path
  _check_png(path, 2 / 2)
  panels[0]["model_z"] = normal[:-1]
  with pytest.raises(ValueError, match="mismatched lengths"):
    plotting.densities_1d(panels, path)


def test_training_curves(tmp_path):
  curves = {
      name: [(epoch, 1.0 / (epoch + 1) + offset) for epoch in range(20)]
      for offset, name in enumerate(["mim_h5_z2", "mim_h20_z2", "vae_h5_z2"])
  }
  path = str(tmp_path / "curves.png")
  assert plotting.training_curves(curves, path) == path
  _check_png(path, 3.6 / 3.2)


def _sweep_curves():
  """Ten MIM and ten VAE runs of 200 epochs with a warm-up spike of 4000."""
  return {
      f"{loss}_h50_z{2 * k + 2}": [
          (epoch, 4000.0 if epoch < 3 else 70.0 + k + 10.0 / (epoch + 1))
          for epoch in range(200)
      ]
      for loss in ("mim", "vae") for k in range(10)
  }


def _capture_axes(monkeypatch):
  """Patches `_figure.save` to record, before saving, the first axes' legend
  texts ("legend") and y limits ("ylim"); returns the record."""
  seen = {}
  save = _figure.save

  def capturing_save(fig, path):
    ax = fig.axes[0]
    seen["legend"] = [t.get_text() for t in ax.get_legend().get_texts()]
    seen["ylim"] = ax.get_ylim()
    return save(fig, path)

  monkeypatch.setattr(_figure, "save", capturing_save)
  return seen


def test_training_curves_of_a_sweep_name_losses_and_skip_the_warm_up(
    tmp_path, monkeypatch
):
  seen = _capture_axes(monkeypatch)
  path = str(tmp_path / "curves.png")
  plotting.training_curves(_sweep_curves(), path)
  assert seen["legend"] == ["mim (10 runs)", "vae (10 runs)"]
  low, high = seen["ylim"]
  assert low < 70.0 and 79.0 < high < 100.0  # the spike of 4000 is off the top
  _check_png(path, 3.6 / 3.2)


def test_training_curves_keep_a_rising_metrics_low_start(tmp_path, monkeypatch):
  seen = _capture_axes(monkeypatch)
  rising = {"smim": [(epoch, 0.3 * epoch / 19) for epoch in range(20)]}
  plotting.training_curves(rising, str(tmp_path / "bleu.png"), metric="BLEU")
  low, high = seen["ylim"]
  assert low < 0.0 and 0.3 < high < 0.35


def test_training_curves_name_few_runs_one_by_one(tmp_path, monkeypatch):
  seen = _capture_axes(monkeypatch)
  curves = dict(list(_sweep_curves().items())[:3])
  plotting.training_curves(curves, str(tmp_path / "curves.png"))
  assert seen["legend"] == list(curves)


def test_loss_colors():
  assert plotting.loss_color("mim") == "tab:blue"
  assert plotting.loss_color("vae_h20_z2") == "tab:red"
  assert plotting.loss_color("vae_h_h20_z2") == "tab:orange"
  assert plotting.loss_color("smim mean z") == "tab:blue"
  assert plotting.loss_color("ae z~q") == "tab:gray"
  assert plotting.loss_color("aemim") != "tab:gray"


@pytest.mark.parametrize(
    "shape, dtype",
    [((23, 16, 16), np.float32), ((23, 16, 16, 3), np.uint8),
     ((23, 16, 16, 1), np.float64)],
)
def test_image_grid(tmp_path, shape, dtype):
  rng = np.random.default_rng(0)
  images = rng.uniform(size=shape)
  if dtype == np.uint8:
    images = (255 * images).astype(np.uint8)
  path = str(tmp_path / "grid.png")
  assert plotting.image_grid(
      images.astype(dtype), path, ncols=8, title="samples"
  ) == path
  # 8 x 3 tiles of 0.05 in + 1 px gaps, 0.2 in margins, 0.4 in for the title.
  width, height = 0.8 / 16 * (8 * 17 - 1) + 0.2, 0.8 / 16 * (3 * 17 - 1) + 0.6
  _check_png(path, width / height)


@pytest.mark.parametrize("dim", [2, 5])
def test_latent_scatter(tmp_path, dim):
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 10, size=500)
  z = rng.normal(size=(500, dim)) + labels[:, None]
  path = str(tmp_path / "scatter.png")
  assert plotting.latent_scatter(z, labels, path, title="latents") == path
  _check_png(path, 5.5 / 4.5)


def test_latent_scatter_many_classes_and_bad_shapes(tmp_path):
  rng = np.random.default_rng(0)
  path = str(tmp_path / "scatter.png")
  plotting.latent_scatter(
      rng.normal(size=(500, 3)), rng.integers(0, 50, size=500), path
  )
  _check_png(path, 5.5 / 4.5)
  with pytest.raises(ValueError, match="labels"):
    plotting.latent_scatter(rng.normal(size=(5, 2)), np.zeros(4), path)
