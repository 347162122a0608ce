"""Atomic file outputs: a killed run leaves the old file or the new one.

Every output (JSON, npz, PNG, markdown, JSONL rewrites) is written to a
temporary file in the same folder and renamed over the target
(`os.replace`, atomic on POSIX), so a reader never sees a torn file. A torn
temporary left by a `kill -9` is named `.<name>.tmp-<pid>` and ignored.
"""

import contextlib
import json
import os


@contextlib.contextmanager
def atomic_open(path, mode="w", **kwargs):
  """Opens a temporary file that replaces `path` when the block exits cleanly.

  Args:
    path: target file; its folder is created if needed.
    mode: "w" (text) or "wb" (binary).
    **kwargs: passed to `open` (e.g. `encoding`).

  Yields:
    The open temporary file. On an exception it is deleted and `path` is
    left as it was.
  """
  if mode not in ("w", "wb"):
    raise ValueError(f"atomic_open writes whole files; got mode {mode!r}")
  folder, name = os.path.split(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}")
  try:
    with open(tmp, mode, **kwargs) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_text(path, text):
  """Writes `text` (UTF-8) to `path` atomically."""
  with atomic_open(path, "w", encoding="utf-8") as f:
    f.write(text)


def write_json(path, obj, **kwargs):
  """Writes `obj` as indented JSON to `path` atomically (`default=list`
  turns numpy arrays and tuples into lists)."""
  kwargs.setdefault("indent", 1)
  kwargs.setdefault("default", list)
  write_text(path, json.dumps(obj, **kwargs) + "\n")


def read_json(path):
  """The JSON in `path`, or None when it is absent or torn (unparsable)."""
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except (ValueError, UnicodeDecodeError):
    return None
