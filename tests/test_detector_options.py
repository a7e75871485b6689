"""Detector options carry their units: a window says whether it counts samples or spans time,
parsed once where the command line is read, the same whether it came as a string or typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.detectors import DetectorOptions, Window, make_detector
from fleetscan.detectors.options import parse_span, parse_window


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15", Window(samples=15)),  # the old form: in `device` a bare count has always counted
        ("15samples", Window(samples=15)),
        ("15 samples", Window(samples=15)),
        ("1 sample", Window(samples=1)),
        ("30s", Window(span_ms=30_000)),
        ("1.5s", Window(span_ms=1_500)),
        ("10m", Window(span_ms=600_000)),
    ],
)
def test_a_window_says_its_unit(text: str, expected: Window) -> None:
    assert parse_window(text) == expected
    assert DetectorOptions(window=text).window == expected  # strings are parsed once, kept typed


@pytest.mark.parametrize("text", ["1.5", "0", "0samples", "soon", "-3"])
def test_an_ambiguous_or_empty_window_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid window"):
        parse_window(text)


@pytest.mark.parametrize("text", ["90", "2samples", "later"])
def test_spans_need_a_duration_with_its_unit(text: str) -> None:
    with pytest.raises(ValueError, match="invalid relearn"):
        parse_span(text, "relearn")
    assert parse_span("90s", "relearn").span_ms == 90_000


def test_typed_and_string_options_build_the_same_detector() -> None:
    typed = DetectorOptions(window=Window(samples=20), relearn=Window(span_ms=1_800_000))
    texts = DetectorOptions(window="20samples", relearn="30m")
    assert typed == texts and typed.relearn_ms() == 1_800_000
    assert make_detector("tutorial", typed).window == 20  # type: ignore[attr-defined]


def test_device_command_refuses_a_unitless_fraction_and_takes_explicit_counts(
    tmp_path: Path,
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "timestamp,value\n"
        + "".join(f"{1_781_258_400 + 2 * i},{22.0 + 0.01 * (i % 3)}\n" for i in range(40))
    )
    base = ["device", "--input", str(rows), "--method", "tutorial"]
    refused = CliRunner().invoke(app, [*base, "--window", "1.5"])
    assert refused.exit_code == 64 and "say its unit" in refused.output
    unitless = CliRunner().invoke(app, [*base, "--relearn", "30"])
    assert unitless.exit_code == 64 and "with its unit" in unitless.output
    counted = CliRunner().invoke(app, [*base, "--window", "15samples"])
    bare = CliRunner().invoke(app, [*base, "--window", "15"])
    assert counted.exit_code == 0 and counted.stdout == bare.stdout
    assert "40 samples in 1 streams" in counted.output
