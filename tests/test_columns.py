"""Columnar decoding (decode.py, pages.py, columns.py) against the per-row path it replaces.

Every test builds the same rows both ways and compares the `SeriesBatch`es field by field: the
typed decoder must be invisible except for speed, and malformed input must take the old path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetscan.client import PlexusClient
from fleetscan.columns import RowColumns, batches
from fleetscan.decode import _decode_pieces, decode_page, plexus_ms, read_columns, read_lines
from fleetscan.fleet import BatchBuilder, SeriesBatch
from fleetscan.inputs import read_rows
from fleetscan.pages import fetch_columns
from fleetscan.sandbox import Sandbox
from fleetscan.telemetry import ParsedRows, parse_rows
from fleetscan.timeutil import parse_timestamp_ms, plexus_timestamp

KEY = "plx_" + "k" * 32
T0 = parse_timestamp_ms("2026-06-12T10:00:00Z")
GROUPINGS: list[tuple[str, ...]] = [(), ("room",), ("site", "room")]


def plexus_row(
    source: str, ts_ms: int, value: Any, *, metric: str = "temperature", **tags: Any
) -> dict[str, Any]:
    return {
        "org_id": "org",
        "source_id": source,
        "metric": metric,
        "value": value,
        "timestamp": plexus_timestamp(ts_ms),
        "tags": tags,
    }


def fleet_rows(n_sources: int = 12, per_source: int = 20, seed: int = 1) -> list[dict[str, Any]]:
    """Interleaved rows of two metrics; tags that change, vanish or carry only some keys."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(per_source):
        for s in rng.permutation(n_sources).tolist():
            tags: dict[str, Any] = {"room": f"r{s % 3}", "site": "hq"}
            if k == per_source - 1 and s % 4 == 0:
                tags = {"room": "moved"}  # the newest tagged row decides
            elif s % 5 == 0 and k % 2:
                tags = {}  # rows without tags say nothing about the cohort
            ts = T0 + 2000 * k + (s % 3)  # ties across sources
            value = round(21 + 0.1 * s + float(rng.normal(0, 0.05)), 2)
            rows.append(plexus_row(f"b{s:02d}", ts, value, **tags))
            if s % 3 == 0:
                rows.append(plexus_row(f"b{s:02d}", ts, 50.0 + s, metric="humidity", **tags))
    return rows


def old_batches(
    parsed: ParsedRows, metrics: Sequence[str], group_by: Sequence[str], *, dropped: bool
) -> dict[str, SeriesBatch]:
    builder = BatchBuilder(metrics, group_by=group_by)
    builder.add(parsed.readings)
    if dropped:
        builder.add_dropped(parsed.skipped_by_series)
    return builder.build()


def assert_same(a: Mapping[str, SeriesBatch], b: Mapping[str, SeriesBatch]) -> None:
    assert list(a) == list(b)
    for m in a:
        x, y = a[m], b[m]
        assert x.source_ids == y.source_ids
        assert x.cohorts == y.cohorts
        for name in ("source", "ts_ms", "value", "dropped"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=name)


def page_body(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps({"data": rows, "count": len(rows)}).encode()


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_a_decoded_page_builds_the_batches_the_per_row_path_builds(
    group_by: tuple[str, ...],
) -> None:
    rows = fleet_rows()
    rows[5]["value"] = None  # null values are counted per series, as parse_rows counts them
    rows[9]["value"] = None
    rows[11]["value"] = 21  # an int value
    decoded = decode_page(page_body(rows), group_by=group_by)
    assert decoded is not None
    columns = decoded.settle()
    parsed = parse_rows(rows)
    assert columns.skipped == parsed.skipped
    assert columns.skipped_by_series == parsed.skipped_by_series
    assert columns.skipped_summary() == parsed.skipped_summary() == "skipped 2 rows: 2 null value"
    metrics = ["temperature", "humidity", "pressure"]
    assert_same(
        batches(columns, metrics, dropped=columns.skipped_by_series),
        old_batches(parsed, metrics, group_by, dropped=True),
    )


@pytest.mark.parametrize(
    "change",
    [
        {"value": "21.5"},  # a string number: the validator converts it
        {"value": True},
        {"timestamp": "2026-06-12T10:00:00Z"},  # another timestamp form
        {"timestamp": "2026-02-30 10:00:00.000"},  # no such day
        {"timestamp": 1781258400},
        {"source_id": ""},
    ],
)
def test_pages_the_typed_decoder_declines_take_the_per_row_path(change: dict[str, Any]) -> None:
    rows = fleet_rows(4, 3)
    rows[2] = {**rows[2], **change}
    assert decode_page(page_body(rows), group_by=("room",)) is None


@pytest.mark.parametrize("tags", [{"room": 7}, {"room": None}])  # non-string group-by tags
def test_a_page_whose_cohort_rests_on_a_non_string_tag_takes_the_per_row_path(
    tags: dict[str, Any],
) -> None:
    rows = fleet_rows(4, 3)
    newest_b01 = max(i for i, r in enumerate(rows) if r["source_id"] == "b01")
    rows[newest_b01] = {**rows[newest_b01], "tags": tags}
    assert decode_page(page_body(rows), group_by=("room",)) is None


@pytest.mark.parametrize("tags", [{"room": 7}, {"room": None}, "not an object"])
def test_tags_that_cannot_decide_a_cohort_are_not_read_from_a_page(tags: Any) -> None:
    """Only the newest tagged row of each series decides its cohort: a page's older tags are
    not even decoded, and the batches are still the per-row path's."""
    rows = fleet_rows(4, 3)
    oldest_b01 = min(i for i, r in enumerate(rows) if r["source_id"] == "b01")
    rows[oldest_b01] = {**rows[oldest_b01], "tags": tags}
    decoded = decode_page(page_body(rows), group_by=("room",))
    assert decoded is not None
    metrics = ["temperature", "humidity"]
    assert_same(
        batches(decoded.settle(), metrics),
        old_batches(parse_rows(rows), metrics, ("room",), dropped=False),
    )


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_cohorts_from_a_page_out_of_time_order_are_the_per_row_paths(
    group_by: tuple[str, ...],
) -> None:
    rows = fleet_rows(9, 6, seed=3)
    rows[4]["value"] = None  # a null value's tags say nothing either
    shuffled = [rows[i] for i in np.random.default_rng(4).permutation(len(rows))]
    decoded = decode_page(page_body(shuffled), group_by=group_by)
    assert decoded is not None
    metrics = ["temperature", "humidity"]
    assert_same(
        batches(decoded.settle(), metrics),
        old_batches(parse_rows(shuffled), metrics, group_by, dropped=False),
    )


def test_out_of_range_numbers_take_the_per_row_path() -> None:
    rows = fleet_rows(3, 3)
    text = page_body(rows).decode()
    first_value = json.dumps(rows[0]["value"])
    body = text.replace(f'"value": {first_value}', '"value": 1e999', 1).encode()
    assert decode_page(body) is None


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_plexus_timestamps_convert_like_the_validator(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    text = text.rjust(23, "0")
    assert plexus_ms([text]) is not None
    assert plexus_ms([text]).tolist() == [parse_timestamp_ms(text)]  # type: ignore[union-attr]


def test_plexus_ms_declines_what_is_not_exactly_plexus_form() -> None:
    good = "2026-06-12 10:00:00.123"
    for bad in ["2026-06-12 10:00:00.12", "2026-06-12T10:00:00.123", "2026-06-12 10:00:60.000",
                "0000-01-01 00:00:00.000", "2026-06-12 10:00:00.1234", "2026-06-12 1a:00:00.123"]:  # fmt: skip
        assert plexus_ms([good, bad]) is None, bad
    assert plexus_ms([good]).tolist() == [parse_timestamp_ms(good)]  # type: ignore[union-attr]


def compact_body(rows: list[dict[str, Any]], **extra: Any) -> bytes:
    """A page as Plexus and the sandbox write it: no spaces, `data` first."""
    return json.dumps({"data": rows, "count": len(rows), **extra}, separators=(",", ":")).encode()


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_a_big_page_decoded_in_pieces_builds_the_per_row_paths_batches(
    group_by: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fleetscan.decode.PIECE_BYTES", 700)  # a few rows a piece
    rows = fleet_rows(30, 15)
    rows[5]["value"] = None
    rows[-3]["value"] = None
    body = compact_body(rows)
    assert _decode_pieces(body, group_by, ()) is not None  # the pieces path, not the whole page
    decoded = decode_page(body, group_by=group_by, metrics=["temperature", "humidity"])
    assert decoded is not None
    columns, parsed = decoded.settle(), parse_rows(rows)
    assert columns.skipped_summary() == parsed.skipped_summary() == "skipped 2 rows: 2 null value"
    assert columns.skipped_by_series == parsed.skipped_by_series
    metrics = ["temperature", "humidity"]
    assert_same(
        batches(columns, metrics, dropped=columns.skipped_by_series),
        old_batches(parsed, metrics, group_by, dropped=True),
    )


@pytest.mark.parametrize(
    "change",
    [
        {"tags": {"room": 'x},{"room":"y', "site": "hq"}},  # the cut's bytes inside a string
        {"tags": {"room": "r1", "site": "},{"}},
        {"metadata": [{"a": 1}, {"b": [{"c": 2}, {"d": 3}]}]},  # and between nested objects
        {"value": None, "tags": [{"room": "r9"}, {"x": 1}]},
    ],
)
def test_cut_bytes_that_are_not_between_rows_do_not_change_a_pieced_page(
    change: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fleetscan.decode.PIECE_BYTES", 300)
    rows = fleet_rows(12, 8)
    for i in range(0, len(rows), 3):
        rows[i] = {**rows[i], **change}
    metrics = ["temperature", "humidity"]
    for group_by in GROUPINGS:
        decoded = decode_page(compact_body(rows), group_by=group_by, metrics=metrics)
        assert decoded is not None
        assert_same(
            batches(decoded.settle(), metrics),
            old_batches(parse_rows(rows), metrics, group_by, dropped=False),
        )


def test_a_pieced_page_whose_count_or_data_disagree_is_decoded_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("fleetscan.decode.PIECE_BYTES", 300)
    rows, later = fleet_rows(12, 8, seed=1), fleet_rows(5, 2, seed=2)
    wrong_count = compact_body(rows)[:-1] + b',"count":3}'  # a second count: the last one holds
    assert _decode_pieces(wrong_count, (), ()) is None
    twice = compact_body(rows)[:-1] + b',"data":' + json.dumps(later).encode() + b"}"
    assert _decode_pieces(twice, ("room",), ()) is None  # a second `data`: the last one holds
    for body, kept in ((wrong_count, rows), (twice, later)):
        decoded = decode_page(body, group_by=("room",))
        assert decoded is not None
        assert_same(
            batches(decoded.settle(), ["temperature"]),
            old_batches(parse_rows(kept), ["temperature"], ("room",), dropped=False),
        )


def test_a_page_holding_metrics_not_asked_for_decodes_as_without_them() -> None:
    rows = fleet_rows(6, 4)  # temperature and humidity
    asked = decode_page(compact_body(rows), group_by=("room",), metrics=["temperature"])
    plain = decode_page(compact_body(rows), group_by=("room",))
    assert asked is not None and plain is not None
    metrics = ["temperature", "humidity"]
    assert_same(batches(asked.settle(), metrics), batches(plain.settle(), metrics))
    assert asked.columns.metrics == plain.columns.metrics == ("temperature", "humidity")


# -- files ---------------------------------------------------------------------------------------


def write_lines(path: Path, rows: list[Any], extra: Sequence[str] = ()) -> Path:
    lines = [json.dumps(r) for r in rows] + list(extra)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_a_plain_file_reads_into_the_same_batches_in_small_chunks(
    tmp_path: Path, group_by: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = fleet_rows(30, 15)
    rows[7]["value"] = None
    path = write_lines(tmp_path / "rows.jsonl", rows, ["", "   "])
    monkeypatch.setattr("fleetscan.decode.CHUNK_BYTES", 1000)  # many chunks, lines cut across
    columns = read_lines(path, group_by=group_by)
    assert columns is not None
    parsed = read_rows(path)
    assert columns.skipped_summary() == parsed.skipped_summary() == "skipped 1 row: 1 null value"
    metrics = ["temperature", "humidity"]
    assert_same(
        batches(columns, metrics, dropped=columns.skipped_by_series),
        old_batches(parsed, metrics, group_by, dropped=True),
    )


@pytest.mark.parametrize(
    "extra",
    [
        ["{not json"],
        ['{"data": [{"source_id": "b99", "metric": "temperature", "value": 1.0, "timestamp": "2026-06-12 10:00:00.000"}]}'],
        ['{"source_id": "b01", "metric": "temperature", "value": "NaN", "timestamp": "2026-06-12 10:00:00.000"}'],
        ['{"source_id": "b01", "metric": "temperature", "value": NaN, "timestamp": "2026-06-12 10:00:00.000"}'],
        ["[1, 2]"],
    ],
)  # fmt: skip
def test_a_malformed_file_is_read_by_the_per_row_path_with_its_counts(
    tmp_path: Path, extra: list[str]
) -> None:
    path = write_lines(tmp_path / "rows.jsonl", fleet_rows(5, 4), extra)
    assert read_lines(path) is None
    columns = read_columns(path, group_by=("room",))
    parsed = read_rows(path)
    assert columns.skipped == parsed.skipped
    assert columns.skipped_summary() == parsed.skipped_summary()
    assert_same(
        batches(columns, ["temperature"], dropped=columns.skipped_by_series),
        old_batches(parsed, ["temperature"], ("room",), dropped=True),
    )


def test_csv_and_json_arrays_are_read_as_before(tmp_path: Path) -> None:
    rows = fleet_rows(4, 3)
    array = tmp_path / "rows.json"
    array.write_text(json.dumps(rows), encoding="utf-8")
    csv = tmp_path / "rows.csv"
    csv.write_text(
        "source_id,metric,timestamp,value,tag.room\n"
        + "".join(
            f"{r['source_id']},{r['metric']},{r['timestamp']},{r['value']},x\n" for r in rows
        ),
        encoding="utf-8",
    )
    for path in (array, csv):
        columns = read_columns(path, group_by=("room",))
        assert_same(
            batches(columns, ["temperature"]),
            old_batches(read_rows(path), ["temperature"], ("room",), dropped=False),
        )


# -- pages over HTTP -------------------------------------------------------------------------------


def test_paged_columns_equal_the_paged_per_row_fetch_on_the_sandbox() -> None:
    with Sandbox(host="127.0.0.1", port=0, quiet=True, clock=lambda: T0 / 1000 + 600) as sb:
        for s in range(40):
            ts = T0 + 2000 * np.arange(150) + (s % 7)  # 150 rows each, ties at every page edge
            sb.insert_arrays(f"b{s:02d}", "temperature", ts, 21 + 0.01 * np.arange(150) + s,
                             {"room": f"r{s % 4}", "site": "hq"})  # fmt: skip
        with PlexusClient(endpoint=sb.endpoint, api_key=sb.read_key) as client:
            for group_by in GROUPINGS:
                columns = fetch_columns(
                    client,
                    metrics=["temperature"],
                    from_ms=T0,
                    to_ms=T0 + 400_000,
                    group_by=group_by,
                    page_limit=997,
                )
                parsed = client.fetch(
                    metrics=["temperature"], from_ms=T0, to_ms=T0 + 400_000, page_limit=997
                )
                assert len(columns) == len(parsed.readings) == 40 * 150
                assert_same(
                    batches(columns, ["temperature"]),
                    old_batches(parsed, ["temperature"], group_by, dropped=False),
                )


def test_a_page_the_decoder_declines_is_parsed_row_by_row_with_the_same_counts() -> None:
    rows = [plexus_row("b1", T0 + i, 21.0 + i) for i in range(5)]
    rows[1]["value"] = "oops"
    rows[3]["timestamp"] = "2026-06-12T10:00:00.003Z"  # a valid timestamp the typed path declines

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=page_body(rows))

    client = PlexusClient(
        endpoint="https://plexus.test", api_key=KEY, transport=httpx.MockTransport(handler)
    )
    with client:
        columns = fetch_columns(client, metrics=["temperature"], from_ms=T0, to_ms=T0 + 10)
        parsed = client.fetch(metrics=["temperature"], from_ms=T0, to_ms=T0 + 10)
    assert (
        columns.skipped_summary()
        == parsed.skipped_summary()
        == "skipped 1 row: 1 non-numeric value"
    )
    assert columns.ts_ms.tolist() == [r.ts_ms for r in parsed.readings] == [
        T0, T0 + 2, T0 + 3, T0 + 4
    ]  # fmt: skip


def test_concat_merges_codes_and_tallies() -> None:
    a = decode_page(page_body(fleet_rows(3, 2, seed=1)), group_by=("room",))
    b = decode_page(page_body(fleet_rows(5, 2, seed=2)), group_by=("room",))
    assert a is not None and b is not None
    both = RowColumns.concat([a.settle(), b.settle()])
    assert len(both) == len(a) + len(b)
    assert [both.source_ids[s] for s in both.source.tolist()] == [
        c.source_ids[s] for c in (a.columns, b.columns) for s in c.source.tolist()
    ]

    def named(labels: tuple[str, ...], codes: list[int]) -> list[str | None]:
        return [labels[i] if i >= 0 else None for i in codes]

    assert named(both.labels, both.label.tolist()) == [
        x for c in (a.columns, b.columns) for x in named(c.labels, c.label.tolist())
    ]


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_replay_history_from_a_plain_file_equals_the_per_row_history(
    tmp_path: Path, group_by: tuple[str, ...]
) -> None:
    from fleetscan.sweeps.replay import History
    from fleetscan.sweeps.replay_input import load_history

    rows = fleet_rows(20, 10)
    rows[3]["value"] = None
    path = write_lines(tmp_path / "rows.jsonl", rows)
    typed, note = load_history(path, ["temperature", "humidity"], group_by=group_by)
    parsed = read_rows(path)
    assert note == parsed.skipped_summary() == "skipped 1 row: 1 null value"
    reference = History.from_readings(
        parsed.readings, ["temperature", "humidity"], group_by=group_by
    )
    for metric in ("temperature", "humidity"):
        span = [(T0 - 1, T0 + 10**9)]
        assert_same(
            {metric: typed.metrics[metric].batch(span)},
            {metric: reference.metrics[metric].batch(span)},
        )
