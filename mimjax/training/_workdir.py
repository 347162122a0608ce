"""A run's claim on its workdir: provenance, the stale-config check, a lock.

`run.json` beside the checkpoints records what produced them: the resolved
config and its hash, the mimjax version and git revision, library versions,
devices and the data files' sha256. A later run in the same workdir (resume
or re-evaluation) must match it in every field that changes the result
(`SAFE_FIELDS` may differ), or it stops with one line naming the fields.
While a run holds the workdir, `.lock` names its pid and host; a second run
on it stops at once.
"""

import contextlib
import datetime
import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import socket
import subprocess

from absl import logging
import jax

import mimjax
from mimjax import _errors
from mimjax import files

RUN_FILE = "run.json"
LOCK_FILE = ".lock"
# Fields that never change a run's numbers: how often it logs and saves
# (resume is bit-exact from any checkpoint), what it logs besides, and where
# the data files sit (their contents are checked by sha256 instead).
SAFE_FIELDS = (
    "train.log_every",
    "train.progress_every",
    "train.checkpoint_every",
    "eval.curve_sentences",
    "sweep_workers",
    "data.dir",
    "data.tfds_data_dir",
)
# Fields a resumed run may change: a longer budget continues the training
# (a finished run's results are still checked against them).
RESUMABLE_FIELDS = ("train.max_epochs",)
# Fields added to configs after runs were recorded, with the value that
# reproduces what those runs did: a recorded config without the field reads
# as having it (so finished runs are still read back, not refused).
ADDED_FIELDS = {
    "validation": "loss",
    "model.decoder_min_scale": 0.0,
    "decoder_weight_samples": 1,
    "decoder_matched_baseline": False,
    "train.fresh_validation_noise": False,
}
_LIBRARIES = (
    "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "distrax", "numpy",
    "ml-collections", "tensorflow-datasets", "scikit-learn",
)
# Files of a data folder that a dataset named <name> may read: its own
# (<name>.npz, <name>.train.txt.gz, ...) and MNIST-format IDX files.
_IDX_PREFIXES = ("train-images", "train-labels", "t10k-images", "t10k-labels")


def _git(*args):
  """Output of `git <args>` run in mimjax's source folder, or None."""
  folder = os.path.dirname(os.path.abspath(mimjax.__file__))
  try:
    out = subprocess.run(
        ["git", "-C", folder, *args], capture_output=True, text=True,
        timeout=10, check=True,
    )
  except (OSError, subprocess.SubprocessError):
    return None
  return out.stdout.strip()


def _version(name):
  try:
    return importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return None


def environment():
  """What ran: versions, git revision, devices, host (a JSON-able dict)."""
  status = _git("status", "--porcelain", "--untracked-files=no")
  return dict(
      mimjax_version=mimjax.__version__,
      git_revision=_git("rev-parse", "HEAD"),
      git_dirty=None if status is None else bool(status),
      python=platform.python_version(),
      libraries={name: _version(name) for name in _LIBRARIES},
      backend=jax.default_backend(),
      device_count=jax.device_count(),
      process_count=jax.process_count(),
      host=socket.gethostname(),
  )


def sha256(path, chunk=1 << 20):
  """Hex sha256 of a file's bytes."""
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(chunk), b""):
      digest.update(block)
  return digest.hexdigest()


def data_files(data_config):
  """`{file name: sha256}` of the files a run's data section may read.

  Args:
    data_config: the `config.data` section as a dict (`name` or `dataset`,
      optional `dir`); for a folder, the files named `<dataset or name>*`
      and MNIST IDX files are hashed.
      Without a folder (synthetic data, TFDS) the result is empty.
  """
  folder = data_config.get("dir", "") if data_config else ""
  if not folder or not os.path.isdir(folder):
    return {}
  name = data_config.get("dataset") or data_config.get("name") or ""
  prefixes = tuple(p for p in (name, *_IDX_PREFIXES) if p)
  return {
      f: sha256(os.path.join(folder, f))
      for f in sorted(os.listdir(folder))
      if f.startswith(prefixes) and os.path.isfile(os.path.join(folder, f))
  }


def _flatten(tree, prefix=""):
  """`{"a.b": leaf}` of a nested dict (lists and tuples are leaves)."""
  if not isinstance(tree, dict):
    return {prefix: tree}
  flat = {}
  for key, value in tree.items():
    flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
  return flat


def _canonical(config):
  """A config (ConfigDict or dict) as plain JSON values (tuples -> lists)."""
  if hasattr(config, "to_dict"):
    config = config.to_dict()
  return json.loads(json.dumps(config, default=list, sort_keys=True))


def config_hash(config):
  """sha256 of the config's canonical JSON (first 16 hex digits)."""
  text = json.dumps(_canonical(config), sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_diff(old, new, *, safe_fields=SAFE_FIELDS):
  """Fields that differ between two configs, except `safe_fields`.

  Args:
    old, new: configs (ConfigDict or nested dicts).
    safe_fields: dotted field names (or section prefixes) to ignore.

  Returns:
    Sorted `[(dotted field, old value, new value)]`; a field present in only
    one config has the value `"<absent>"` in the other (a field of
    `ADDED_FIELDS` absent from `old` reads as its old-behaviour value).
  """
  a, b = _flatten(_canonical(old)), _flatten(_canonical(new))
  for field, value in ADDED_FIELDS.items():
    if field in b:
      a.setdefault(field, value)
  safe = lambda f: any(f == s or f.startswith(s + ".") for s in safe_fields)
  return [
      (f, a.get(f, "<absent>"), b.get(f, "<absent>"))
      for f in sorted(set(a) | set(b))
      if not safe(f) and a.get(f, "<absent>") != b.get(f, "<absent>")
  ]


def describe_config_diff(diff, limit=6):
  """`field: old -> new; ...` of a `config_diff` (the first `limit`)."""
  shown = [f"{f}: {o!r} -> {n!r}" for f, o, n in diff[:limit]]
  more = len(diff) - limit
  return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def check_same_config(workdir, old, new, *, what, safe_fields=SAFE_FIELDS):
  """Raises InputError naming the differing fields of `old` and `new`.

  Args:
    workdir: the run folder (for the message).
    old: the config that produced `what`.
    new: the config of this run.
    what: what `old` produced, e.g. "its checkpoints".
    safe_fields: fields that may differ.
  """
  diff = config_diff(old, new, safe_fields=safe_fields)
  if diff:
    raise _errors.InputError(
        f"workdir {workdir} holds {what} from a different config ("
        f"{describe_config_diff(diff)}). Undo the change, pass --overwrite "
        "to start afresh (the old files are moved aside, not deleted), or use "
        "another --workdir."
    )


def check_same_data(workdir, old, new):
  """Raises InputError when a data file recorded in `old` changed in `new`
  (`{file name: sha256}`; files in only one of them are not compared)."""
  changed = sorted(f for f in set(old) & set(new) if old[f] != new[f])
  if changed:
    raise _errors.InputError(
        f"data file(s) {changed} changed since workdir {workdir} was "
        f"started (sha256 {old[changed[0]][:12]}... -> "
        f"{new[changed[0]][:12]}...). Restore the original files, pass "
        "--overwrite to start afresh, or use another --workdir."
    )


def run_record(config):
  """The provenance of a run: config and hash, environment, data files."""
  return dict(
      config_hash=config_hash(config),
      environment=environment(),
      data_files=data_files(_canonical(config).get("data")),
      started=datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"
      ),
      config=_canonical(config),
  )


def _lock(workdir):
  """An exclusive, non-blocking `flock` on `<workdir>/.lock`; returns the
  open file. The kernel drops it when the process ends, however it ends."""
  path = os.path.join(workdir, LOCK_FILE)
  try:
    f = open(path, "a+")
  except OSError as e:
    raise _errors.InputError(
        f"workdir {workdir} is not writable ({e.strerror}); a run that has "
        "not finished needs to write there: fix its permissions or use "
        "another --workdir."
    ) from None
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.seek(0)
    holder = f.read().strip() or "another process"
    f.close()
    raise _errors.InputError(
        f"workdir {workdir} is in use by {holder}. Wait for that run to end "
        "(or stop it), or use another --workdir."
    ) from None
  f.seek(0)
  f.truncate()
  f.write(
      f"pid {os.getpid()} on host {socket.gethostname()} since "
      f"{datetime.datetime.now().isoformat(timespec='seconds')}\n"
  )
  f.flush()
  return f


def _only_claimed(workdir):
  """Whether `workdir` holds nothing but the claim's own files."""
  return set(os.listdir(workdir)) <= {RUN_FILE, LOCK_FILE}


def _move_aside(workdir):
  """Renames a non-empty `workdir` to `<workdir>.replaced-<UTC time>`."""
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
      "%Y%m%dT%H%M%S"
  )
  target = f"{os.path.normpath(workdir)}.replaced-{stamp}"
  os.rename(workdir, target)
  os.makedirs(workdir)
  return target


@contextlib.contextmanager
def claim_workdir(workdir, config, *, overwrite=False, check_config=None):
  """Holds `workdir` for one run: lock, stale-config check, `run.json`.

  Args:
    workdir: the run folder (created if absent).
    config: the run's resolved config (ConfigDict or dict).
    overwrite: move a used workdir aside to `<workdir>.replaced-<time>` and
      start afresh, instead of failing on a different config.
    check_config: the part of `config` that must match the recorded one
      (default: all of it); e.g. a sweep without its sweep lists, so that a
      longer sweep reuses its finished points.

  Yields:
    The run's provenance record (`run_record`), as written to `run.json`
    (the first run's record when resuming).

  A workdir that holds only `run.json` (its run failed a check before it
  wrote anything) is claimed afresh.

  Raises:
    InputError: another process holds the workdir, or it was started with a
      different config or different data files.
  """
  os.makedirs(workdir, exist_ok=True)
  main = jax.process_index() == 0
  check_config = config if check_config is None else check_config
  lock = _lock(workdir) if main else None
  try:
    if overwrite and main and os.listdir(workdir) != [LOCK_FILE]:
      lock.close()
      moved = _move_aside(workdir)
      lock = _lock(workdir)
      os.remove(os.path.join(moved, LOCK_FILE))
    path = os.path.join(workdir, RUN_FILE)
    record = run_record(config)
    previous = files.read_json(path)
    if previous is not None and _only_claimed(workdir):
      previous = None  # that run failed before it wrote anything: no stale data
    if previous is not None:
      check_same_config(
          workdir, previous["checked_config"], check_config,
          what="checkpoints", safe_fields=SAFE_FIELDS + RESUMABLE_FIELDS,
      )
      check_same_data(workdir, previous["data_files"], record["data_files"])
      record = previous
    elif main:
      if os.path.isdir(os.path.join(workdir, "checkpoints")):
        logging.warning(
            "%s has checkpoints but no %s (written by mimjax before 0.1.0's "
            "provenance records); its config cannot be checked.", workdir,
            RUN_FILE,
        )
      record["checked_config"] = _canonical(check_config)
      files.write_json(path, record)
    yield record
  except BaseException:
    if main and _only_claimed(workdir):  # failed a check: leave no trace
      for name in (RUN_FILE, LOCK_FILE):
        if os.path.exists(os.path.join(workdir, name)):
          os.remove(os.path.join(workdir, name))
    raise
  finally:
    if lock is not None:
      lock.close()
