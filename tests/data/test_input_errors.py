"""Bad data input: one `InputError` line naming the file, raised at build time.

Each test writes a tiny broken file in tmp_path, builds the source (or loads
the file) as a run would, and checks the error is an `InputError` whose
message is a single line naming the file, and that the file is unchanged.
"""

import gzip
import pickle
import struct

import ml_collections
import numpy as np
import pytest
import scipy.io

import mimjax
from mimjax import data

_IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def _arrays(n_train=60, n_test=20, shape=(28, 28)):
  rng = np.random.default_rng(0)
  return dict(
      x_train=rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
      y_train=(np.arange(n_train) % 10).astype(np.uint8),
      x_test=rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
      y_test=(np.arange(n_test) % 10).astype(np.uint8),
  )


def _image_config(directory, **overrides):
  cfg = ml_collections.ConfigDict(dict(
      name="mnist", dir=str(directory), loader="auto", tfds_data_dir="",
      num_validation=10, dynamic_binarization=True, max_train=0, max_test=0,
  ))
  cfg.update(overrides)
  return cfg


def _text_config(directory, **overrides):
  cfg = ml_collections.ConfigDict(dict(
      name="ptb", dir=str(directory), max_len=6, min_count=1, max_vocab=0,
      on_long="truncate", max_train=0, max_validation=0, max_test=0,
  ))
  cfg.update(overrides)
  return cfg


def _flow_config(directory, **overrides):
  cfg = ml_collections.ConfigDict(dict(
      datasets=("mnist",), dir=str(directory), loader="auto",
      tfds_data_dir="", channels=1, knowledge=("auto",), per_class=False,
      num_validation=10000, max_train=0, max_test=0, train_filter="",
  ))
  cfg.update(overrides)
  return cfg


def _assert_input_error(path, build, *fragments):
  """`build()` raises one InputError line naming `path`; `path` is unchanged.

  Returns:
    The message.
  """
  before = path.read_bytes()
  with pytest.raises(mimjax.InputError) as e:
    build()
  message = str(e.value)
  assert "\n" not in message, message
  assert str(path) in message, message
  for fragment in fragments:
    assert fragment in message, message
  assert path.read_bytes() == before
  return message


def _write_idx_dir(directory):
  for key, name in _IDX_NAMES.items():
    array = _arrays()[key]
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        ">" + "I" * array.ndim, *array.shape
    )
    with gzip.open(directory / name, "wb") as f:
      f.write(header + array.tobytes())


def _write_corpus(directory, **lines):
  """ptb.{train,valid,test}.txt; `lines` overrides a split's lines."""
  for split in ("train", "valid", "test"):
    text = "".join(f" {s} \n" for s in lines.get(split, ["the cat sat"] * 30))
    (directory / f"ptb.{split}.txt").write_text(text, encoding="utf-8")
  return directory


def _build_image(directory, batch_size=8, **overrides):
  return lambda: data.make_image_source(
      **_image_config(directory, **overrides), batch_size=batch_size
  )


def _build_text(directory, batch_size=20, **overrides):
  return lambda: data.make_text_source(
      **_text_config(directory, **overrides), batch_size=batch_size
  )


def test_input_errors_are_value_and_file_not_found_errors():
  assert issubclass(mimjax.InputError, ValueError)
  assert issubclass(mimjax.MissingInputError, mimjax.InputError)
  assert issubclass(mimjax.MissingInputError, FileNotFoundError)


# -- 1: broken npz / pickled / .mat files --------------------------------------


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda raw: b"", "(0 bytes) is not an npz (zip) archive"),
        (lambda raw: raw[: len(raw) // 2], "is not an npz (zip) archive"),
        (lambda raw: b"not a zip at all\n", "is not an npz (zip) archive"),
    ],
    ids=["empty", "truncated", "text"],
)
def test_unreadable_npz(tmp_path, damage, fragment):
  path = tmp_path / "mnist.npz"
  np.savez(path, **_arrays())
  path.write_bytes(damage(path.read_bytes()))
  _assert_input_error(path, _build_image(tmp_path), fragment, "np.savez")


def test_corrupt_member_of_a_valid_zip(tmp_path):
  path = tmp_path / "mnist.npz"
  np.savez(path, **_arrays())
  raw = bytearray(path.read_bytes())
  raw[len(raw) // 2] ^= 0xFF  # Inside x_train's pixels, most of the file.
  path.write_bytes(bytes(raw))
  _assert_input_error(path, _build_image(tmp_path), "Bad CRC-32", "intact")


def test_npz_of_object_arrays(tmp_path):
  path = tmp_path / "mnist.npz"
  np.savez(path, **dict(_arrays(), y_test=np.array([None] * 20)))
  _assert_input_error(path, _build_image(tmp_path), "Object arrays")


def test_unreadable_cifar_batch_pickle(tmp_path):
  folder = tmp_path / "cifar-10-batches-py"
  folder.mkdir()
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    batch = {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 4}
    with open(folder / name, "wb") as f:
      pickle.dump(batch, f)
  path = folder / "data_batch_2"

  def load():
    return data.load_flow_dataset("cifar10", directory=str(tmp_path),
                                  channels=3)

  path.write_bytes(path.read_bytes()[:40])
  _assert_input_error(path, load, "not a readable pickled CIFAR10 batch")
  with open(path, "wb") as f:
    pickle.dump([1, 2], f)
  _assert_input_error(path, load, "pickled list")
  with open(path, "wb") as f:
    pickle.dump({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0]}, f)
  _assert_input_error(path, load, "b'labels' has shape (1,), want [4]")


def test_truncated_cifar_npz_through_the_flow_source(tmp_path):
  path = tmp_path / "cifar10.npz"
  np.savez(path, **_arrays(shape=(32, 32, 3)))
  path.write_bytes(path.read_bytes()[:100])
  cfg = _flow_config(tmp_path, datasets=("cifar10",), channels=3)
  _assert_input_error(
      path, lambda: data.make_flow_source(**cfg, batch_size=2),
      "is not an npz (zip) archive",
  )


def test_unreadable_omniglot_mat(tmp_path):
  path = tmp_path / "chardata.mat"
  scipy.io.savemat(path, {"data": np.zeros((784, 5))})
  path.write_bytes(path.read_bytes()[:20])
  _assert_input_error(
      path, _build_image(tmp_path, name="omniglot", num_validation=1),
      "not a readable MATLAB .mat file",
  )


# -- 2: broken gzipped IDX files -----------------------------------------------


@pytest.mark.parametrize(
    "damage, fragment",
    [
        (lambda raw: raw[: len(raw) // 2], "EOFError"),
        (lambda raw: b"plain bytes, not gzip", "BadGzipFile"),
        (lambda raw: gzip.compress(raw[:4]), "not an unsigned-byte IDX"),
        (lambda raw: gzip.compress(gzip.decompress(raw)[:-5]),
         "truncated or corrupt: header says shape (60, 28, 28)"),
    ],
    ids=["truncated-gz", "not-gzip", "wrong-magic", "short-body"],
)
def test_unreadable_idx(tmp_path, damage, fragment):
  _write_idx_dir(tmp_path)
  path = tmp_path / _IDX_NAMES["x_train"]
  path.write_bytes(damage(path.read_bytes()))
  _assert_input_error(path, _build_image(tmp_path), fragment)


# -- 3, 4: broken or empty text ------------------------------------------------


def test_binary_garbage_as_ptb_text(tmp_path):
  path = _write_corpus(tmp_path) / "ptb.train.txt"
  path.write_bytes(b"ab\x90\xff cd\n")
  _assert_input_error(
      path, _build_text(tmp_path), "not a readable utf-8 text file",
      "UnicodeDecodeError",
  )


def test_nul_bytes_as_ptb_text(tmp_path):
  path = _write_corpus(tmp_path) / "ptb.valid.txt"
  path.write_bytes(b"\x00" * 40 + b"\n")
  _assert_input_error(path, _build_text(tmp_path), ":1 holds a NUL character")


def test_truncated_gzipped_ptb_text(tmp_path):
  _write_corpus(tmp_path)
  path = tmp_path / "ptb.train.txt.gz"
  rng = np.random.default_rng(0)
  text = "".join(f"w{i} w{j}\n" for i, j in rng.integers(0, 999, (500, 2)))
  raw = gzip.compress(text.encode())
  path.write_bytes(raw[: len(raw) // 2])
  _assert_input_error(path, _build_text(tmp_path), "EOFError")


def test_empty_ptb_train_file(tmp_path):
  path = _write_corpus(tmp_path, train=[]) / "ptb.train.txt"
  _assert_input_error(
      path, _build_text(tmp_path),
      "the train split has 0 examples", "config.train.batch_size=20",
  )


def test_bad_lines_name_file_and_line(tmp_path):
  path = _write_corpus(tmp_path, train=["a b", "   ", "c"]) / "ptb.train.txt"
  _assert_input_error(path, _build_text(tmp_path, batch_size=1),
                      "ptb.train.txt:2 is an empty line")
  path = _write_corpus(tmp_path, train=["a b c d e f g"]) / "ptb.train.txt"
  _assert_input_error(
      path, _build_text(tmp_path, batch_size=1, on_long="error"),
      ":1 has 7 words", "--config.data.max_len",
  )


def test_binary_vocabulary_file(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_bytes(b"\x90\x91")
  _assert_input_error(path, lambda: data.Vocabulary.load(path),
                      "not a readable utf-8 vocabulary file")


# -- 5: splits too small for the run, caught before training -------------------


def test_empty_npz_test_split(tmp_path):
  path = tmp_path / "mnist.npz"
  np.savez(path, **dict(_arrays(), x_test=np.zeros((0, 28, 28), np.uint8),
                        y_test=np.zeros(0, np.uint8)))
  _assert_input_error(path, _build_image(tmp_path), "the test split is empty")


@pytest.mark.parametrize(
    "split, kind", [("test", "test"), ("valid", "validation")]
)
def test_empty_ptb_evaluation_file(tmp_path, split, kind):
  path = _write_corpus(tmp_path, **{split: []}) / f"ptb.{split}.txt"
  _assert_input_error(
      path, _build_text(tmp_path), f"the {kind} split has 0 examples",
  )


def test_ptb_train_split_smaller_than_a_batch(tmp_path):
  path = _write_corpus(tmp_path) / "ptb.train.txt"
  _assert_input_error(
      path, _build_text(tmp_path, max_train=5),
      "the train split has 5 examples", "config.data.max_train=5",
  )


def test_image_train_split_smaller_than_a_batch(tmp_path):
  path = tmp_path / "mnist.npz"
  np.savez(path, **_arrays())
  _assert_input_error(
      path, _build_image(tmp_path, batch_size=64),
      "the train split has 50 examples", "config.train.batch_size=64",
      "config.data.num_validation=10",
  )
  _assert_input_error(
      path, _build_image(tmp_path, max_train=4),
      "the train split has 4 examples", "config.data.max_train=4",
  )
  _assert_input_error(
      path, _build_image(tmp_path, num_validation=60),
      "config.data.num_validation=60 must be in (0, 60)",
  )


def test_flow_and_pca_train_split_smaller_than_a_batch(tmp_path):
  path = tmp_path / "mnist.npz"
  np.savez(path, **_arrays())
  _assert_input_error(
      path, lambda: data.make_flow_source(**_flow_config(tmp_path),
                                          batch_size=49),
      "the train split has 48 examples", "config.train.batch_size=49",
  )
  pca = ml_collections.ConfigDict(dict(
      name="pca", dataset="mnist", dir=str(tmp_path), num_validation=55,
      components=2,
  ))
  _assert_input_error(
      path, lambda: data.make_source(**pca, batch_size=8),
      "the train split has 5 examples", "config.data.num_validation=55",
  )


def test_gmm_splits_must_fit_the_batch_and_evaluation():
  cfg = ml_collections.ConfigDict(dict(
      name="gmm", dim=2, num_components=5, std=0.25, means=(),
      samples_per_epoch=100, num_eval=0, seed=0,
  ))
  with pytest.raises(mimjax.InputError, match="samples_per_epoch=100"):
    data.make_source(**cfg, batch_size=128)
  with pytest.raises(mimjax.InputError, match="num_eval=0"):
    data.make_source(**cfg, batch_size=10)


# -- 6: malformed arrays -------------------------------------------------------


@pytest.mark.parametrize(
    "change, fragment",
    [
        (dict(x_train=np.full((60, 28, 28), np.nan)), "NaN or inf"),
        (dict(y_train=np.full(60, 0.5)), "integer labels"),
        (dict(y_test=np.zeros(19, np.uint8)), "do not match"),
        (dict(x_test=np.zeros((20, 28, 27), np.uint8)), "differ in shape"),
        (dict(x_train=np.zeros((60, 32, 32), np.uint8),
              x_test=np.zeros((20, 32, 32), np.uint8)), "want [N, 28, 28]"),
        (dict(x_train=np.full((60, 28, 28), 300)), "want 0..255"),
        (dict(x_train=np.zeros((60, 28, 28), np.float32)), "want uint8"),
        (dict(y_test=None), "lacks arrays ['y_test']"),
    ],
    ids=["nan", "float-labels", "lengths", "shapes", "size", "range", "dtype",
         "missing-key"],
)
def test_malformed_npz_arrays(tmp_path, change, fragment):
  arrays = {k: v for k, v in dict(_arrays(), **change).items() if v is not None}
  path = tmp_path / "mnist.npz"
  np.savez(path, **arrays)
  _assert_input_error(path, _build_image(tmp_path), fragment)


def test_missing_files_are_missing_input_errors(tmp_path):
  with pytest.raises(mimjax.MissingInputError, match="--config.data.dir="):
    data.make_image_source(**_image_config(tmp_path), batch_size=8)
  with pytest.raises(mimjax.MissingInputError, match="ptb.train.txt.gz"):
    data.make_text_source(**_text_config(tmp_path), batch_size=8)
