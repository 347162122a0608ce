"""Data sources and local-file loading, including bad input."""

import gzip
import os
import struct

import jax
import ml_collections
import numpy as np
import pytest

from mimjax import data

SHARED_DATA = os.path.join(
    os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, "shared",
    "data",
)


def _write_idx(path, array, compress):
  header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
      ">" + "I" * array.ndim, *array.shape
  )
  opener = gzip.open if compress else open
  with opener(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def _arrays(rng, n_train=50, n_test=20):
  return dict(
      x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
      y_train=rng.integers(0, 10, n_train).astype(np.uint8),
      x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
      y_test=rng.integers(0, 10, n_test).astype(np.uint8),
  )


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files_round_trip(tmp_path, compress):
  arrays = _arrays(np.random.default_rng(0))
  names = {
      "x_train": "train-images-idx3-ubyte",
      "y_train": "train-labels-idx1-ubyte",
      "x_test": "t10k-images-idx3-ubyte",
      "y_test": "t10k-labels-idx1-ubyte",
  }
  for key, name in names.items():
    suffix = ".gz" if compress else ""
    _write_idx(str(tmp_path / (name + suffix)), arrays[key], compress)
  loaded = data.load_arrays("mnist", str(tmp_path))
  for key in names:
    np.testing.assert_array_equal(loaded[key], arrays[key])


def test_npz_is_preferred_and_validated(tmp_path):
  arrays = _arrays(np.random.default_rng(1))
  np.savez(tmp_path / "mnist.npz", **arrays)
  np.testing.assert_array_equal(
      data.load_arrays("mnist", str(tmp_path))["y_test"], arrays["y_test"]
  )


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("y_test"), "lacks arrays"),
        (lambda a: a.update(y_train=a["y_train"][:-1]), "do not match"),
        (lambda a: a.update(y_train=a["y_train"].astype(np.float32)),
         "integer labels"),
        (lambda a: a.update(x_test=a["x_test"][:, :27]), "differ in shape"),
        (lambda a: a.update(
            x_train=np.where(np.arange(28) == 3, np.nan, 1.0)
            * np.ones((50, 28, 28))), "NaN"),
    ],
)
def test_bad_npz_gets_a_clear_error(tmp_path, change, message):
  arrays = _arrays(np.random.default_rng(2))
  change(arrays)
  np.savez(tmp_path / "mnist.npz", **arrays)
  with pytest.raises(ValueError, match=message):
    data.load_arrays("mnist", str(tmp_path))


def test_missing_files_name_what_to_put_where(tmp_path):
  with pytest.raises(FileNotFoundError, match="config.data.dir"):
    data.load_arrays("mnist", str(tmp_path / "absent"))
  with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
    data.load_arrays("mnist", str(tmp_path))


def test_truncated_idx_is_rejected(tmp_path):
  path = tmp_path / "t.idx"
  _write_idx(str(path), np.zeros((4, 2, 2)), compress=False)
  with open(path, "r+b") as f:
    f.truncate(20)
  with pytest.raises(ValueError, match="truncated"):
    data._local._read_idx(str(path))  # pylint: disable=protected-access


def test_gmm_offset_scale_scales_only_the_offsets():
  authors = data.gmm_means(20)
  scaled = data.gmm_means(20, offset_scale=0.1)
  np.testing.assert_allclose(scaled[:, :2], authors[:, :2])
  np.testing.assert_allclose(scaled[:, 2:], 0.1 * authors[:, 2:], rtol=1e-6)
  # The authors' offsets: linspace(-50, 50, 100) as [5, 20].
  np.testing.assert_allclose(
      authors[:, 2:], np.linspace(-50, 50, 100).reshape(5, 20)[:, 2:],
      rtol=1e-6,
  )
  config = ml_collections.ConfigDict(dict(
      name="gmm", dim=20, num_components=5, std=0.25, means=(),
      samples_per_epoch=256, num_eval=10, seed=0, offset_scale=0.1,
  ))
  source = data.make_source(**config, batch_size=128)
  np.testing.assert_allclose(source.means, scaled)


def test_gmm_anchor_layout_and_fresh_batches():
  means = data.gmm_means(2)
  np.testing.assert_allclose(means[0], [0, 0])
  np.testing.assert_allclose(np.linalg.norm(means[1:], axis=1), 1, rtol=1e-6)
  means20 = data.gmm_means(20)
  np.testing.assert_allclose(means20[:, :2], means)
  source = data.GMMSource(
      means=means, std=0.25, batch_size=64, samples_per_epoch=640,
      num_eval=100,
  )
  state = source.start_epoch(jax.random.key(0))
  b0, b1 = source.batch(state, 0), source.batch(state, 1)
  assert b0["x"].shape == (64, 2) and not np.allclose(b0["x"], b1["x"])
  # Samples sit within a few std of their component's mean.
  dist = np.linalg.norm(b0["x"] - means[b0["label"]], axis=1)
  assert dist.max() < 6 * 0.25
  np.testing.assert_array_equal(source.test["x"], source.test["x"])
  assert not np.allclose(source.test["x"], source.validation["x"])


def test_array_source_visits_every_example_once_per_epoch():
  x = np.arange(40, dtype=np.float32)[:, None]
  source = data.ArraySource(
      x_train=x, y_train=np.zeros(40, np.int32), x_val=x, y_val=x[:, 0],
      x_test=x, y_test=x[:, 0], batch_size=8,
  )
  state = source.start_epoch(jax.random.key(3))
  seen = np.concatenate(
      [source.batch(state, i)["x"][:, 0] for i in range(source.steps_per_epoch)]
  )
  np.testing.assert_array_equal(np.sort(seen), np.arange(40))
  with pytest.raises(ValueError, match="NaN"):
    data.ArraySource(
        x_train=np.full((10, 1), np.nan), y_train=np.zeros(10), x_val=x,
        y_val=x, x_test=x, y_test=x, batch_size=2,
    )


def test_pca_is_fitted_on_the_given_split_only():
  rng = np.random.default_rng(4)
  fit = rng.normal(size=(500, 6)) * np.array([5, 3, 1, 0.1, 0.1, 0.1])
  project = data.pca_projection(fit, 2)
  coeffs = project(fit)
  np.testing.assert_allclose(coeffs.mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(np.abs(np.corrcoef(coeffs.T)[0, 1]), 0, atol=1e-5)
  assert 0.95 < project.explained_variance_ratio < 1
  # Another split is projected with the same basis, not re-fitted.
  shifted = project(fit + 10.0)
  assert np.abs(shifted.mean(0)).max() > 1
  with pytest.raises(ValueError, match="cannot fit"):
    data.pca_projection(fit, 7)


@pytest.mark.skipif(
    not os.path.exists(os.path.join(SHARED_DATA, "mnist.npz")),
    reason="../shared/data/mnist.npz is not available",
)
def test_real_mnist_pca_source():
  config = ml_collections.ConfigDict(dict(
      name="pca", dataset="mnist", dir=SHARED_DATA, num_validation=10000,
      components=20,
  ))
  source = data.make_source(**config, batch_size=100)
  assert source.x_train.shape == (50000, 20)
  assert source.x_val.shape == (10000, 20) and source.x_test.shape == (10000, 20)
  assert source.steps_per_epoch == 500
