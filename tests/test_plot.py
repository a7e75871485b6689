"""`fleetscan plot` and `replay --plot`: PNGs checked for what they show, not just that they exist."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from sweep_helpers import BAD, BLIP, env_for, invoke, readings, write_jsonl

from fleetscan.chartdata import board_view, gap_map
from fleetscan.plot import ALERT_COLOUR, BAND_COLOUR, BOARD_COLOUR
from fleetscan.sandbox import Sandbox
from fleetscan.sweeps.replay import History

SCORING = ["--baseline", "6h", "--group-by", "site", "--min-peers", "3", "--recovery", "10m"]
WINDOW = ["--from", "2026-06-12T06:00:00Z", "--to", "2026-06-12T08:00:00Z"]


def rgb(hex_colour: str, alpha: float = 1.0) -> np.ndarray:
    """The colour as drawn over white with `alpha`, in 0..1 RGB."""
    colour = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return alpha * colour + (1 - alpha) * np.ones(3)


def share_near(image: np.ndarray, colour: np.ndarray, tol: float = 0.04) -> float:
    """Share of the image's pixels within `tol` of `colour` (each channel)."""
    return float(np.mean(np.all(np.abs(image[..., :3] - colour) <= tol, axis=-1)))


def columns_near(image: np.ndarray, colour: np.ndarray, tol: float = 0.04) -> np.ndarray:
    """Image columns of the widest run holding at least 15 pixels of `colour` each (a shaded
    span is full height; the legend's swatch is not), bridging the grid lines that cross it."""
    hits = np.all(np.abs(image[..., :3] - colour) <= tol, axis=-1).sum(axis=0)
    columns = np.flatnonzero(hits >= 15)
    runs = np.split(columns, np.flatnonzero(np.diff(columns) > 4) + 1)  # grid lines cross it
    return max(runs, key=len) if len(columns) else columns


@pytest.fixture
def rows(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "rows.jsonl", readings(shifts=[BLIP]))


def test_plot_shows_the_board_its_peers_and_its_alert(rows: Path, tmp_path: Path) -> None:
    out = tmp_path / "board.png"
    args = ["plot", "--input", str(rows), "--source", BAD, "--metric", "temperature"]
    code, _, err = invoke([*args, *SCORING, *WINDOW, "-o", str(out)])
    assert code == 0, err
    assert err == f"fleetscan: wrote {out}: {BAD} temperature, 1 alert\n"
    image = imread(io.BytesIO(out.read_bytes()), format="png")
    assert image.shape[:2] == (420, 1000)
    assert image[..., :3].std() > 0.1  # not blank
    assert share_near(image, rgb(BOARD_COLOUR)) > 0.002  # the board's line
    assert share_near(image, rgb(BAND_COLOUR, 0.6)) > 0.05  # the peers' band
    shaded = columns_near(image, rgb(ALERT_COLOUR, 0.25))
    # The alert (06:35 to 07:10) covers 35 of the plot's 120 minutes, left of its middle.
    assert 0.2 < len(shaded) / 910 < 0.4
    assert shaded.min() > 300 and shaded.max() < 650

    healthy = tmp_path / "healthy.png"
    other = [*args[:4], "esp32-bme280-01", *args[5:]]
    code, _, err = invoke([*other, *SCORING, *WINDOW, "-o", str(healthy)])
    assert code == 0 and "0 alerts" in err
    calm = imread(io.BytesIO(healthy.read_bytes()), format="png")
    assert len(columns_near(calm, rgb(ALERT_COLOUR, 0.25))) == 0


def test_plot_pulls_from_plexus_and_replay_draws_one_chart_per_alert(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.insert(readings(shifts=[BLIP]))
    env = env_for(sandbox, tmp_path)
    out = tmp_path / "from-plexus.png"
    code, _, err = invoke(
        ["plot", "--source", BAD, "--metric", "temperature", *SCORING, *WINDOW, "-o", str(out)],
        env,
    )
    assert code == 0, err
    assert share_near(imread(io.BytesIO(out.read_bytes()), format="png"), rgb(BOARD_COLOUR)) > 0
    charts = tmp_path / "charts"
    replay = ["replay", "--metric", "temperature", *SCORING, *WINDOW, "--plot", str(charts)]
    code, _, err = invoke(replay, env)
    assert code == 0, err
    assert sorted(p.name for p in charts.iterdir()) == [f"{BAD}-temperature-20260612T063500Z.png"]
    assert "wrote 1 chart into" in err


def test_plot_of_an_unknown_board_is_one_line(rows: Path, tmp_path: Path) -> None:
    code, _, err = invoke(
        ["plot", "--input", str(rows), "--source", "nope", "--metric", "temperature"]
        + [*SCORING, "-o", str(tmp_path / "x.png")]
    )
    assert (
        code == 3 and err == "fleetscan: error: no temperature readings from nope in the history\n"
    )
    assert not (tmp_path / "x.png").exists()


def test_chart_numbers_leave_the_board_out_of_its_own_peers() -> None:
    history = History.from_readings(readings(shifts=[BLIP]), ["temperature"], group_by=("site",))
    metric = history.metrics["temperature"]
    lo, hi = 1_781_222_400_000 + 6 * 3_600_000, 1_781_222_400_000 + 8 * 3_600_000 - 1
    view = board_view(metric, BAD, from_ms=lo, to_ms=hi)
    assert view.peers == 15 and len(view.bucket_ms) == 120  # one a minute
    assert np.all(view.band_low < view.peer_median) and np.all(view.peer_median < view.band_high)
    assert np.isnan(view.usual_gap)  # no baseline asked for
    learned = board_view(metric, BAD, from_ms=lo, to_ms=hi, baseline_ms=6 * 3_600_000)
    assert abs(learned.usual_gap - (-0.03)) < 0.05  # the drift check's "usual -0.03 ± 0.10"
    gaps = gap_map(metric, from_ms=lo, to_ms=hi)
    row = gaps.gap[gaps.source_ids.index(BAD)]
    shifted = (gaps.bucket_ms >= BLIP[1]) & (gaps.bucket_ms < BLIP[2])
    assert np.nanmin(row[shifted]) > 3 and np.nanmax(np.abs(row[~shifted])) < 3
