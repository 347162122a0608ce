"""Progress lines with rate and ETA for long host-side loops (no jax)."""

import time

from absl import logging


def format_eta(seconds):
  """`seconds` as H:MM:SS (floored to whole seconds)."""
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
  """Logs "<label>: done/total <unit> | rate <unit>/s | ETA H:MM:SS".

  Call `update(done)` after each piece of work; a line is logged at most
  once per `every_seconds` (and always when `done == total`), so a loop of
  thousands of short calls stays quiet while a 30-minute one shows it is
  alive. The rate counts from the first `update`, so a first call that
  includes compilation does not skew the ETA of the rest.
  """

  def __init__(self, label, total, *, unit="items", every_seconds=30.0,
               clock=time.perf_counter, log=logging.info):
    self._label, self._total, self._unit = label, total, unit
    self._every, self._clock, self._log = every_seconds, clock, log
    self._first = None  # (time, done) of the first update
    self._last_line = None

  def update(self, done):
    now = self._clock()
    if self._first is None:
      self._first = (now, done)
      self._last_line = now
    finished = done >= self._total
    if not finished and now - self._last_line < self._every:
      return
    self._last_line = now
    start, done0 = self._first
    rate = (done - done0) / (now - start) if now > start else float("nan")
    eta = (self._total - done) / rate if rate > 0 else float("nan")
    self._log(
        "%s: %d/%d %s | %.3g %s/s | ETA %s", self._label, done, self._total,
        self._unit, rate, self._unit,
        format_eta(eta) if eta == eta else "?",
    )
