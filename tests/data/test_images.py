"""Binarised MNIST / Fashion-MNIST / Omniglot: loading, splits, binarisation."""

import gzip
import os
import struct

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.io

from mimjax import data

SHARED_DATA = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
    os.pardir, "shared", "data",
)


def _arrays(seed, n_train=60, n_test=20):
  rng = np.random.default_rng(seed)
  return dict(
      x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
      y_train=rng.integers(0, 10, n_train).astype(np.uint8),
      x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
      y_test=rng.integers(0, 10, n_test).astype(np.uint8),
  )


def _write_idx_gz(path, array):
  header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
      ">" + "I" * array.ndim, *array.shape
  )
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def _config(directory, name="mnist", **overrides):
  cfg = ml_collections.ConfigDict(dict(
      name=name,
      dir=str(directory),
      loader="auto",
      tfds_data_dir="",
      num_validation=10,
      dynamic_binarization=True,
      max_train=0,
      max_test=0,
  ))
  cfg.update(overrides)
  return cfg


def _write_chardata(path, n_train=30, n_test=12, seed=0):
  """A synthetic IWAE chardata.mat; returns the images it encodes."""
  rng = np.random.default_rng(seed)
  out = {}
  mat = {}
  for split, x_key, y_key, n in (
      ("train", "data", "targetchar", n_train),
      ("test", "testdata", "testtargetchar", n_test),
  ):
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = np.arange(n) % 7 + 1
    # Column n holds image n flattened in Fortran (column-major) order.
    columns = np.stack([im.ravel(order="F") for im in images], axis=1)
    mat[x_key] = columns / 255.0
    mat[y_key] = labels[None, :].astype(np.float64)  # MATLAB row vector.
    out[f"x_{split}"], out[f"y_{split}"] = images, labels
  scipy.io.savemat(path, mat)
  return out


# -- loading ------------------------------------------------------------------


def test_npz_loads_with_uint8_images_and_int32_labels(tmp_path):
  arrays = _arrays(0)
  np.savez(tmp_path / "fashion_mnist.npz", **arrays)
  loaded = data.load_image_arrays("fashion_mnist", directory=str(tmp_path))
  assert loaded["x_train"].dtype == np.uint8
  assert loaded["y_train"].dtype == np.int32
  for key, value in arrays.items():
    np.testing.assert_array_equal(loaded[key], value)


def test_gzipped_idx_files_load(tmp_path):
  arrays = _arrays(1)
  names = {
      "x_train": "train-images-idx3-ubyte.gz",
      "y_train": "train-labels-idx1-ubyte.gz",
      "x_test": "t10k-images-idx3-ubyte.gz",
      "y_test": "t10k-labels-idx1-ubyte.gz",
  }
  for key, name in names.items():
    _write_idx_gz(str(tmp_path / name), arrays[key])
  loaded = data.load_image_arrays("mnist", directory=str(tmp_path),
                                  loader="local")
  for key in names:
    np.testing.assert_array_equal(loaded[key], arrays[key])


def test_omniglot_mat_fortran_order_and_aligned_labels(tmp_path):
  want = _write_chardata(str(tmp_path / "chardata.mat"))
  loaded = data.load_image_arrays("omniglot", directory=str(tmp_path))
  for key in ("x_train", "y_train", "x_test", "y_test"):
    np.testing.assert_array_equal(loaded[key], want[key])
  assert loaded["x_train"].dtype == np.uint8
  assert loaded["y_train"].dtype == np.int32
  # Same as the reference's two-step reshape, viewed as 28x28 images.
  raw = scipy.io.loadmat(str(tmp_path / "chardata.mat"))["data"].T
  ref = raw.reshape((-1, 28, 28)).reshape((-1, 28 * 28), order="F")
  np.testing.assert_array_equal(
      loaded["x_train"], np.round(255 * ref).reshape(-1, 28, 28)
  )


def test_omniglot_split_keeps_labels_with_their_images(tmp_path):
  want = _write_chardata(str(tmp_path / "chardata.mat"), n_train=30)
  source = data.make_image_source(
      **_config(tmp_path, name="omniglot", num_validation=5), batch_size=4
  )
  np.testing.assert_array_equal(source.x_train[..., 0], want["x_train"][:25])
  np.testing.assert_array_equal(source.y_train, want["y_train"][:25])
  np.testing.assert_array_equal(source.y_val, want["y_train"][25:])


def test_missing_omniglot_file_names_file_folder_and_flag(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    data.load_image_arrays("omniglot", directory=str(tmp_path))
  message = str(e.value)
  assert "chardata.mat" in message
  assert f"--config.data.dir={tmp_path}" in message
  with pytest.raises(FileNotFoundError, match="--config.data.dir="):
    data.load_image_arrays("omniglot", loader="local")


def test_missing_mnist_files_name_files_and_flag(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    data.load_image_arrays("mnist", directory=str(tmp_path))
  message = str(e.value)
  assert "mnist.npz" in message and "train-images-idx3-ubyte" in message
  assert "--config.data.dir=" in message


def test_unknown_dataset_lists_valid_names():
  with pytest.raises(ValueError, match="mnist, fashion_mnist, omniglot"):
    data.load_image_arrays("cifar10", directory="/nowhere")


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(x_train=np.zeros((60, 32, 32), np.uint8)), "28, 28"),
        (dict(x_train=np.full((60, 28, 28), np.nan)), "NaN"),
        (dict(x_train=np.zeros((60, 28, 28), np.float32)), "dtype"),
        (dict(y_test=np.zeros(19, np.int64)), "labels"),
    ],
)
def test_malformed_arrays_are_rejected(tmp_path, change, match):
  arrays = _arrays(2)
  arrays.update(change)
  np.savez(tmp_path / "mnist.npz", **arrays)
  with pytest.raises(ValueError, match=match):
    data.load_image_arrays("mnist", directory=str(tmp_path))


def test_tfds_reads_prepared_data_with_data_source(tmp_path):
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=6):
    loaded = data.load_image_arrays("mnist", loader="tfds")
  assert loaded["x_train"].shape == (6, 28, 28)
  assert loaded["x_train"].dtype == np.uint8
  assert loaded["y_train"].dtype == np.int32 and loaded["y_train"].shape == (6,)


def test_tfds_not_prepared_raises_with_data_dir_and_hints(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  empty = tmp_path / "tfds"
  empty.mkdir()
  with pytest.raises(FileNotFoundError) as e:
    data.load_image_arrays("mnist", tfds_data_dir=str(empty))
  message = str(e.value)
  assert str(empty) in message
  assert "tfds build" in message and "--config.data.dir" in message
  assert not any(empty.iterdir())  # nothing was downloaded


def test_tfds_omniglot_points_to_the_iwae_split():
  with pytest.raises(ValueError, match="chardata.mat"):
    data.load_image_arrays("omniglot", loader="tfds")


# -- the device source ----------------------------------------------------------


@pytest.fixture(name="mnist_dir")
def _mnist_dir(tmp_path):
  np.savez(tmp_path / "mnist.npz", **_arrays(3, n_train=60, n_test=20))
  return tmp_path


def test_splits_shapes_and_truncation(mnist_dir):
  source = data.make_image_source(**_config(mnist_dir), batch_size=8)
  assert source.x_train.shape == (50, 28, 28, 1)
  assert source.x_train.dtype == np.uint8
  assert source.x_val.shape == (10, 28, 28, 1)
  assert source.x_val.dtype == np.float32
  assert source.x_test.shape == (20, 28, 28, 1)
  assert source.steps_per_epoch == 6 and source.x_shape == (28, 28, 1)
  assert set(np.unique(source.test["x"])) <= {0.0, 1.0}
  small = data.make_image_source(
      **_config(mnist_dir, max_train=16, max_test=5), batch_size=8
  )
  assert len(small.x_train) == 16 and len(small.test["x"]) == 5
  np.testing.assert_array_equal(small.test["x"], source.test["x"][:5])


@pytest.mark.parametrize("n_val", [0, 60, -1])
def test_num_validation_out_of_range(mnist_dir, n_val):
  with pytest.raises(ValueError, match="num_validation"):
    data.make_image_source(**_config(mnist_dir, num_validation=n_val),
                           batch_size=8)


def test_val_and_test_binarised_identically_across_constructions(mnist_dir):
  a = data.make_image_source(**_config(mnist_dir), batch_size=8)
  b = data.make_image_source(**_config(mnist_dir), batch_size=8)
  for split in ("validation", "test", "train_eval"):
    np.testing.assert_array_equal(getattr(a, split)["x"],
                                  getattr(b, split)["x"])
  gray_test = _arrays(3)["x_test"] / 255.0
  want = np.random.RandomState(777).binomial(1, gray_test)
  np.testing.assert_array_equal(a.test["x"][..., 0], want)


def test_dynamic_binarisation_statistics_and_determinism(mnist_dir):
  source = data.make_image_source(**_config(mnist_dir), batch_size=50)
  state = source.start_epoch(jax.random.key(0))
  batch_fn = jax.jit(source.batch)
  batch = batch_fn(state, 0)
  x = np.asarray(batch["x"])
  assert x.shape == (50, 28, 28, 1) and x.dtype == np.float32
  assert batch["label"].dtype == jnp.int32
  assert set(np.unique(x)) <= {0.0, 1.0}
  perm = np.asarray(state[0])[:50]
  gray = source.x_train[perm] / 255.0
  np.testing.assert_array_equal(np.asarray(batch["label"]),
                                source.y_train[perm])
  # Mean of 39200 Bernoullis: std ~ 0.0025.
  assert abs(x.mean() - gray.mean()) < 0.01
  # Per pixel: E[x | gray] = gray, tested over pixels binned by gray level.
  assert abs(np.mean(x[gray > 0.75]) - np.mean(gray[gray > 0.75])) < 0.02
  again = np.asarray(batch_fn(state, 0)["x"])
  np.testing.assert_array_equal(x, again)
  # The same images at another step get different bits (same permutation
  # window: feed step 1 the permutation shifted by one batch).
  shifted = (jnp.roll(state[0], -50), state[1])
  other = np.asarray(batch_fn(shifted, 1)["x"])
  assert np.mean(other != x) > 0.1


def test_static_binarisation_is_fixed_and_binary(mnist_dir):
  source = data.make_image_source(
      **_config(mnist_dir, dynamic_binarization=False), batch_size=10
  )
  a = source.batch(source.start_epoch(jax.random.key(0)), 0)
  assert set(np.unique(np.asarray(a["x"]))) <= {0.0, 1.0}
  perm_a = np.asarray(source.start_epoch(jax.random.key(0))[0])[:10]
  np.testing.assert_array_equal(
      np.asarray(a["x"]), source.train_eval["x"][perm_a]
  )


def test_batches_inside_jit_and_scan(mnist_dir):
  source = data.make_image_source(**_config(mnist_dir), batch_size=8)

  @jax.jit
  def epoch(key):
    state = source.start_epoch(key)

    def body(total, step):
      batch = source.batch(state, step)
      return total + batch["x"].sum(), batch["label"]

    return jax.lax.scan(body, 0.0, jnp.arange(source.steps_per_epoch))

  total, labels = epoch(jax.random.key(0))
  assert labels.shape == (6, 8)
  assert 0 < float(total) < 6 * 8 * 784
  # vmapped over seeds, as the training loop does.
  keys = jax.random.split(jax.random.key(1), 3)
  states = jax.vmap(source.start_epoch)(keys)
  batch = jax.jit(jax.vmap(source.batch, in_axes=(0, None)))(states, 2)
  assert batch["x"].shape == (3, 8, 28, 28, 1)


def test_pseudo_input_examples_are_first_gray_images(mnist_dir):
  source = data.make_image_source(**_config(mnist_dir), batch_size=8)
  u = source.pseudo_input_examples(4)
  assert u.shape == (4, 28, 28, 1) and u.dtype == np.float32
  np.testing.assert_allclose(u, source.x_train[:4] / 255.0)
  with pytest.raises(ValueError, match="50 training images"):
    source.pseudo_input_examples(51)


def test_real_mnist_splits():
  path = os.path.join(SHARED_DATA, "mnist.npz")
  if not os.path.exists(path):
    pytest.skip(f"real MNIST not found at {os.path.normpath(path)}")
  cfg = _config(SHARED_DATA, num_validation=10000)
  source = data.make_image_source(**cfg, batch_size=100)
  assert len(source.x_train) == 50000
  assert len(source.x_val) == 10000
  assert len(source.x_test) == 10000
  assert source.steps_per_epoch == 500
  for labels in (source.y_train, source.y_val, source.y_test):
    assert labels.min() == 0 and labels.max() == 9
  assert set(np.unique(source.x_test)) == {0.0, 1.0}
