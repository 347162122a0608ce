"""Metrics to JSONL and TensorBoard event files (process 0 only)."""

import json
import os

import jax
import numpy as np
import tensorboardX


def _epoch_of(line):
  """Epoch of a JSONL line; a torn or blank line (a crash mid-write) is
  dropped by returning infinity."""
  try:
    return json.loads(line)["epoch"]
  except (ValueError, KeyError, TypeError):
    return float("inf")


class MetricWriter:
  """Writes `{epoch, name: value}` lines and TensorBoard scalars.

  On resume, JSONL lines and TensorBoard events past the restored epoch (from
  epochs trained after the last checkpoint) are dropped, so the logs match
  the resumed run exactly.
  """

  def __init__(self, workdir, *, resume_epoch=0):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    if not self.enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    if os.path.exists(self.path):
      with open(self.path) as f:
        kept = [line for line in f if _epoch_of(line) <= resume_epoch]
      with open(self.path, "w") as f:
        f.writelines(kept)
    self._tb = tensorboardX.SummaryWriter(
        os.path.join(workdir, "tensorboard"), purge_step=resume_epoch + 1
    )

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
