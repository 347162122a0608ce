"""Metrics to JSONL and TensorBoard event files (process 0 only)."""

import json
import os

import jax
import numpy as np
import tensorboardX

from mimjax import files


def _record_of(line):
  """The dict of a JSONL line, or None for a torn or blank line (a crash
  mid-write) or one without an "epoch"."""
  try:
    record = json.loads(line)
  except ValueError:
    return None
  return record if isinstance(record, dict) and "epoch" in record else None


def read_metrics(workdir):
  """The records of `workdir/metrics.jsonl`, in file order: one dict
  `{"epoch": e, name: value, name + "/per_seed": [...]}` per logged epoch.
  A torn or blank line (a run killed mid-write), or one without an
  "epoch", is skipped, as the writer drops it on resume."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(_record_of, f) if r is not None]


class MetricWriter:
  """Writes `{epoch, name: value}` lines and TensorBoard scalars.

  metrics.jsonl is the record; the TensorBoard events are rebuilt from it
  whenever a run starts. On resume, its lines past the restored epoch (from
  epochs trained after the last checkpoint) are dropped and the event files
  are rewritten from the lines kept, so both match the resumed run exactly,
  including epochs whose events a killed writer had not flushed.
  """

  def __init__(self, workdir, *, resume_epoch=0):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    if not self.enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    kept = []
    if os.path.exists(self.path):
      with open(self.path) as f:
        lines = f.readlines()
      kept = [
          (line.rstrip("\n") + "\n", record)
          for line, record in zip(lines, map(_record_of, lines))
          if record is not None and record["epoch"] <= resume_epoch
      ]
      files.write_text(self.path, "".join(line for line, _ in kept))
    events = os.path.join(workdir, "tensorboard")
    if os.path.isdir(events):
      for name in os.listdir(events):
        if name.startswith("events.out.tfevents"):
          os.remove(os.path.join(events, name))
    self._tb = tensorboardX.SummaryWriter(events)
    for _, record in kept:
      for name, value in record.items():
        if name != "epoch" and not name.endswith("/per_seed"):
          self._tb.add_scalar(name, value, record["epoch"])

  def write(self, epoch, metrics):
    """Logs `[S]`-shaped (per-seed) or scalar metrics for one epoch.

    TensorBoard gets the mean over seeds; the JSONL line keeps the per-seed
    values too (as lists).
    """
    if not self.enabled:
      return
    record = {"epoch": int(epoch)}
    for name, value in metrics.items():
      value = np.asarray(value, np.float64)
      record[name] = float(value.mean())
      if value.size > 1:
        record[name + "/per_seed"] = value.tolist()
      self._tb.add_scalar(name, record[name], int(epoch))
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")

  def close(self):
    if self.enabled:
      self._tb.close()
