"""Tests of the sentence-experiment figures (thesis Fig. 7.1, D.2, D.3)."""

import os

from matplotlib import image
import numpy as np
import pytest

from mimjax import plotting
from mimjax.plotting import _figure


@pytest.fixture(name="titles")
def _record_titles(monkeypatch):
  """Titles of every axes of each saved figure, recorded before saving."""
  titles = []
  save = _figure.save

  def recording_save(fig, path):
    titles.append([ax.get_title() for ax in fig.axes])
    return save(fig, path)

  monkeypatch.setattr(_figure, "save", recording_save)
  return titles


def _check_png(path, width_over_height):
  assert os.path.isfile(path)
  assert os.path.getsize(path) > 5_000
  height, width = image.imread(path).shape[:2]
  assert width / height == pytest.approx(width_over_height, rel=0.02)


def test_log_prob_histograms(tmp_path, titles):
  rng = np.random.default_rng(0)
  same = rng.normal(5.0, 1.0, size=200)
  other = np.append(rng.normal(-20.0, 5.0, size=1000), [-np.inf, np.nan])
  path = str(tmp_path / "sub" / "fig71.png")
  assert plotting.plot_log_prob_histograms(
      same, other, path, title="sMIM"
  ) == path
  _check_png(path, 4.0 / 3.2)
  assert titles == [["sMIM (2 non-finite dropped)"]]


def test_log_prob_histograms_rejects_all_non_finite(tmp_path):
  with pytest.raises(ValueError, match="log_q_other"):
    plotting.plot_log_prob_histograms(
        [1.0, 2.0], [np.nan, np.inf], str(tmp_path / "f.png")
    )


def test_melbo_vs_sample_size(tmp_path, titles):
  rng = np.random.default_rng(0)
  sizes = np.array([1000, 10, 100, 3000])
  nll = 60.0 + np.log(sizes)[:, None] + rng.normal(size=(4, 20)) / sizes[
      :, None
  ]
  nll[1, :3] = np.nan
  path = str(tmp_path / "figd2.png")
  assert plotting.plot_melbo_vs_sample_size(sizes, nll, path) == path
  _check_png(path, 4.0 / 3.2)
  assert titles == [["3 non-finite dropped"]]
  # One value per size (no trials) is drawn without a band.
  plotting.plot_melbo_vs_sample_size(sizes, nll[:, 5], path)
  assert titles[-1] == [""]


@pytest.mark.parametrize(
    "sizes, nll",
    [
        ([10, 100], [1.0, 2.0, 3.0]),
        ([0, 100], [1.0, 2.0]),
        ([10, 100], np.zeros((2, 3, 1))),
        ([10, 100], [np.nan, np.nan]),
    ],
)
def test_melbo_vs_sample_size_rejects(tmp_path, sizes, nll):
  with pytest.raises(ValueError):
    plotting.plot_melbo_vs_sample_size(sizes, nll, str(tmp_path / "f.png"))


def test_per_sentence_histograms(tmp_path, titles):
  rng = np.random.default_rng(0)
  values = {
      "mim_z16": np.append(rng.normal(98.0, 20.0, size=500), np.inf),
      "vae_z16": rng.normal(107.0, 20.0, size=500),
  }
  path = str(tmp_path / "figd3.png")
  assert plotting.plot_per_sentence_histograms(
      values, path, xlabel="NLL bound (nats)"
  ) == path
  _check_png(path, 2 * 4.0 / 3.2)
  assert titles == [["mim_z16 (1 non-finite dropped)", "vae_z16"]]


def test_per_sentence_histograms_rejects(tmp_path):
  path = str(tmp_path / "f.png")
  with pytest.raises(ValueError, match="empty"):
    plotting.plot_per_sentence_histograms({}, path, xlabel="x")
  with pytest.raises(ValueError, match="vae"):
    plotting.plot_per_sentence_histograms(
        {"mim": [1.0], "vae": [np.nan]}, path, xlabel="x"
    )
