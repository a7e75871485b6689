"""scripts/eval_device.py: the NAB-style scoring and the vendored NAB series it reads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "eval_device.py"
HOUR = 3_600_000


@pytest.fixture(scope="module")
def ev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_device", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_device"] = module
    spec.loader.exec_module(module)
    return module


def test_the_vendored_nab_series_is_whole(ev: ModuleType) -> None:
    ts, values, windows = ev.load_nab()
    assert len(ts) == len(values) == 7267  # NAB's row count
    assert all(b > a for a, b in zip(ts, ts[1:], strict=False))
    assert values[0] == 69.88 and values[-1] == 72.58
    assert len(windows) == 2 and all(a < b for a, b in windows)


def test_nab_score_bounds(ev: ModuleType) -> None:
    ts = [i * HOUR for i in range(2000)]
    windows = [(1000 * HOUR, 1099 * HOUR), (1500 * HOUR, 1599 * HOUR)]
    perfect = [ev.Alert(1000 * HOUR, "x"), ev.Alert(1500 * HOUR, "x")]
    assert ev.nab_score(ts, perfect, windows).score == pytest.approx(100.0)
    assert ev.nab_score(ts, [], windows).score == pytest.approx(0.0)
    late = ev.nab_score(ts, [ev.Alert(1090 * HOUR, "x")], windows)
    early = ev.nab_score(ts, [ev.Alert(1010 * HOUR, "x")], windows)
    assert 0.0 < late.score < early.score < 50.0 + 1e-9
    noisy = ev.nab_score(ts, perfect + [ev.Alert(900 * HOUR, "x")], windows)
    assert noisy.score < 100.0 and noisy.false_positives == 1
    probation = ev.nab_score(ts, perfect + [ev.Alert(10 * HOUR, "x")], windows)
    assert probation.false_positives == 0  # the first 15 % (max 750 rows) is not scored


def test_replay_counts_alert_onsets(ev: ModuleType) -> None:
    ts = [i * 2000 for i in range(600)]
    values = [22.0 + 0.01 * (i % 5) for i in range(600)]
    values[400:] = [30.0] * 200
    onsets = ev.replay("robust", "temperature", ts, values, end_ms=ts[-1])
    assert len(onsets) == 1 and onsets[0].ts_ms == ts[402] and onsets[0].check == "outlier"
    silent = ev.replay("dropout", "temperature", ts[:300], values[:300], end_ms=ts[299] + 120_000)
    assert [a.check for a in silent] == ["dropout"]
