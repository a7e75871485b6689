"""Host-side tests of the ESP32 + BME280 firmware (firmware/).

The hardware-free logic (firmware/lib/fleetnode, plain C11) is compiled with the system C
compiler and its own unit tests are run. The same binary's `--payloads` mode prints the exact
/ingest bodies the board would send for several scenarios; each is checked against the
gateway's validation rules (docs/plexus-contract.md §4.2), both with the checker below and with the
sandbox server's validator. The sketch itself is syntax-checked with g++ against minimal
Arduino/SDK stand-ins. Flashing (PlatformIO, the ESP32 toolchain) is not part of this suite.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TypeGuard

import pytest

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
LIB_SRC = FIRMWARE / "lib" / "fleetnode" / "src"
TEST_SRC = FIRMWARE / "test" / "test_fleetnode.c"
STUBS = FIRMWARE / "test" / "arduino_stubs"
SKETCH = FIRMWARE / "fleetscan_node"

CC = shutil.which("gcc") or shutil.which("cc")
CXX = shutil.which("g++") or shutil.which("c++")
MAKE = shutil.which("make")
CFLAGS = [
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pedantic",
    "-Wshadow",
    "-Wconversion",
    "-Wsign-conversion",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-O1",
]
RUN_TIMEOUT_S = 120

needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (gcc or cc) on PATH")
needs_cxx = pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++) on PATH")

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the scenarios' first timestamp
MIN_EPOCH_MS = 1_577_836_800_000  # 2020-01-01: the firmware's clock-sanity floor
SCENARIOS = (
    "normal",
    "nan_skipped",
    "sensor_missing",
    "no_tags",
    "escaped_tags",
    "max_batch",
    "small_buffer",
    "overflow",
)


# --------------------------------------------------------------------------------------------
# A checker for POST /ingest bodies, following docs/plexus-contract.md §4.2 step 5-6
# --------------------------------------------------------------------------------------------

SOURCE_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_POINTS = 10_000
MAX_STR_BYTES = 256
MAX_TAGS = 16
MAX_EVENT_JSON_BYTES = 4096


def strict_json(text: str) -> object:
    """Parse JSON as Go does: NaN/Infinity tokens are errors, not floats."""

    def reject(token: str) -> object:
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=reject)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _point_errors(where: str, point: object, default_source: object) -> list[str]:
    if not isinstance(point, dict):
        return [f"{where}: not an object"]
    errors: list[str] = []
    source = point.get("source_id", default_source)
    if not isinstance(source, str) or not source:
        errors.append(f"{where}: source_id required")
    elif not SOURCE_ID_RE.fullmatch(source) or _nbytes(source) > MAX_STR_BYTES:
        errors.append(f"{where}: invalid source_id {source!r}")
    value = point.get("value")
    point_class = point.get("class", "metric" if _is_number(value) else "event")
    if point_class not in ("metric", "event"):
        errors.append(f"{where}: invalid class {point_class!r}")
    metric = point.get("metric")
    if not isinstance(metric, str) or not metric or _nbytes(metric) > MAX_STR_BYTES:
        errors.append(f"{where}: metric must be a non-empty string of <= 256 bytes")
    if "value" not in point or value is None:
        errors.append(f"{where}: value cannot be null")
    elif point_class == "metric":
        if not _is_number(value) or not math.isfinite(value):
            errors.append(f"{where}: metric value must be a finite number")
    elif isinstance(value, str) and _nbytes(value) > MAX_STR_BYTES:
        errors.append(f"{where}: event string value too long")
    elif isinstance(value, dict | list) and _nbytes(json.dumps(value)) > MAX_EVENT_JSON_BYTES:
        errors.append(f"{where}: event value too large")
    if "timestamp" in point:
        ts = point["timestamp"]
        if not _is_number(ts) or not math.isfinite(ts):
            errors.append(f"{where}: timestamp must be a finite number")
    if "tags" in point:
        errors.extend(_tag_errors(where, point["tags"]))
    return errors


def _tag_errors(where: str, tags: object) -> list[str]:
    if not isinstance(tags, dict):
        return [f"{where}: tags must be an object"]
    errors = [f"{where}: more than {MAX_TAGS} tags"] if len(tags) > MAX_TAGS else []
    for key, tag_value in tags.items():
        if not isinstance(tag_value, str):
            errors.append(f"{where}: tag {key!r} must be a string (flat)")
        elif _nbytes(key) > MAX_STR_BYTES or _nbytes(tag_value) > MAX_STR_BYTES:
            errors.append(f"{where}: tag {key!r} longer than 256 bytes")
    return errors


def gateway_errors(body: object) -> list[str]:
    """Every reason the gateway would answer 400 to this decoded body (empty: accepted)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    points = body.get("points")
    if not isinstance(points, list):
        return ["'points' array is required"]
    if len(points) > MAX_POINTS:
        return [f"too many points: {len(points)} (max {MAX_POINTS})"]
    errors: list[str] = []
    for index, point in enumerate(points):
        errors.extend(_point_errors(f"points[{index}]", point, body.get("source_id")))
    return errors


@pytest.mark.parametrize(
    "body",
    [
        {"source_id": "esp32-bme280", "points": [{"metric": "t", "value": None}]},
        {"source_id": "ESP32", "points": [{"metric": "t", "value": 1}]},
        {"source_id": "a" * 257, "points": [{"metric": "t", "value": 1}]},
        {"source_id": "ok", "points": [{"metric": "", "value": 1}]},
        {"source_id": "ok", "points": [{"metric": "t", "value": "22.4", "class": "metric"}]},
        {"source_id": "ok", "points": [{"metric": "t", "value": 1, "timestamp": "1700"}]},
        {"source_id": "ok", "points": [{"metric": "t", "value": 1, "tags": {"a": {"b": "c"}}}]},
        {
            "source_id": "ok",
            "points": [{"metric": "t", "value": 1, "tags": {str(i): "x" for i in range(17)}}],
        },
        {"source_id": "ok", "points": [{"metric": "t", "value": 1}] * 10_001},
        {"source_id": "ok"},
    ],
    ids=[
        "null",
        "uppercase-id",
        "long-id",
        "empty-metric",
        "string-value",
        "string-ts",
        "nested-tags",
        "17-tags",
        "10001-points",
        "no-points",
    ],
)
def test_checker_rejects_what_the_gateway_rejects(body: dict[str, object]) -> None:
    assert gateway_errors(body)


def test_checker_accepts_a_plain_body_and_rejects_nan_tokens() -> None:
    body = '{"source_id":"dev-01","points":[{"metric":"temperature","value":20.0,"timestamp":1}]}'
    assert gateway_errors(strict_json(body)) == []
    with pytest.raises(ValueError):
        strict_json('{"source_id":"a","points":[{"metric":"t","value":NaN}]}')


# --------------------------------------------------------------------------------------------
# Building and running the C code
# --------------------------------------------------------------------------------------------


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )


def _compile_tests(out: Path, extra_flags: tuple[str, ...] = ()) -> Path:
    assert CC is not None
    binary = out / "test_fleetnode"
    result = _run(
        [
            CC,
            *CFLAGS,
            *extra_flags,
            f"-I{LIB_SRC}",
            str(LIB_SRC / "fleetnode.c"),
            str(TEST_SRC),
            "-o",
            str(binary),
            "-lm",
        ]
    )
    assert result.returncode == 0, f"compile failed:\n{result.stdout}{result.stderr}"
    return binary


@pytest.fixture(scope="module")
def test_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if CC is None:
        pytest.skip("no C compiler (gcc or cc) on PATH")
    return _compile_tests(tmp_path_factory.mktemp("fleetnode"))


def _summary(stdout: str) -> tuple[int, int]:
    last = stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"(\d+) passed, (\d+) failed", last)
    assert match, f"unexpected final line {last!r}"
    return int(match.group(1)), int(match.group(2))


@needs_cc
def test_c_unit_tests_pass(test_binary: Path) -> None:
    result = _run([str(test_binary)])
    assert result.returncode == 0, result.stdout + result.stderr
    passed, failed = _summary(result.stdout)
    assert failed == 0
    assert passed >= 25


@needs_cc
@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_test_target(tmp_path: Path) -> None:
    assert CC is not None and MAKE is not None
    result = _run(
        [
            MAKE,
            "-s",
            "--no-print-directory",
            "-C",
            str(FIRMWARE),
            "test",
            f"BUILD={tmp_path}",
            f"CC={CC}",
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _summary(result.stdout)[1] == 0
    assert (tmp_path / "test_fleetnode").is_file()


def _sanitizers_work(tmp_path: Path) -> bool:
    assert CC is not None
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    flags = ["-fsanitize=address,undefined", "-o", str(tmp_path / "probe")]
    built = _run([CC, str(probe), *flags])
    return built.returncode == 0 and _run([str(tmp_path / "probe")]).returncode == 0


@needs_cc
def test_c_unit_tests_pass_under_sanitizers(tmp_path: Path) -> None:
    if not _sanitizers_work(tmp_path):
        pytest.skip("this compiler cannot build/run -fsanitize=address,undefined programs")
    flags = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")
    binary = _compile_tests(tmp_path, flags)
    result = _run([str(binary)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert _summary(result.stdout)[1] == 0
    payloads = _run([str(binary), "--payloads"])
    assert payloads.returncode == 0, payloads.stderr


def test_library_uses_only_the_c_standard_library() -> None:
    allowed = {
        "fleetnode.h",
        "limits.h",
        "math.h",
        "stdbool.h",
        "stddef.h",
        "stdint.h",
        "stdio.h",
        "string.h",
    }
    for source in sorted(LIB_SRC.glob("*.[ch]")):
        included = set(re.findall(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', source.read_text(), re.M))
        assert included <= allowed, f"{source.name} includes {sorted(included - allowed)}"


@needs_cxx
def test_header_compiles_as_cpp(tmp_path: Path) -> None:
    assert CXX is not None
    unit = tmp_path / "use.cpp"
    unit.write_text(
        '#include "fleetnode.h"\nint main() { return fleetnode_source_id_valid("a") ? 0 : 1; }\n'
    )
    result = _run(
        [
            CXX,
            "-std=c++11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            f"-I{LIB_SRC}",
            "-c",
            str(unit),
            "-o",
            str(tmp_path / "use.o"),
        ]
    )
    assert result.returncode == 0, result.stderr


@needs_cxx
@pytest.mark.parametrize(
    ("sdk_queue", "extra"),
    [(0, []), (1, []), (0, ['-DPLEXUS_ROOT_CA="-----BEGIN CERTIFICATE-----\\n"'])],
    ids=["hal-post", "sdk-queue", "pinned-ca"],
)
def test_sketch_compiles_against_stubs(tmp_path: Path, sdk_queue: int, extra: list[str]) -> None:
    """Syntax/type check of fleetscan_node.ino (via src/main.cpp) with the example config."""
    assert CXX is not None
    (tmp_path / "fleetscan_node").mkdir()
    (tmp_path / "src").mkdir()
    shutil.copy(SKETCH / "fleetscan_node.ino", tmp_path / "fleetscan_node")
    shutil.copy(SKETCH / "config.example.h", tmp_path / "fleetscan_node" / "config.h")
    shutil.copy(FIRMWARE / "src" / "main.cpp", tmp_path / "src")
    result = _run(
        [
            CXX,
            "-std=gnu++17",
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-DFLEETNODE_USE_SDK_QUEUE={sdk_queue}",
            *extra,
            f"-I{STUBS}",
            f"-I{LIB_SRC}",
            str(tmp_path / "src" / "main.cpp"),
        ]
    )
    assert result.returncode == 0, result.stderr


@needs_cxx
def test_sketch_without_config_h_fails_with_a_hint(tmp_path: Path) -> None:
    assert CXX is not None
    (tmp_path / "fleetscan_node").mkdir()
    (tmp_path / "src").mkdir()
    shutil.copy(SKETCH / "fleetscan_node.ino", tmp_path / "fleetscan_node")
    shutil.copy(FIRMWARE / "src" / "main.cpp", tmp_path / "src")
    result = _run(
        [
            CXX,
            "-std=gnu++17",
            "-fsyntax-only",
            f"-I{STUBS}",
            f"-I{LIB_SRC}",
            str(tmp_path / "src" / "main.cpp"),
        ]
    )
    assert result.returncode != 0
    assert "copy config.example.h to config.h" in result.stderr


def test_config_h_is_git_ignored_and_example_is_complete() -> None:
    ignored = (FIRMWARE / ".gitignore").read_text().splitlines()
    assert "fleetscan_node/config.h" in ignored
    assert "build/" in ignored
    example = (SKETCH / "config.example.h").read_text()
    for setting in (
        "WIFI_SSID",
        "WIFI_PASSWORD",
        "PLEXUS_API_KEY",
        "PLEXUS_ENDPOINT",
        "SOURCE_ID_OVERRIDE",
        "TAG_ROOM",
        "TAG_SITE",
    ):
        assert re.search(rf"^#define {setting} ", example, re.M), setting


# --------------------------------------------------------------------------------------------
# The payloads the board sends
# --------------------------------------------------------------------------------------------

Payload = tuple[int, str, dict[str, object]]


@pytest.fixture(scope="module")
def payloads(test_binary: Path) -> dict[str, Payload]:
    result = _run([str(test_binary), "--payloads"])
    assert result.returncode == 0, result.stderr
    out: dict[str, Payload] = {}
    for line in result.stdout.splitlines():
        name, consumed, text = line.split("\t", 2)
        body = strict_json(text)
        assert isinstance(body, dict), line
        out[name] = (int(consumed), text, body)
    assert set(out) == set(SCENARIOS)
    return out


def _points(body: Mapping[str, object]) -> list[dict[str, object]]:
    points = body["points"]
    assert isinstance(points, list)
    assert all(isinstance(p, dict) for p in points)
    return points


def _metric_values(body: Mapping[str, object], metric: str) -> list[object]:
    return [p["value"] for p in _points(body) if p["metric"] == metric]


@needs_cc
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_payload_passes_gateway_rules(payloads: dict[str, Payload], scenario: str) -> None:
    consumed, text, body = payloads[scenario]
    assert gateway_errors(body) == []
    assert "null" not in text and "nan" not in text.lower() and "inf" not in text.lower()
    points = _points(body)
    assert consumed == len(points) > 0
    for point in points:
        assert set(point) <= {"metric", "value", "timestamp", "tags"}
        timestamp = point["timestamp"]
        assert isinstance(timestamp, int) and timestamp >= MIN_EPOCH_MS  # ms, never seconds
        assert _is_number(point["value"])


@needs_cc
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_payload_accepted_by_sandbox_validator(payloads: dict[str, Payload], scenario: str) -> None:
    ingest = pytest.importorskip(
        "fleetscan.sandbox.ingest", reason="fleetscan.sandbox.ingest is not available"
    )
    _consumed, text, body = payloads[scenario]
    decoded = ingest.decode_ingest_body(text.encode("utf-8"))
    assert decoded == body
    accepted, error = ingest.validate_ingest_body(decoded)
    assert error is None
    assert len(accepted) == len(_points(body))
    assert all(point.point_class == "metric" for point in accepted)


@needs_cc
def test_normal_batch(payloads: dict[str, Payload]) -> None:
    _consumed, _text, body = payloads["normal"]
    assert body["source_id"] == "esp32-bme280-a1b2c3"
    points = _points(body)
    assert len(points) == 12  # 3 cycles x (temperature, humidity, pressure, sensor.ok)
    assert all(p["tags"] == {"room": "lab", "site": "hq"} for p in points)
    assert _metric_values(body, "temperature") == [22.4, 22.45, 22.5]  # no float32 artefacts
    assert _metric_values(body, "pressure") == [1013.25] * 3  # hPa, not Pa
    assert _metric_values(body, "sensor.ok") == [1, 1, 1]
    assert {p["timestamp"] for p in points} == {T0, T0 + 2000, T0 + 4000}


@needs_cc
def test_nan_and_out_of_range_readings_are_skipped(payloads: dict[str, Payload]) -> None:
    _consumed, _text, body = payloads["nan_skipped"]
    by_time: dict[object, set[object]] = {}
    for point in _points(body):
        by_time.setdefault(point["timestamp"], set()).add(point["metric"])
    assert by_time[T0] == {"temperature", "pressure", "sensor.ok"}  # NaN humidity skipped
    assert by_time[T0 + 2000] == {"humidity", "pressure", "sensor.ok"}  # -143 C skipped
    assert _metric_values(body, "sensor.ok") == [0, 0]


@needs_cc
def test_missing_sensor_reports_fault_without_values(payloads: dict[str, Payload]) -> None:
    _consumed, _text, body = payloads["sensor_missing"]
    assert {p["metric"] for p in _points(body)} == {"sensor.ok"}
    assert _metric_values(body, "sensor.ok") == [0, 0]


@needs_cc
def test_tags_are_optional_and_escaped(payloads: dict[str, Payload]) -> None:
    _consumed, _text, untagged = payloads["no_tags"]
    assert untagged["source_id"] == "greenhouse-7.node_2"
    assert all("tags" not in p for p in _points(untagged))
    _consumed, _text, escaped = payloads["escaped_tags"]
    assert all(p["tags"] == {"room": 'lab "B"\\2', "site": "hq-1"} for p in _points(escaped))


@needs_cc
def test_batches_are_bounded(payloads: dict[str, Payload]) -> None:
    consumed, _text, body = payloads["max_batch"]
    assert consumed == len(_points(body)) == 100
    consumed, text, body = payloads["small_buffer"]
    assert len(text.encode("utf-8")) < 1024
    assert 0 < consumed == len(_points(body)) < 100


@needs_cc
def test_full_queue_keeps_the_newest_points(payloads: dict[str, Payload]) -> None:
    _consumed, _text, body = payloads["overflow"]
    points = _points(body)
    assert len(points) == 8  # queue capacity
    assert [p["timestamp"] for p in points] == [T0 + 6000] * 4 + [T0 + 8000] * 4


def test_the_c_sdk_is_pinned_to_a_tag_or_commit() -> None:
    """An unpinned git URL builds whatever the SDK's HEAD is; its HTTP function changed
    signature between releases."""
    ini = (FIRMWARE / "platformio.ini").read_text()
    urls = [line.split(";")[0].strip() for line in ini.splitlines() if "c-sdk" in line]
    urls = [u for u in urls if u]
    assert urls and all(re.search(r"#(v\d+\.\d+\.\d+|[0-9a-f]{40})$", u) for u in urls), urls


def test_the_readme_says_the_sdk_does_not_verify_certificates() -> None:
    text = " ".join((FIRMWARE / "README.md").read_text().split())
    assert "not verified" in text and "PLEXUS_ROOT_CA" in text
