"""Benchmarks of device mode: `DeviceRunner` on one stream and on 10,000 concurrent streams.

- one stream: readings in time order through `DeviceRunner.process` and each sample's printed
  line (what `fleetscan device --input` does, minus the terminal), for `--method tutorial` and
  the default `auto`; against the tutorial's own loop (tests/tutorial_oracle.py), which also
  formats its line per reading.
- 10,000 streams at 0.5 Hz: every stream first holds 10 minutes of history (one warmed stream,
  copied, since warming 10,000 `auto` streams one reading at a time would take minutes), then
  one poll per simulated second hands the runner that second's Plexus rows (half the streams
  report each second): `parse_rows`, `process` and `idle` for the silent half. The figure is CPU
  time per simulated second, as % of one core; the HTTP requests of a live poll are not in it.
  Both sides format every sample's line; neither posts (`px.send` / the emitter). The baseline
  runs the tutorial's loop (sort, `ts <= last_ts`, deque, `zscore(list(window))`) per stream.
  `auto` runs twice: the per-sample detector (`DeviceRunner`, one `AutoDetector` per stream, the
  reference) and the arrays (`BatchRunner`, what `fleetscan device --method auto` polls with),
  on the same polls; the arrays are warmed by copying the warmed stream's row. The state of
  every runner is set aside from garbage collection while the others are timed (`gc.freeze`).
"""

from __future__ import annotations

import collections
import gc
import pickle
import time
import tracemalloc
from collections.abc import Callable
from functools import partial

import numpy as np
import numpy.typing as npt
from bench_common import CADENCE_MS, NOW_MS, Row, Target, measure
from bench_fleet import tutorial_oracle

from fleetscan.detectors import DetectorOptions, TutorialDetector, make_detector
from fleetscan.detectors._rows import Rows
from fleetscan.device import BatchRunner, DeviceRunner
from fleetscan.telemetry import Reading, parse_rows
from fleetscan.timeutil import plexus_timestamp

STREAMS_TARGET = Target(10.0, False, "< 10 % at 10k")
WARM_SAMPLES = 300  # 10 minutes at 0.5 Hz: the robust window's default span

Poll = tuple[int, list[dict[str, object]]]  # (now_ms, the rows one poll returns)


def _values(n: int, seed: int) -> list[float]:
    """A BME280-like temperature stream: slow wander, noise, float32 values, a few spikes."""
    rng = np.random.default_rng(seed)
    walk = 22.0 + np.cumsum(rng.normal(0.0, 0.003, n)) + rng.normal(0.0, 0.02, n)
    walk[rng.random(n) < 0.001] += 2.0
    values: list[float] = walk.astype(np.float32).astype(np.float64).tolist()
    return values


def _runner(method: str) -> DeviceRunner:
    options = DetectorOptions(metric="temperature")
    return DeviceRunner(lambda _source, _metric: make_detector(method, options))


def one_stream(samples: int, repeats: int) -> list[Row]:
    """Samples/s of one stream per method, next to the tutorial's loop."""
    values = _values(samples, seed=1)
    times = [NOW_MS + CADENCE_MS * k for k in range(samples)]
    readings = [
        Reading("esp32-bme280-01", "temperature", t, v) for t, v in zip(times, values, strict=True)
    ]
    pairs = list(zip(times, values, strict=True))
    oracle = tutorial_oracle()
    tutorial = measure(lambda: oracle.tutorial_lines(pairs), repeats)
    rows = []
    for method in ("tutorial", "auto"):

        def run(method: str = method) -> None:
            for sample in _runner(method).process(readings):
                sample.line(prefix=False)

        timing = measure(run, repeats)
        rows.append(
            Row(
                "5 device",
                f"1 stream, --method {method}",
                samples / timing.median_s,
                "samples/s",
                timing,
                (("tutorial loop", samples / tutorial.median_s),),
                None,
                f"{samples:,} samples, printed lines included",
            )
        )
    return rows + detector_core(values, repeats)


def detector_core(values: list[float], repeats: int) -> list[Row]:
    """The z-score alone: running sums (`TutorialDetector.zscore`) against the tutorial's
    `zscore(list(window))`, at its 15-sample window and at 600 samples (20 min at 0.5 Hz)."""
    oracle = tutorial_oracle()
    rows = []
    for window in (15, 600):

        def streaming(window: int = window) -> None:
            zscore = TutorialDetector(window=window).zscore
            for v in values:
                zscore(v)

        def listed(window: int = window) -> None:
            deque: collections.deque[float] = collections.deque(maxlen=window)
            for v in values:
                deque.append(v)
                oracle.zscore(list(deque))

        fast, slow = measure(streaming, repeats), measure(listed, repeats)
        rows.append(
            Row(
                "5 device",
                f"tutorial z-score alone, window {window}",
                len(values) / fast.median_s,
                "samples/s",
                fast,
                (("tutorial zscore(list(window))", len(values) / slow.median_s),),
                None,
                "running sums: cost independent of the window",
            )
        )
    return rows


def many_streams(streams: int, seconds: int, repeats: int) -> list[Row]:
    """CPU share of `streams` streams at 0.5 Hz, polled once a second.

    Each repeat plays the next `seconds` of time (replaying the same rows would be skipped by
    the `ts <= last_ts` rule), to every contender in turn; the figure is the median repeat.
    """
    started = time.perf_counter()
    runners: dict[str, DeviceRunner | BatchRunner] = {
        method: _warmed(method, streams) for method in ("tutorial", "auto")
    }
    runners["auto, arrays"] = _warmed_batch(streams)
    warm_s = time.perf_counter() - started
    state_kib = {method: _state_kib(method) for method in ("tutorial", "auto")}
    state_kib["auto, arrays"] = _batch_state_kib()
    tutorial = _TutorialStreams(streams)
    # A real process holds one runner; here all are alive at once, and the per-sample runners'
    # millions of objects would make every contender's garbage collections scan them: set them
    # aside (the per-sample runners' own share of that cost is left out too, in their favour).
    gc.collect()
    gc.freeze()
    cpu: dict[str, list[float]] = {name: [] for name in (*runners, "baseline")}
    for block in range(max(1, repeats)):
        polls = _polls(streams, seconds, first_second=block * seconds)
        cpu["baseline"].append(_cpu_s(tutorial.run, polls))
        for method, runner in runners.items():
            cpu[method].append(_cpu_s(partial(_poll_runner, runner), polls))
    gc.unfreeze()
    samples = streams // 2 * seconds
    baseline = 100.0 * float(np.median(cpu["baseline"])) / seconds
    rows = []
    for method in runners:
        used = float(np.median(cpu[method]))
        rows.append(
            Row(
                "5 device",
                f"{streams // 1000}k streams at 0.5 Hz, --method {method}",
                100.0 * used / seconds,
                "% of a core",
                None,
                (("tutorial loop", baseline),),
                STREAMS_TARGET if method == "auto, arrays" else None,
                f"{samples / used / 1e3:.0f} k samples/s (CPU); {seconds} s simulated × "
                f"{max(1, repeats)}; {state_kib[method]:.0f} KiB of state per stream; "
                f"streams copied from one warmed stream ({warm_s:.0f} s)",
                {"samples_per_s": samples / used, "state_kib": state_kib[method]},
            )
        )
    return rows


def _poll_runner(runner: DeviceRunner | BatchRunner, polls: list[Poll]) -> None:
    """What one `fleetscan device` poll does with a page, minus HTTP and posting."""
    for now, page in polls:
        samples = runner.process(parse_rows(page).readings)
        samples += runner.idle(now, {(s.source_id, s.metric) for s in samples})
        for sample in samples:
            sample.line(prefix=True)


def _polls(streams: int, seconds: int, *, first_second: int = 0) -> list[Poll]:
    """One page of Plexus rows per simulated second; stream i reports on seconds of its parity."""
    start = NOW_MS + WARM_SAMPLES * CADENCE_MS + 1000 * first_second
    rng = np.random.default_rng(5 + first_second)
    noise = (22.0 + rng.normal(0.0, 0.02, (seconds, streams))).astype(np.float32).tolist()
    polls = []
    for k in range(seconds):
        now = start + 1000 * k
        second = first_second + k
        rows: list[dict[str, object]] = [
            {
                "source_id": f"esp32-{i:05d}",
                "metric": "temperature",
                "value": noise[k][i],
                "timestamp": plexus_timestamp(now - 1000 + i % 1000),
                "tags": {},
            }
            for i in range(second % 2, streams, 2)
        ]
        polls.append((now, rows))
    return polls


def _warmed(method: str, streams: int) -> DeviceRunner:
    """A runner whose streams all hold 10 minutes of history (one warmed stream, copied)."""
    runner = _runner(method)
    values = _values(WARM_SAMPLES, seed=2)
    runner.process(
        Reading("esp32-00000", "temperature", NOW_MS + CADENCE_MS * k, v)
        for k, v in enumerate(values)
    )
    blob = pickle.dumps(runner.streams[("esp32-00000", "temperature")])
    for i in range(1, streams):
        stream = pickle.loads(blob)
        stream.source_id = f"esp32-{i:05d}"
        runner.streams[(stream.source_id, "temperature")] = stream
    return runner


def _warmed_batch(streams: int) -> BatchRunner:
    """`BatchRunner` whose streams all hold the warmed stream's state (its row, copied)."""
    runner = BatchRunner(lambda metric: DetectorOptions(metric=metric))
    values = _values(WARM_SAMPLES, seed=2)
    for k, v in enumerate(values):  # one reading per poll, as a live stream arrives
        runner.process([Reading("esp32-00000", "temperature", NOW_MS + CADENCE_MS * k, v)])
    for i in range(1, streams):
        runner._locate(f"esp32-{i:05d}", "temperature")
    group = runner.metrics["temperature"]
    copies = np.arange(1, streams)
    for part in (group.engine, *group.engine.parts):
        _copy_row(part, 0, copies)
    for name in ("last_ts", "seen", "streak"):
        getattr(group, name)[copies] = getattr(group, name)[0]
    return runner


def _copy_row(part: Rows, source: int, rows: npt.NDArray[np.int64]) -> None:
    for name in part.fills:
        array = getattr(part, name)
        array[rows] = array[source]


def _batch_state_kib(streams: int = 1000) -> float:
    """Memory per stream of the arrays (tracemalloc over a warmed runner of `streams` rows)."""
    tracemalloc.start()
    try:
        runner = _warmed_batch(streams)
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(runner) == streams
    return used / streams / 1024


def _state_kib(method: str, streams: int = 200) -> float:
    """Memory per warmed stream (tracemalloc over a runner of `streams` copies)."""
    tracemalloc.start()
    try:
        runner = _warmed(method, streams)
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(runner.streams) == streams
    return used / streams / 1024


def _cpu_s(run: Callable[[list[Poll]], None], polls: list[Poll]) -> float:
    """CPU seconds of `run(polls)` (process time: nothing else runs in this process meanwhile)."""
    started = time.process_time()
    run(polls)
    return time.process_time() - started


class _TutorialStreams:
    """The tutorial's loop for many streams: sort, `ts <= last_ts`, a deque and
    `zscore(list(window))` per stream, and the printed line."""

    def __init__(self, streams: int) -> None:
        self.oracle = tutorial_oracle()
        size = self.oracle.WINDOW_SAMPLES
        history = _values(size, seed=2)
        self.windows = {
            f"esp32-{i:05d}": collections.deque(history, maxlen=size) for i in range(streams)
        }
        self.streaks: dict[str, int] = {}
        self.last_ts: dict[str, str] = {}

    def run(self, polls: list[Poll]) -> None:
        zscore, threshold = self.oracle.zscore, self.oracle.Z_THRESHOLD
        consecutive = self.oracle.CONSECUTIVE
        for _, page in polls:
            for row in sorted(page, key=lambda x: str(x["timestamp"])):
                source, ts = str(row["source_id"]), str(row["timestamp"])
                seen = self.last_ts.get(source)
                if seen is not None and ts <= seen:
                    continue
                self.last_ts[source] = ts
                value = float(row["value"])  # type: ignore[arg-type]
                window = self.windows[source]
                window.append(value)
                z = zscore(list(window))
                streak = self.streaks.get(source, 0) + 1 if abs(z) > threshold else 0
                self.streaks[source] = streak
                tag = "ANOMALY" if streak >= consecutive else "normal "
                f"{source} temperature [{tag}] t={value:6.2f} z={z:+5.2f} streak={streak}"  # noqa: B018
