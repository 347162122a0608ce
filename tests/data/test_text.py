"""Word-level sentence data: reading, vocabulary, encoding, TextSource."""

import gzip
import os

import jax
import ml_collections
import numpy as np
import pytest

from mimjax import data

SHARED_DATA = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
    os.pardir, "shared", "data",
)
_SENTENCES = [
    "the cat sat",
    "the dog sat on the mat",
    "a <unk> cat",
    "the end",
]


def _write(path, lines, compress=False):
  text = "".join(f" {line} \n" for line in lines)  # PTB's spacing.
  if compress:
    with gzip.open(path, "wt", encoding="utf-8") as f:
      f.write(text)
  else:
    path.write_text(text, encoding="utf-8")
  return str(path)


def _corpus(directory, name="ptb", n_train=12):
  for split, n in (("train", n_train), ("valid", 4), ("test", 4)):
    lines = [_SENTENCES[i % len(_SENTENCES)] for i in range(n)]
    _write(directory / f"{name}.{split}.txt.gz", lines, compress=True)
  return directory


def _config(directory, name="ptb", **overrides):
  cfg = ml_collections.ConfigDict(dict(
      name=name,
      dir=str(directory),
      max_len=6,
      min_count=1,
      max_vocab=0,
      on_long="truncate",
      max_train=0,
      max_validation=0,
      max_test=0,
  ))
  cfg.update(overrides)
  return cfg


def _vocab():
  return data.Vocabulary.build([s.split() for s in _SENTENCES])


# -- reading ------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_reads_plain_and_gzipped_text(tmp_path, compress):
  name = "s.txt.gz" if compress else "s.txt"
  path = _write(tmp_path / name, ["héllo  world", "x"], compress=compress)
  assert data.read_sentences(path) == [["héllo", "world"], ["x"]]


def test_missing_file_names_the_path(tmp_path):
  with pytest.raises(FileNotFoundError, match="absent.txt"):
    data.read_sentences(str(tmp_path / "absent.txt"))


def test_empty_line_is_named_by_file_and_line(tmp_path):
  path = _write(tmp_path / "s.txt", ["a b", "   ", "c"])
  with pytest.raises(ValueError, match=r"s\.txt:2 is an empty line"):
    data.read_sentences(path)


def test_long_lines_truncate_or_raise(tmp_path):
  path = _write(tmp_path / "s.txt", ["a b", "a b c d e"])
  assert data.read_sentences(path, max_words=3) == [["a", "b"], ["a", "b", "c"]]
  with pytest.raises(ValueError, match=r"s\.txt:2 has 5 words"):
    data.read_sentences(path, max_words=3, on_long="error")
  with pytest.raises(ValueError, match="on_long"):
    data.read_sentences(path, on_long="drop")


# -- vocabulary ---------------------------------------------------------------


def test_vocabulary_order_is_count_then_alphabetical():
  vocab = _vocab()
  # the: 4; cat, sat: 2 each; then the count-1 words alphabetically.
  assert vocab.tokens == data.SPECIAL_TOKENS + (
      "the", "cat", "sat", "a", "dog", "end", "mat", "on",
  )
  assert vocab.tokens == _vocab().tokens


def test_vocabulary_min_count_and_max_size():
  sentences = [s.split() for s in _SENTENCES]
  vocab = data.Vocabulary.build(sentences, min_count=2)
  assert vocab.tokens[4:] == ("the", "cat", "sat")
  assert len(data.Vocabulary.build(sentences, max_size=6)) == 6
  with pytest.raises(ValueError, match="special"):
    data.Vocabulary.build(sentences, max_size=3)


def test_encode_decode_round_trip_and_unknown_words():
  vocab = _vocab()
  words = "the dog sat on the mat".split()
  assert vocab.decode(vocab.encode(words)) == words
  assert vocab.encode(["<unk>", "zebra"]) == [data.UNK, data.UNK]
  ids = [data.SOS] + vocab.encode(["a", "cat"]) + [data.EOS, 4, data.PAD]
  assert vocab.decode(ids) == ["a", "cat"]
  assert vocab.decode(np.asarray(ids), stop_at_eos=False) == [
      "a", "cat", "<eos>", "the",
  ]
  assert vocab.decode(ids, skip_special=False) == ["<sos>", "a", "cat"]
  with pytest.raises(ValueError, match="outside"):
    vocab.decode([len(vocab)])


def test_vocabulary_save_load_round_trip(tmp_path):
  vocab = _vocab()
  vocab.save(tmp_path / "vocab.txt")
  loaded = data.Vocabulary.load(tmp_path / "vocab.txt")
  assert loaded.tokens == vocab.tokens
  assert loaded.encode(["mat", "zebra"]) == vocab.encode(["mat", "zebra"])


@pytest.mark.parametrize(
    "text, match",
    [
        ("<unk>\n<pad>\n<sos>\n<eos>\ncat\n", "must start with"),
        ("<pad>\n<unk>\n<sos>\n<eos>\ncat\ncat\n", "repeats"),
        ("<pad>\n<unk>\n<sos>\n<eos>\n\ncat\n", "malformed"),
    ],
)
def test_corrupt_vocabulary_file_is_rejected(tmp_path, text, match):
  path = tmp_path / "vocab.txt"
  path.write_text(text, encoding="utf-8")
  with pytest.raises(ValueError, match=f"corrupt vocabulary file .*{match}"):
    data.Vocabulary.load(path)
  with pytest.raises(FileNotFoundError, match="absent.txt"):
    data.Vocabulary.load(tmp_path / "absent.txt")


# -- encoding and the source ---------------------------------------------------


def test_encode_sentences_layout():
  vocab = _vocab()
  sentences = [["the", "cat"], "the dog sat on the mat".split()]
  x = data.encode_sentences(sentences, vocab, max_len=4)
  the, cat, dog, sat = vocab.encode(["the", "cat", "dog", "sat"])
  np.testing.assert_array_equal(x, [
      [the, cat, data.EOS, data.PAD],
      [the, dog, sat, data.EOS],  # Truncated to 3 words; EOS kept.
  ])
  assert x.dtype == np.int32
  with pytest.raises(ValueError, match="max_len"):
    data.encode_sentences(sentences, vocab, max_len=1)


def test_text_source_batches_are_int32_token_rows(tmp_path):
  source = data.make_text_source(**_config(_corpus(tmp_path)), batch_size=4)
  assert source.steps_per_epoch == 3 and source.x_shape == (6,)
  batch = source.batch(source.start_epoch(jax.random.key(0)), 0)
  assert batch["x"].shape == (4, 6) and batch["x"].dtype == np.int32
  assert batch["label"].shape == (4,)
  assert np.all(np.sum(np.asarray(batch["x"]) == data.EOS, axis=1) == 1)
  assert source.validation["x"].shape == (4, 6)
  assert source.test["label"].dtype == np.int32
  with pytest.raises(ValueError, match="vocab"):
    data.TextSource(**{
        f: getattr(source, f) for f in (
            "x_train", "y_train", "x_val", "y_val", "x_test", "y_test",
            "batch_size",
        )
    })


def test_make_text_source_subsets_and_reuses_a_vocabulary(tmp_path):
  _corpus(tmp_path, name="text")
  for split in ("train", "valid", "test"):
    os.rename(tmp_path / f"text.{split}.txt.gz", tmp_path / f"{split}.txt.gz")
  cfg = _config(tmp_path, name="text", max_train=5, max_test=2, max_vocab=7)
  source = data.make_text_source(**cfg, batch_size=2)
  assert len(source.x_train) == 5 and len(source.x_test) == 2
  assert len(source.x_val) == 4 and len(source.vocab) == 7
  vocab = _vocab()
  again = data.make_text_source(**cfg, batch_size=2, vocab=vocab)
  assert again.vocab is vocab
  np.testing.assert_array_equal(
      again.x_train, data.encode_sentences(
          [s.split() for s in (_SENTENCES * 2)[:5]], vocab, max_len=6))


def test_make_text_source_long_sentences_can_be_errors(tmp_path):
  cfg = _config(_corpus(tmp_path), max_len=4, on_long="error")
  with pytest.raises(ValueError, match=r"ptb\.train\.txt\.gz:2 has 6 words"):
    data.make_text_source(**cfg, batch_size=2)


def test_missing_split_lists_paths_and_flag(tmp_path):
  _write(tmp_path / "ptb.train.txt", ["a b"])
  with pytest.raises(FileNotFoundError) as e:
    data.make_text_source(**_config(tmp_path), batch_size=1)
  message = str(e.value)
  for name in ("ptb.valid.txt.gz", "ptb.valid.txt", "valid.txt.gz"):
    assert os.path.join(str(tmp_path), name) in message
  assert "--config.data.dir=" in message and "ptb.train.txt.gz" in message


def test_unknown_dataset_lists_valid_names(tmp_path):
  with pytest.raises(ValueError, match="ptb, yahoo, yelp, wt103, text"):
    data.make_text_source(**_config(tmp_path, name="imdb"), batch_size=1)


def test_real_ptb():
  path = os.path.join(SHARED_DATA, "ptb.train.txt.gz")
  if not os.path.exists(path):
    pytest.skip(f"real PTB not found at {os.path.normpath(path)}")
  source = data.make_text_source(**_config(SHARED_DATA, max_len=64),
                                 batch_size=32)
  assert source.x_train.shape == (42068, 64)
  assert len(source.x_val) == 3370 and len(source.x_test) == 3761
  # Mikolov's 10000 words incl. <eos>, less <unk> and <eos>, + 4 specials.
  assert len(source.vocab) == 10002
  # 929589 words + <eos> per line; 42 long sentences lose 373 words.
  assert np.sum(source.x_train != data.PAD) == 929589 - 373


def test_bucketed_batches_hold_one_bucket_and_cover_each_once():
  rng = np.random.RandomState(3)
  lengths = rng.randint(1, 12, 203)  # words; rows are 12 wide incl. <eos>
  x = np.zeros((len(lengths), 12), np.int32)
  for i, n in enumerate(lengths):
    x[i, :n] = rng.randint(4, 9, n)
    x[i, 0] = 4 + i  # every row unique
    x[i, n] = data.EOS
  vocab = data.Vocabulary(
      data.SPECIAL_TOKENS + tuple(f"w{i}" for i in range(len(lengths)))
  )
  zeros = lambda a: np.zeros(len(a), np.int32)
  source = data.TextSource(
      x_train=x, y_train=zeros(x), x_val=x[:8], y_val=zeros(x[:8]),
      x_test=x[:8], y_test=zeros(x[:8]), batch_size=8, vocab=vocab,
      bucket_widths=(4, 8, 12),
  )
  widths = np.asarray([0, 4, 8, 12])
  bucket_of = np.searchsorted(widths[1:], lengths + 1)
  assert source.steps_per_epoch == sum(
      np.sum(bucket_of == b) // 8 for b in range(3)
  )
  for seed in (0, 1):
    state = source.start_epoch(jax.random.key(seed))
    seen = []
    for step in range(source.steps_per_epoch):
      rows = np.asarray(source.batch(state, step)["x"])
      b = int(source.bucket_index(step))
      row_lengths = np.sum(rows != data.PAD, axis=1)
      assert np.all((row_lengths > widths[b]) & (row_lengths <= widths[b + 1]))
      seen += [tuple(r) for r in rows]
    # No sentence twice in an epoch; each bucket drops < 8 sentences.
    assert len(seen) == len(set(seen)) > len(x) - 3 * 8
  orders = [np.asarray(source.start_epoch(jax.random.key(s))) for s in (0, 1)]
  assert not np.array_equal(*orders)


def test_bucket_widths_must_end_at_the_row_length():
  x = np.full((10, 6), data.EOS, np.int32)
  vocab = data.Vocabulary(data.SPECIAL_TOKENS)
  zeros = np.zeros(10, np.int32)
  with pytest.raises(ValueError, match="bucket_widths"):
    data.TextSource(x_train=x, y_train=zeros, x_val=x, y_val=zeros,
                    x_test=x, y_test=zeros, batch_size=2, vocab=vocab,
                    bucket_widths=(2, 4))


def test_benchmark_sentence_batch_uses_the_library_token_ids():
  """The PyTorch yardstick builds its batch without mimjax: its ids must
  be `mimjax.data`'s, or the two benchmarks time different batches."""
  from benchmarks import _sentence_batch  # pylint: disable=g-import-not-at-top
  assert (_sentence_batch.PAD, _sentence_batch.UNK, _sentence_batch.SOS,
          _sentence_batch.EOS) == (data.PAD, data.UNK, data.SOS, data.EOS)
  x = _sentence_batch.ptb_like_batch(np.random.default_rng(0), 5, 16, 50)
  assert x.shape == (5, 16) and np.all(np.sum(x == data.EOS, 1) == 1)
