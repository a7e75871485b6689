"""`fleetscan report`: one self-contained HTML page, opened in a real headless Chromium.

The browser tests skip (with the reason) where no Chromium is installed; `.ci/run` installs the
Debian package `chromium` when it can.
"""

from __future__ import annotations

import html
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from sweep_helpers import BAD, BLIP, HOUR, MIN, START, Shift, env_for, invoke, readings

from fleetscan.plot import BOARD_COLOUR
from fleetscan.sandbox import Sandbox

OTHER = "esp32-bme280-09"
SECOND: Shift = ((OTHER,), START + 7 * HOUR, START + 7 * HOUR + 40 * MIN, -3.0)
SCORING = ["--baseline", "6h", "--group-by", "site", "--min-peers", "3", "--recovery", "10m"]
WINDOW = ["--from", "2026-06-12T06:00:00Z", "--to", "2026-06-12T08:00:00Z"]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing on the page may reach the network
]
CONSOLE = re.compile(r":CONSOLE[^\]]*\] (.*)$", re.MULTILINE)


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


needs_browser = pytest.mark.skipif(
    chromium_binary() is None,
    reason="no Chromium on PATH (Debian: apt-get install chromium; .ci/run does it)",
)


def browse(page: Path, profile: Path, *args: str) -> tuple[str, list[str]]:
    """Open `page` in headless Chromium with a fresh profile: (stdout, console messages)."""
    binary = chromium_binary()
    assert binary is not None
    done = subprocess.run(
        [
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout, CONSOLE.findall(done.stderr)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report over two boards' faults, pulled from a sandbox through the real read client."""
    tmp = tmp_path_factory.mktemp("report")
    out = tmp / "report.html"
    with Sandbox(port=0, quiet=True) as sb:
        sb.insert(readings(shifts=[BLIP, SECOND]))
        code, _, err = invoke(
            ["report", "--metric", "temperature", *SCORING, *WINDOW, "-o", str(out)],
            env_for(sb, tmp),
        )
    assert code == 0, err
    assert err == f"fleetscan: wrote {out}: 2 findings\n"
    return out


def test_the_report_is_one_file_that_fetches_nothing(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links and all(u.startswith(("data:image/png;base64,", "#finding-")) for u in links)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", page)
    boards = [re.findall(r"<td>(.*?)</td>", "<td>" + r + "</td>")[1] for r in rows]
    assert boards == [BAD, OTHER]  # oldest first
    assert html.escape("gap +") in page and "usually" in page


@needs_browser
def test_chromium_loads_the_report_without_console_errors_and_shows_every_finding(
    report: Path, tmp_path: Path
) -> None:
    dom, console = browse(report, tmp_path / "profile", "--dump-dom")
    assert console == []
    for n, board in ((1, BAD), (2, OTHER)):
        assert f'<section id="finding-{n}"><h3>{n}. {board} temperature: drifting</h3>' in dom
    assert dom.count("<img ") == 3  # a chart per finding and the fleet at a glance


@needs_browser
def test_the_console_check_sees_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><p>x</p><script>undefinedFn();</script>")
    _, console = browse(broken, tmp_path / "profile", "--dump-dom")
    assert any("undefinedFn is not defined" in line for line in console)


@needs_browser
def test_screenshot_shows_the_charts(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    browse(report, tmp_path / "profile", "--window-size=1100,1600", f"--screenshot={shot}")
    image = imread(io.BytesIO(shot.read_bytes()), format="png")
    assert image.shape[:2] == (1600, 1100)
    assert image[..., :3].std() > 0.1
    red = np.array([int(BOARD_COLOUR[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    near = np.all(np.abs(image[..., :3] - red) <= 0.05, axis=-1)
    assert near.sum() > 500  # the first chart's board line, drawn by the browser
