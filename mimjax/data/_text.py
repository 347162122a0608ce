"""Word-level sentence data: Penn Treebank and other one-sentence-per-line text.

A corpus is a folder with a train, a valid and a test split, each a (possibly
gzipped) utf-8 text file holding one already tokenised sentence per line,
words separated by whitespace (e.g. Mikolov's `ptb.train.txt`, which already
maps rare words to `<unk>`). Sentences become fixed-length int32 rows

  w_1 .. w_n <eos> <pad> .. <pad>

over a `Vocabulary` whose first four ids are the special tokens; the model
derives lengths as the number of non-PAD tokens and builds its decoder input
`<sos> w_1 .. w_n` itself. Nothing is ever downloaded.
"""

import collections
import dataclasses
import functools
import gzip
import os

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from mimjax._errors import InputError
from mimjax._errors import MissingInputError
from mimjax.data import _local
from mimjax.data import _sources

PAD, UNK, SOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<sos>", "<eos>")
TEXT_DATASETS = ("ptb", "yahoo", "yelp", "wt103", "text")
_SPLITS = ("train", "valid", "test")
_ON_LONG = ("truncate", "error")


def read_sentences(path, *, max_words=None, on_long="truncate"):
  """Reads one whitespace-tokenised sentence per line.

  Args:
    path: utf-8 text file; gzipped if its name ends with `.gz`.
    max_words: longest sentence kept as is; None keeps every length.
    on_long: what to do with a longer sentence: "truncate" keeps its first
      `max_words` words (as the reference code), "error" raises.

  Returns:
    List of sentences, each a non-empty list of words.

  Raises:
    MissingInputError: `path` does not exist.
    InputError: an unknown `on_long`, a file that is not utf-8 text (or a
      broken gzip file), or a line that is empty, holds a NUL character or,
      with on_long="error", is long (naming `file:line`).
  """
  if on_long not in _ON_LONG:
    raise InputError(
        f"unknown on_long {on_long!r}; set --config.data.on_long= to one of "
        f"{_ON_LONG}"
    )
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise MissingInputError(f"text file {path} does not exist")
  opener = gzip.open if path.endswith(".gz") else open
  sentences, truncated = [], 0
  what = "utf-8 text file, gzipped only if named .gz"
  with _local.reading(path, what), opener(path, "rt", encoding="utf-8") as f:
    for line_number, line in enumerate(f, start=1):
      words = line.split()
      if not words:
        raise InputError(
            f"{path}:{line_number} is an empty line; remove it (the file must "
            "hold one sentence per line)"
        )
      if "\0" in line:
        raise InputError(
            f"{path}:{line_number} holds a NUL character, so the file is not "
            "text; replace it with the utf-8 text file, one sentence per line"
        )
      if max_words is not None and len(words) > max_words:
        if on_long == "error":
          raise InputError(
              f"{path}:{line_number} has {len(words)} words, more than "
              f"max_words={max_words}; shorten it, raise --config.data.max_len "
              "or pass --config.data.on_long=truncate"
          )
        words, truncated = words[:max_words], truncated + 1
      sentences.append(words)
  if max_words is not None:
    logging.info(
        "%s: truncated %d of %d sentences to %d words",
        path, truncated, len(sentences), max_words,
    )
  return sentences


class Vocabulary:
  """Word <-> id map; ids 0..3 are `SPECIAL_TOKENS`.

  Attributes:
    tokens: tuple of all tokens, indexed by id.
  """

  def __init__(self, tokens):
    """Wraps a token list (as `build` or `load` make it).

    Args:
      tokens: the specials in order, then unique words without whitespace.

    Raises:
      ValueError: wrong specials, repeated or malformed tokens.
    """
    tokens = tuple(tokens)
    if tokens[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
      raise ValueError(
          f"vocabulary must start with {SPECIAL_TOKENS}, got "
          f"{tokens[:len(SPECIAL_TOKENS)]}"
      )
    counts = collections.Counter(tokens)
    repeated = sorted(t for t, c in counts.items() if c > 1)
    if repeated:
      raise ValueError(f"vocabulary repeats tokens {repeated[:10]}")
    malformed = [t for t in tokens if t.split() != [t]]
    if malformed:
      raise ValueError(f"vocabulary has malformed tokens {malformed[:10]}")
    self.tokens = tokens
    self._ids = {t: i for i, t in enumerate(tokens)}

  @classmethod
  def build(cls, sentences, *, min_count=1, max_size=None):
    """Counts words: most frequent first, ties alphabetically.

    Args:
      sentences: lists of words; the literal `<unk>` (and any other special
        token) is not counted as a word.
      min_count: fewest occurrences a word needs.
      max_size: most entries including the 4 specials; None is unlimited.

    Returns:
      A `Vocabulary`.

    Raises:
      InputError: `max_size` leaves no room for the special tokens.
    """
    if max_size is not None and max_size < len(SPECIAL_TOKENS):
      raise InputError(
          f"max_size={max_size} leaves no room for the "
          f"{len(SPECIAL_TOKENS)} special tokens; set --config.data.max_vocab= "
          f"to more than {len(SPECIAL_TOKENS)}, or 0 for no limit"
      )
    counts = collections.Counter(w for s in sentences for w in s)
    words = sorted(
        (w for w, c in counts.items()
         if c >= min_count and w not in SPECIAL_TOKENS),
        key=lambda w: (-counts[w], w),
    )
    tokens = SPECIAL_TOKENS + tuple(words)
    return cls(tokens[:max_size])

  def __len__(self):
    return len(self.tokens)

  def encode(self, words):
    """Words -> ids; out-of-vocabulary words become UNK."""
    return [self._ids.get(w, UNK) for w in words]

  def decode(self, ids, *, stop_at_eos=True, skip_special=True):
    """Ids -> words.

    Args:
      ids: `[T]` ints (list or array).
      stop_at_eos: drop everything from the first EOS on.
      skip_special: drop PAD and SOS (UNK and EOS stay visible).

    Returns:
      List of tokens.
    """
    ids = np.asarray(ids).tolist()
    bad = [i for i in ids if not 0 <= i < len(self.tokens)]
    if bad:
      raise ValueError(f"ids {bad[:10]} are outside [0, {len(self.tokens)})")
    if stop_at_eos and EOS in ids:
      ids = ids[: ids.index(EOS)]
    if skip_special:
      ids = [i for i in ids if i not in (PAD, SOS)]
    return [self.tokens[i] for i in ids]

  def save(self, path):
    """Writes one token per line (utf-8), in id order."""
    with open(path, "w", encoding="utf-8") as f:
      f.write("".join(t + "\n" for t in self.tokens))

  @classmethod
  def load(cls, path):
    """Reads a file written by `save`.

    Raises:
      MissingInputError: `path` does not exist.
      InputError: the file is not a valid vocabulary (names the file).
    """
    if not os.path.isfile(path):
      raise MissingInputError(f"vocabulary file {path} does not exist")
    what = "utf-8 vocabulary file"
    with _local.reading(path, what), open(path, encoding="utf-8") as f:
      tokens = f.read().splitlines()
    try:
      return cls(tokens)
    except ValueError as e:
      raise InputError(
          f"corrupt vocabulary file {path}: {e}; restore it, or train in a "
          "fresh workdir (the vocabulary is rebuilt from the training split)"
      ) from e


def encode_sentences(sentences, vocab, *, max_len):
  """Encodes sentences as fixed-length rows `w_1 .. w_n <eos> <pad> ..`.

  Args:
    sentences: N lists of words; words past `max_len - 1` are dropped so
      the EOS always fits.
    vocab: a `Vocabulary`.
    max_len: row length L >= 2, including the EOS.

  Returns:
    `[N, L]` int32 token ids, padded with PAD (0).

  Raises:
    InputError: `max_len` < 2.
  """
  if max_len < 2:
    raise InputError(
        f"max_len={max_len} must be >= 2 (a word and <eos>); set "
        "--config.data.max_len=2 or more"
    )
  out = np.full((len(sentences), max_len), PAD, np.int32)
  for row, words in zip(out, sentences):
    ids = vocab.encode(words[: max_len - 1]) + [EOS]
    row[: len(ids)] = ids
  return out


@dataclasses.dataclass(frozen=True, eq=False)
class TextSource(_sources.ArraySource):
  """Encoded sentences, reshuffled every epoch on device (drop-last).

  Attributes:
    x_train: `[N, L]` int32 token ids (see `encode_sentences`).
    y_train: `[N]` int32 zeros (no labels).
    x_val: `[Nv, L]` int32.
    y_val: `[Nv]` int32 zeros.
    x_test: `[Nt, L]` int32.
    y_test: `[Nt]` int32 zeros.
    batch_size: training batch size B.
    vocab: the `Vocabulary` the ids index.
    bucket_widths: increasing row widths ending at L (e.g. (16, 32, 48,
      64)), or () for none. With buckets every training batch holds
      sentences of one bucket (shortest width >= its length), so the
      training program can run it at that width (`bucket_index`); each
      bucket is reshuffled per epoch and drops its own remainder. The order
      of buckets over an epoch's steps is one fixed random interleaving, the
      same for every seed and epoch, so the width of step t is a constant.
  """

  vocab: Vocabulary = None
  bucket_widths: tuple = ()

  def __post_init__(self):
    super().__post_init__()
    if self.vocab is None:
      raise ValueError("TextSource needs a vocab")
    for split in ("train", "val", "test"):
      x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
      if x.dtype != np.int32 or x.ndim != 2 or x.shape[1:] != self.x_shape:
        raise ValueError(
            f"x_{split} must be int32 {list(self.x_shape)} rows, got "
            f"{x.dtype} {x.shape}"
        )
      if x.size and not 0 <= x.min() <= x.max() < len(self.vocab):
        raise ValueError(
            f"x_{split} has ids outside the vocabulary [0, {len(self.vocab)})"
        )
      if y.shape != (len(x),):
        raise ValueError(f"y_{split} has shape {y.shape}, want [{len(x)}]")
    widths = tuple(self.bucket_widths)
    if widths and (
        list(widths) != sorted(set(widths))
        or widths[0] < 1
        or widths[-1] != self.x_shape[0]
    ):
      raise InputError(
          f"bucket_widths {widths} must increase and end at the row length "
          f"{self.x_shape[0]}; fix --config.data.bucket_widths (or set it to "
          "() for none)"
      )

  @functools.cached_property
  def _buckets(self):
    """Static bucket bookkeeping: (bucket id per train sentence `[N]`,
    bucket of each step `[steps]`, first row of each step within the
    bucket-sorted order `[steps]`)."""
    lengths = np.sum(self.x_train != PAD, axis=1)
    bucket = np.searchsorted(np.asarray(self.bucket_widths), lengths)
    counts = np.bincount(bucket, minlength=len(self.bucket_widths))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    steps = counts // self.batch_size
    schedule = np.random.RandomState(0).permutation(
        np.repeat(np.arange(len(counts)), steps)
    )
    slot = np.zeros(len(schedule), np.int64)
    for b in range(len(counts)):
      slot[schedule == b] = np.arange(steps[b])
    start = offsets[schedule] + slot * self.batch_size
    return bucket.astype(np.int32), schedule.astype(np.int32), start

  @property
  def steps_per_epoch(self):
    if not self.bucket_widths:
      return super().steps_per_epoch
    return len(self._buckets[1])

  @functools.cached_property
  def device_data(self):
    """`ArraySource.device_data` plus, with buckets, the `_buckets`
    bookkeeping: "bucket" `[N]`, "schedule" `[steps]`, "start" `[steps]`."""
    data = super().device_data
    if self.bucket_widths:
      bucket, schedule, start = self._buckets
      data = dict(data, **_sources.to_device(
          dict(bucket=bucket, schedule=schedule, start=start)))
    return data

  def start_epoch(self, key, data=None):
    data = self.device_data if data is None else data
    if not self.bucket_widths:
      return super().start_epoch(key, data)
    # Sentences sorted by bucket, shuffled within each bucket.
    noise = jax.random.uniform(key, data["bucket"].shape)
    return jnp.argsort(data["bucket"] + noise)

  def batch(self, epoch_state, step, data=None):
    data = self.device_data if data is None else data
    if not self.bucket_widths:
      return super().batch(epoch_state, step, data)
    start = data["start"][step]
    idx = jax.lax.dynamic_slice_in_dim(epoch_state, start, self.batch_size)
    return {"x": data["x"][idx], "label": data["label"][idx]}

  def bucket_index(self, step, data=None):
    """Index into `bucket_widths` of step `step`'s batch (seed-independent)."""
    data = self.device_data if data is None else data
    return data["schedule"][step]


def _split_path(name, directory, split):
  """The first existing file of `split`, or an error listing all tried."""
  stems = [f"{split}.txt"]
  if name != "text":
    stems.insert(0, f"{name}.{split}.txt")
  tried = [
      os.path.join(directory, stem + ext)
      for stem in stems
      for ext in (".gz", "")
  ]
  for path in tried:
    if os.path.isfile(path):
      return path
  raise MissingInputError(
      f"no {split} split of {name!r} text data; tried {', '.join(tried)}. Pass "
      "--config.data.dir=/path/to/folder holding the split files (for PTB, "
      "the folder holding ptb.train.txt.gz)"
  )


def make_text_source(
    *,
    name,
    batch_size,
    max_len,
    dir="",  # pylint: disable=redefined-builtin
    on_long="truncate",
    min_count=1,
    max_vocab=0,
    max_train=0,
    max_validation=0,
    max_test=0,
    bucket_widths=(),
    vocab=None,
):
  """Builds a `TextSource`; the keywords are the fields of a sentence
  config's `data` section (`make_text_source(**config.data, ...)`).

  Args:
    name: dataset, one of `TEXT_DATASETS`.
    batch_size: training batch size.
    max_len: row length L incl. EOS; longer sentences are handled per
      `on_long`.
    dir: folder with the split files.
    on_long: "truncate" or "error".
    min_count: words seen fewer times become UNK.
    max_vocab: most vocabulary entries incl. specials (0 is unlimited).
    max_train, max_validation, max_test: keep the first so many sentences
      of a split (0 keeps all).
    bucket_widths: padded row widths of the length buckets (() = one
      bucket of `max_len`; see `TextSource`).
    vocab: a `Vocabulary` to use (e.g. reloaded when resuming); None builds
      one from the kept (and truncated) training sentences.

  Returns:
    A `TextSource`.

  Raises:
    InputError: unknown dataset name, malformed text (see `read_sentences`),
      or a split too small for the run (see
      `data._sources.check_split_sizes`); names the file.
    MissingInputError: a split is missing; lists the paths tried.
  """
  if name not in TEXT_DATASETS:
    raise InputError(
        f"unknown text dataset {name!r}; set --config.data.name= to one "
        f"of {', '.join(TEXT_DATASETS)}"
    )
  limits = dict(train=max_train, validation=max_validation, test=max_test)
  splits, sizes = [], {}
  for split, kind in zip(_SPLITS, ("train", "validation", "test")):
    path = _split_path(name, dir or "", split)
    sentences = read_sentences(path, max_words=max_len - 1, on_long=on_long)
    limit = limits[kind]
    splits.append(sentences[:limit] if limit else sentences)
    sizes[kind] = (len(splits[-1]), path, (
        "add sentences to it" + _sources.cap_hint(f"max_{kind}", limit)))
  _sources.check_split_sizes(sizes, batch_size=batch_size)
  if vocab is None:
    vocab = Vocabulary.build(
        splits[0],
        min_count=min_count,
        max_size=max_vocab or None,
    )
  x_train, x_val, x_test = (
      encode_sentences(s, vocab, max_len=max_len) for s in splits
  )
  logging.info(
      "%s: %d train / %d valid / %d test sentences, vocabulary of %d",
      name, len(x_train), len(x_val), len(x_test), len(vocab),
  )
  return TextSource(
      bucket_widths=tuple(bucket_widths or ()),
      x_train=x_train,
      y_train=np.zeros(len(x_train), np.int32),
      x_val=x_val,
      y_val=np.zeros(len(x_val), np.int32),
      x_test=x_test,
      y_test=np.zeros(len(x_test), np.int32),
      batch_size=batch_size,
      vocab=vocab,
  )
