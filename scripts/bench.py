"""fleetscan's performance, measured next to simple baselines, with one command.

    python scripts/bench.py                  # everything (several minutes, plus the quality tables)
    python scripts/bench.py --quick --skip-quality   # a smoke check, under a minute
    python scripts/bench.py --json > bench.json      # the same figures for machines
    python scripts/bench.py --only 1,3               # some sections

Sections (see each module's docstring for what exactly is timed):

1. the fleet scoring core, `score_window` on N sources × 300 readings (bench_fleet.py);
2. parsing Plexus rows into arrays (bench_io.py);
3. a whole sweep against the sandbox over HTTP (bench_io.py);
4. `fleetscan fleet --input FILE --at T` as a process, against `PLAIN_SCRIPT` below, at 300k rows
   and (full run) 1M rows of 50k boards with peak memory, and `fleet --clickhouse chdb:` over
   the same 1M rows (bench_io.py);
5. device mode, one stream and 10,000 streams (bench_device.py), and replaying history through
   the fleet core (bench_fleet.py);
6. the detection-quality tables of scripts/eval_fleet.py and scripts/eval_device.py;
7. opt-in (`--only 7`): a baseline sweep inside ClickHouse over 100k boards × 24 h at one
   reading a minute (144M rows generated in chdb), `fleet --clickhouse`'s engine.

Every figure is the median of several runs, and every baseline runs in the same invocation on
the same data. Nothing here asserts a time: a target that is missed prints MISS, exit code 0.
The bench extra (`pip install -e .[bench]`) brings pandas, used only by a baseline.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bench_device
import bench_fleet
import bench_io
import numpy as np
from bench_common import Row, fmt

ROOT = Path(__file__).resolve().parent.parent

# The plain baseline of section 4: what one would write without fleetscan. It reads the same
# JSON-lines file, keeps one metric's rows in the window, and does the median/MAD work.
PLAIN_SCRIPT = """
import json, sys
from datetime import datetime, timedelta, timezone
import numpy as np

path, metric, at_ms, window_ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
epoch, ms = datetime(1970, 1, 1, tzinfo=timezone.utc), timedelta(milliseconds=1)
values = {}
with open(path, encoding="utf-8") as handle:
    for line in handle:
        row = json.loads(line)
        if row.get("metric") != metric or row.get("value") is None:
            continue
        moment = datetime.strptime(row["timestamp"], "%Y-%m-%d %H:%M:%S.%f")
        ts = (moment.replace(tzinfo=timezone.utc) - epoch) // ms
        if at_ms - window_ms < ts <= at_ms:
            values.setdefault(row["source_id"], []).append(float(row["value"]))
sources = list(values)
medians = np.array([np.median(values[s]) for s in sources])
centre = np.median(medians)
scale = max(1.4826 * np.median(np.abs(medians - centre)), 1e-9)
z = (medians - centre) / scale
for s, m, v in zip(sources, medians.tolist(), z.tolist()):
    print(f"{s}\\t{m:.2f}\\t{v:+.2f}")
print(f"{len(sources)} sources, {int((np.abs(z) > 3).sum())} beyond 3 sigma", file=sys.stderr)
"""


@dataclass(frozen=True)
class Plan:
    """Sizes and repeats: the full run, or `--quick`."""

    repeats: int
    fleet_sizes: tuple[int, ...]
    pure_python_max: int  # largest fleet the plain Python loop baseline runs on
    parse_rows: int
    sandbox_sizes: tuple[int, ...]
    sandbox_repeats: int
    process_rows: int
    process_repeats: int
    stream_samples: int
    streams: int
    stream_seconds: int  # simulated seconds of polling per repeat
    stream_repeats: int
    replay_boards: int
    replay_hours: float


FULL = Plan(5, (50, 1000, 10_000, 100_000), 100_000, 200_000, (50, 1000, 5000), 3, 300_000, 3,
            50_000, 10_000, 20, 3, 50, 24.0)  # fmt: skip
QUICK = Plan(3, (50, 1000, 10_000), 10_000, 50_000, (50, 1000), 2, 100_000, 3,
             10_000, 10_000, 4, 3, 50, 3.0)  # fmt: skip


def sections(plan: Plan) -> dict[str, Callable[[], list[Row]]]:
    """The benchmark sections by number, each returning its rows."""
    return {
        "1": lambda: bench_fleet.fleet_core(
            plan.fleet_sizes, plan.repeats, pure_max=plan.pure_python_max
        ),
        "2": lambda: bench_io.parsing(plan.parse_rows, plan.repeats),
        "3": lambda: bench_io.sandbox_sweep(plan.sandbox_sizes, plan.sandbox_repeats),
        "4": lambda: bench_io.process(
            plan.process_rows, plan.process_repeats, PLAIN_SCRIPT, big=plan is FULL
        ),
        "5": lambda: (
            bench_device.one_stream(plan.stream_samples, plan.repeats)
            + bench_device.many_streams(plan.streams, plan.stream_seconds, plan.stream_repeats)
            + bench_fleet.replay(plan.replay_boards, plan.replay_hours, plan.repeats)
        ),
        # opt-in (heavy: minutes, GBs on disk): only with --only 7
        "7": lambda: bench_io.clickhouse_scale(100_000 if plan is FULL else 10_000, 24),
    }


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    info = {
        "date": datetime.now(tz=UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git("rev-parse", "--short", "HEAD")
        + (
            " + uncommitted changes"
            if _git("status", "--porcelain", "--untracked-files=no")
            else ""
        ),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "openblas_env": ", ".join(f"{k}={v}" for k, v in sorted(blas.items())) or "unset",
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    try:
        info["pandas"] = str(importlib.import_module("pandas").__version__)
    except ImportError:
        info["pandas"] = "not installed (pip install -e .[bench])"
    return info


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()


def table(rows: Sequence[Row]) -> str:
    """The markdown table: fleetscan's figure, the baselines', the target and PASS/MISS."""
    lines = [
        "| section | case | fleetscan | baseline (same run) | target | result | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        spread = f" ±{50 * r.timing.spread:.0f}%" if r.timing and len(r.timing.runs_s) > 1 else ""
        base = "; ".join(f"{name} {fmt(value, r.unit)}" for name, value in r.baselines)
        target = r.target.text if r.target else ""
        lines.append(
            f"| {r.section} | {r.case} | {fmt(r.value, r.unit)}{spread} | {base} | {target} | "
            f"{r.verdict} | {r.notes} |"
        )
    return "\n".join(lines)


def header(info: dict[str, str], plan: Plan, quick: bool) -> str:
    return (
        f"fleetscan bench, {info['date']}, commit {info['commit']}"
        f"{' (--quick)' if quick else ''}\n"
        f"CPU: {info['cpu']}, {info['cores']} cores; Python {info['python']}, numpy "
        f"{info['numpy']}, pandas {info['pandas']}; {info['openblas_env']} (no BLAS call is "
        f"on these paths); load average at start {info['load_average']}\n"
        f"Each figure: median of {plan.repeats} runs after a warm-up run (sections 3-4: "
        f"{plan.sandbox_repeats}/{plan.process_repeats} runs, no warm-up); ±x% is half the "
        "max-min range of the runs over the median."
    )


def quality(quick: bool) -> list[tuple[str, str]]:
    """Section 6: the eval scripts' tables, regenerated (each prints markdown)."""
    commands = [
        ("scripts/eval_fleet.py", [str(ROOT / "scripts" / "eval_fleet.py")]),
        (
            "scripts/eval_device.py" + (" --quick" if quick else ""),
            [str(ROOT / "scripts" / "eval_device.py"), *(["--quick"] if quick else [])],
        ),
    ]
    out = []
    for name, args in commands:
        _log(f"6 quality: {name}")
        done = subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, timeout=3600, check=False
        )
        text = done.stdout.strip() if done.returncode == 0 else f"failed: {done.stderr[-800:]}"
        out.append((name, text))
    return out


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller sizes")
    parser.add_argument("--skip-quality", action="store_true", help="skip section 6 (minutes)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--only", default="", help="comma-separated sections, e.g. 1,3")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    chosen = {s.strip() for s in args.only.split(",") if s.strip()}
    started = time.perf_counter()
    info = machine()
    rows: list[Row] = []
    for number, run in sections(plan).items():
        if (chosen and number not in chosen) or (number == "7" and number not in chosen):
            continue
        _log(f"section {number}")
        rows.extend(run())
    tables = [] if args.skip_quality or (chosen and "6" not in chosen) else quality(args.quick)
    elapsed = time.perf_counter() - started
    if args.json:
        document = {
            "machine": info,
            "quick": args.quick,
            "plan": plan.__dict__,
            "rows": [r.record() for r in rows],
            "quality": dict(tables),
            "elapsed_s": elapsed,
        }
        print(json.dumps(document, indent=2, default=list))
        return 0
    print(header(info, plan, args.quick))
    print()
    print(table(rows))
    missed = [r for r in rows if r.verdict == "MISS"]
    print(
        f"\n{sum(r.verdict == 'PASS' for r in rows)} targets met, {len(missed)} missed"
        + (f" ({'; '.join(r.case for r in missed)})" if missed else "")
        + f"; {elapsed:.0f} s in all."
    )
    for name, text in tables:
        print(f"\n### {name}\n\n{text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
