"""32x32 flow images: padding, RGB, CIFAR10 layouts, knowledge, the source."""

import os
import pickle

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from mimjax import data

SHARED_DATA = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
    os.pardir, "shared", "data",
)


def _gray_arrays(seed, n_train=40, n_test=10):
  """MNIST-like arrays: 28x28 uint8 images, labels 0..9."""
  rng = np.random.default_rng(seed)
  return dict(
      x_train=rng.integers(1, 256, (n_train, 28, 28), dtype=np.uint8),
      y_train=(np.arange(n_train) % 10).astype(np.uint8),
      x_test=rng.integers(1, 256, (n_test, 28, 28), dtype=np.uint8),
      y_test=(np.arange(n_test) % 10).astype(np.uint8),
  )


def _write_cifar_batches(folder, n=4, seed=0):
  """A synthetic cifar-10-batches-py/ folder; returns the HWC images."""
  folder.mkdir()
  rng = np.random.default_rng(seed)
  images, labels = {}, {}
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = list(rng.integers(0, 10, n))
    rows = np.stack([im.transpose(2, 0, 1).ravel() for im in x])
    with open(folder / name, "wb") as f:
      pickle.dump({b"data": rows, b"labels": y, b"batch_label": b"x"}, f)
    images[name], labels[name] = x, np.asarray(y)
  return images, labels


def _config(directory, **overrides):
  cfg = ml_collections.ConfigDict(dict(
      datasets=("mnist",),
      dir=str(directory),
      loader="auto",
      tfds_data_dir="",
      channels=1,
      knowledge=("auto",),
      per_class=False,
      num_validation=10000,
      max_train=0,
      max_test=0,
      train_filter="",
  ))
  cfg.update(overrides)
  return cfg


@pytest.fixture(name="two_dir")
def _two_dir(tmp_path):
  """mnist.npz (40 + 10 images) and fashion_mnist.npz (30 + 10)."""
  np.savez(tmp_path / "mnist.npz", **_gray_arrays(0))
  np.savez(tmp_path / "fashion_mnist.npz", **_gray_arrays(1, n_train=30))
  return tmp_path


# -- loading -------------------------------------------------------------------


def test_mnist_is_zero_padded_to_32_and_centred(two_dir):
  want = _gray_arrays(0)
  loaded = data.load_flow_dataset("mnist", directory=str(two_dir))
  assert loaded["x_train"].shape == (40, 32, 32, 1)
  assert loaded["x_train"].dtype == np.uint8
  assert loaded["y_train"].dtype == np.int32
  for split in ("train", "test"):
    x = loaded[f"x_{split}"][..., 0]
    np.testing.assert_array_equal(x[:, 2:30, 2:30], want[f"x_{split}"])
    border = x.copy()
    border[:, 2:30, 2:30] = 0
    assert not border.any()
    np.testing.assert_array_equal(loaded[f"y_{split}"], want[f"y_{split}"])


def test_gray_is_repeated_into_rgb(two_dir):
  gray = data.load_flow_dataset("fashion_mnist", directory=str(two_dir))
  rgb = data.load_flow_dataset(
      "fashion_mnist", directory=str(two_dir), channels=3
  )
  assert rgb["x_test"].shape == (10, 32, 32, 3)
  for c in range(3):
    np.testing.assert_array_equal(rgb["x_test"][..., c], gray["x_test"][..., 0])


def test_cifar_python_batches_decode_to_hwc(tmp_path):
  images, labels = _write_cifar_batches(tmp_path / "cifar-10-batches-py")
  loaded = data.load_flow_dataset("cifar10", directory=str(tmp_path),
                                  channels=3)
  assert loaded["x_train"].shape == (20, 32, 32, 3)
  assert loaded["x_train"].dtype == np.uint8
  np.testing.assert_array_equal(
      loaded["x_train"],
      np.concatenate([images[f"data_batch_{i}"] for i in range(1, 6)]),
  )
  np.testing.assert_array_equal(loaded["x_test"], images["test_batch"])
  np.testing.assert_array_equal(loaded["y_train"][:4], labels["data_batch_1"])
  assert loaded["y_test"].dtype == np.int32


def test_cifar_row_layout_is_channel_planes_row_major(tmp_path):
  folder = tmp_path / "cifar-10-batches-py"
  _write_cifar_batches(folder)
  rows = np.zeros((1, 3072), np.uint8)
  rows[0, 1024 + 32 * 5 + 7] = 200  # G plane, row 5, column 7.
  with open(folder / "test_batch", "wb") as f:
    pickle.dump({b"data": rows, b"labels": [3]}, f)
  x = data.load_flow_dataset("cifar10", directory=str(tmp_path),
                             channels=3)["x_test"]
  assert x[0, 5, 7, 1] == 200 and x.sum() == 200


def test_cifar_npz_and_channel_errors(tmp_path):
  rng = np.random.default_rng(0)
  arrays = dict(
      x_train=rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8),
      y_train=np.arange(6),
      x_test=rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
      y_test=np.arange(2),
  )
  np.savez(tmp_path / "cifar10.npz", **arrays)
  loaded = data.load_flow_dataset("cifar10", directory=str(tmp_path),
                                  channels=3)
  np.testing.assert_array_equal(loaded["x_train"], arrays["x_train"])
  with pytest.raises(ValueError, match="channels=3"):
    data.load_flow_dataset("cifar10", directory=str(tmp_path), channels=1)
  with pytest.raises(ValueError, match="1 .gray. or 3"):
    data.load_flow_dataset("mnist", directory=str(tmp_path), channels=2)


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(x_train=np.zeros((6, 32, 32), np.uint8)), "32, 32, 3"),
        (dict(x_train=np.full((6, 32, 32, 3), np.nan)), "NaN"),
        (dict(x_test=np.full((2, 32, 32, 3), 300)), r"0\.\.255"),
    ],
)
def test_malformed_cifar_npz_is_rejected(tmp_path, change, match):
  arrays = dict(
      x_train=np.zeros((6, 32, 32, 3), np.uint8), y_train=np.arange(6),
      x_test=np.zeros((2, 32, 32, 3), np.uint8), y_test=np.arange(2),
  )
  arrays.update(change)
  np.savez(tmp_path / "cifar10.npz", **arrays)
  with pytest.raises(ValueError, match=match):
    data.load_flow_dataset("cifar10", directory=str(tmp_path), channels=3)


def test_missing_cifar_files_name_files_folder_and_flag(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    data.load_flow_dataset("cifar10", directory=str(tmp_path), channels=3)
  message = str(e.value)
  assert "cifar10.npz" in message and "cifar-10-batches-py" in message
  assert f"--config.data.dir={tmp_path}" in message
  _write_cifar_batches(tmp_path / "cifar-10-batches-py")
  os.remove(tmp_path / "cifar-10-batches-py" / "data_batch_3")
  with pytest.raises(FileNotFoundError, match="data_batch_3.*config.data.dir"):
    data.load_flow_dataset("cifar10", directory=str(tmp_path), channels=3)


def test_missing_mnist_files_name_file_and_flag(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    data.load_flow_dataset("mnist", directory=str(tmp_path))
  assert "mnist.npz" in str(e.value) and "--config.data.dir=" in str(e.value)


def test_unknown_dataset_lists_flow_datasets(two_dir):
  with pytest.raises(ValueError, match="mnist, fashion_mnist, cifar10"):
    data.load_flow_dataset("omniglot", directory=str(two_dir))
  with pytest.raises(ValueError, match="mnist, fashion_mnist, cifar10.*'svhn'"):
    data.make_flow_source(**_config(two_dir, datasets=("mnist", "svhn")),
                          batch_size=4)


def test_tfds_cifar10_reads_prepared_data():
  tfds = pytest.importorskip("tensorflow_datasets")
  with tfds.testing.mock_data(num_examples=5):
    loaded = data.load_flow_dataset("cifar10", loader="tfds", channels=3)
  assert loaded["x_train"].shape == (5, 32, 32, 3)
  assert loaded["x_train"].dtype == np.uint8
  assert loaded["y_test"].dtype == np.int32


def test_tfds_not_prepared_names_cifar_local_files(tmp_path):
  pytest.importorskip("tensorflow_datasets")
  with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
    data.load_flow_dataset("cifar10", tfds_data_dir=str(tmp_path), channels=3)


# -- knowledge -----------------------------------------------------------------


def test_knowledge_matrix_dataset_and_class_types_overlap():
  ids = np.array([0, 0, 1, 1, 0])
  labels = np.array([3, 5, 3, 0, 3])
  e = data.knowledge_matrix(
      ids, labels, ("mnist", "fashion_mnist"),
      ("mnist", "mnist:3", "fashion_mnist:3", "fashion_mnist"),
  )
  assert e.dtype == np.float32 and e.shape == (5, 4)
  np.testing.assert_array_equal(e, [
      [1, 1, 0, 0],
      [1, 0, 0, 0],
      [0, 0, 1, 1],
      [0, 0, 0, 1],
      [1, 1, 0, 0],
  ])
  assert data.knowledge_matrix(ids, labels, ("mnist", "x"), ()).shape == (5, 0)


@pytest.mark.parametrize(
    "spec", ["cifar10", "mnist:", "mnist:three", "mnist:-1", "mnist3"]
)
def test_knowledge_matrix_rejects_bad_types_listing_valid_forms(spec):
  with pytest.raises(ValueError, match="'<dataset>:<class>'.*mnist, fashion"):
    data.knowledge_matrix([0], [3], ("mnist", "fashion_mnist"), (spec,))


def test_knowledge_in_data_in_order_of_first_appearance():
  ids = np.array([1, 1, 0, 1, 0, 0])
  labels = np.array([4, 2, 7, 4, 2, 7])
  names = ("mnist", "fashion_mnist")
  assert data.knowledge_in_data(ids, labels, names, per_class=False) == (
      "fashion_mnist", "mnist"
  )
  assert data.knowledge_in_data(ids, labels, names, per_class=True) == (
      "fashion_mnist:4", "fashion_mnist:2", "mnist:7", "mnist:2"
  )


# -- the device source ---------------------------------------------------------


def test_mixed_source_splits_ids_and_knowledge(two_dir):
  cfg = _config(two_dir, datasets=("mnist", "fashion_mnist"),
                knowledge=("mnist:3", "fashion_mnist"))
  source = data.make_flow_source(**cfg, batch_size=8)
  mnist, fashion = _gray_arrays(0), _gray_arrays(1, n_train=30)
  # 20% of each training split validates: 8 of mnist's 40, 6 of fashion's 30.
  assert len(source.x_train) == 32 + 24 and len(source.x_val) == 8 + 6
  assert source.x_shape == (32, 32, 1) and source.steps_per_epoch == 7
  np.testing.assert_array_equal(source.dataset_train, [0] * 32 + [1] * 24)
  np.testing.assert_array_equal(source.x_val[8:, 2:30, 2:30, 0],
                                fashion["x_train"][24:])
  np.testing.assert_array_equal(source.y_test[:10], mnist["y_test"])
  assert source.knowledge_names == ("mnist:3", "fashion_mnist")
  assert source.dataset_names == ("mnist", "fashion_mnist")
  np.testing.assert_array_equal(
      source.e_train[:, 0], (source.y_train == 3) & (source.dataset_train == 0)
  )
  np.testing.assert_array_equal(source.e_train[:, 1], source.dataset_train)
  assert source.validation_keys == ("x", "e")
  assert data.FlowImageSource.validation_keys == ("x", "e")
  for split in (source.validation, source.test, source.train_eval):
    assert set(split) == {"x", "e", "label", "dataset"}
    assert split["x"].dtype == np.float32 and split["e"].dtype == np.float32
  assert source.test["x"].max() == 255.0


def test_batch_gathers_the_epoch_permutation_on_device(two_dir):
  cfg = _config(two_dir, datasets=("mnist", "fashion_mnist"), channels=3,
                per_class=True)
  source = data.make_flow_source(**cfg, batch_size=8)
  state = source.start_epoch(jax.random.key(0))
  batch = jax.jit(source.batch)(state, 2)
  assert batch["x"].shape == (8, 32, 32, 3) and batch["x"].dtype == jnp.float32
  assert batch["e"].shape == (8, 20) and batch["e"].dtype == jnp.float32
  assert batch["label"].dtype == jnp.int32
  assert batch["dataset"].dtype == jnp.int32
  idx = np.asarray(state)[16:24]
  want = source.train_eval
  for key in ("x", "e", "label", "dataset"):
    np.testing.assert_array_equal(np.asarray(batch[key]), want[key][idx])


def test_train_filter_keeps_one_class_for_training_and_validation(two_dir):
  cfg = _config(two_dir, datasets=("mnist", "fashion_mnist"),
                train_filter="mnist:3", per_class=True)
  source = data.make_flow_source(**cfg, batch_size=2)
  assert set(source.y_train) == {3} and set(source.dataset_train) == {0}
  assert set(source.y_val) == {3} and set(source.dataset_val) == {0}
  assert len(source.x_train) == 3  # 3, 13, 23 of mnist's first 32.
  assert len(source.x_test) == 20  # the test split is not filtered.
  assert source.knowledge_names == ("mnist:3",)
  np.testing.assert_array_equal(source.e_val, np.ones((len(source.y_val), 1)))
  with pytest.raises(ValueError, match="keeps no train"):
    data.make_flow_source(
        **_config(two_dir, train_filter="mnist:39"), batch_size=1
    )


def test_truncation_and_no_knowledge(two_dir):
  cfg = _config(two_dir, datasets=("mnist", "fashion_mnist"), knowledge=(),
                max_train=5, max_test=3, num_validation=2)
  source = data.make_flow_source(**cfg, batch_size=4)
  assert len(source.x_train) == 10 and len(source.x_test) == 6
  assert len(source.x_val) == 4
  assert source.e_train.shape == (10, 0) and source.knowledge_names == ()
  batch = source.batch(source.start_epoch(jax.random.key(1)), 0)
  assert batch["e"].shape == (4, 0)
  np.testing.assert_array_equal(source.x_train[:5, 2:30, 2:30, 0],
                                _gray_arrays(0)["x_train"][:5])


def _source_fields(n=6, k=1):
  split = lambda m: dict(  # pylint: disable=unnecessary-lambda-assignment
      x=np.zeros((m, 32, 32, 1), np.float32), y=np.zeros(m, np.int32),
      e=np.ones((m, k), np.float32), dataset=np.zeros(m, np.int32),
  )
  fields = dict(batch_size=2, knowledge_names=("mnist",)[:k],
                dataset_names=("mnist",))
  for name, m in (("train", n), ("val", 2), ("test", 2)):
    for key, value in split(m).items():
      fields[f"{key}_{name}"] = value
  return fields


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(x_train=np.full((6, 32, 32, 1), np.nan)), "NaN"),
        (dict(x_val=np.full((2, 32, 32, 1), 256.0)), r"0\.\.255"),
        (dict(x_test=np.full((2, 32, 32, 1), 0.5)), "whole gray levels"),
        (dict(x_test=np.zeros((2, 28, 28, 1))), r"\[N, 32, 32, C\]"),
        (dict(e_val=np.full((2, 1), 0.5)), "0 or 1"),
        (dict(e_val=np.full((2, 1), np.nan)), "0 or 1"),
        (dict(e_train=np.ones((6, 2))), "one column per knowledge type"),
        (dict(dataset_test=np.ones(2, np.int32)), "dataset_names"),
        (dict(batch_size=7), "batch size"),
    ],
)
def test_source_rejects_bad_arrays(change, match):
  fields = _source_fields()
  fields.update(change)
  with pytest.raises(ValueError, match=match):
    data.FlowImageSource(**fields)


def test_real_mnist_padded_splits():
  path = os.path.join(SHARED_DATA, "mnist.npz")
  if not os.path.exists(path):
    pytest.skip(f"real MNIST not found at {os.path.normpath(path)}")
  cfg = _config(SHARED_DATA, max_test=500)
  source = data.make_flow_source(**cfg, batch_size=100)
  assert source.x_train.shape == (50000, 32, 32, 1)
  assert len(source.x_val) == 10000 and len(source.x_test) == 500
  assert source.knowledge_names == ("mnist",)
  assert not source.x_test[:, :2].any() and not source.x_test[:, :, 30:].any()
  assert source.x_train.max() == 255.0 and source.x_train.min() == 0.0
