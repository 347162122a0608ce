"""Progress lines of long host loops: throttled, with a rate and an ETA that
exclude the first call (compilation)."""

from mimjax import _progress


def test_format_eta():
  assert _progress.format_eta(0) == "0:00:00"
  assert _progress.format_eta(3725.9) == "1:02:05"
  assert _progress.format_eta(-3) == "0:00:00"


def _run(times, dones, total, every):
  clock = iter(times)
  lines = []
  progress = _progress.Progress(
      "IS-NLL", total, unit="images", every_seconds=every,
      clock=lambda: next(clock), log=lambda fmt, *a: lines.append(fmt % a),
  )
  for done in dones:
    progress.update(done)
  return lines


def test_rate_and_eta_count_from_the_first_update():
  # First update at t = 100 (after a 100 s compile), then 10 images / 2 s.
  lines = _run([100, 102, 104, 106], [10, 20, 30, 40], 100, every=3.0)
  assert lines == ["IS-NLL: 30/100 images | 5 images/s | ETA 0:00:14"]


def test_lines_are_throttled_and_the_last_one_always_shows():
  times = [float(t) for t in range(10)]
  lines = _run(times, [10 * (i + 1) for i in range(10)], 100, every=4.0)
  # Lines at t = 4 and 8 (every 4 s), and at the end (done == total).
  assert [line.split(" |")[0] for line in lines] == [
      "IS-NLL: 50/100 images", "IS-NLL: 90/100 images",
      "IS-NLL: 100/100 images",
  ]
  assert lines[-1].endswith("ETA 0:00:00")
