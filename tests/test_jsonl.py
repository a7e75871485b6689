"""`--format jsonl`: versioned, UTF-8, rounded records that follow the documented JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from sweep_helpers import BAD, BLIP, SWEEP_TIMES, invoke, readings, write_jsonl

from fleetscan.jsonl import SCHEMA
from fleetscan.timeutil import iso_z

DOC = Path(__file__).parent.parent / "docs" / "schema" / "sweep-record.schema.json"
SCORING = ["--metric", "temperature", "--baseline", "6h", "--group-by", "site", "--min-peers", "3"]


def test_every_record_follows_the_schema_and_says_no_more_than_the_sensor(tmp_path: Path) -> None:
    rows = write_jsonl(tmp_path / "rows.jsonl", readings(shifts=[BLIP]))
    span = ["--from", iso_z(SWEEP_TIMES[0]), "--to", iso_z(SWEEP_TIMES[-1])]
    code, out, err = invoke(["replay", *SCORING, *span, "--input", str(rows), "--format", "jsonl"])
    assert code == 0, err
    schema = json.loads(DOC.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    lines = out.splitlines()
    assert len(lines) == len(SWEEP_TIMES) * 16
    for line in lines:
        record = json.loads(line)
        validator.validate(record)
        assert record["schema"] == SCHEMA and list(record)[0] == "schema"
        for key in ("value", "fleet_median", "offset"):
            if record[key] is not None:
                assert round(record[key], 2) == record[key]  # BME280: 0.01 °C
    drifting = [json.loads(line) for line in lines if '"drifting"' in line]
    assert drifting and all(r["source_id"] == BAD for r in drifting)
    assert "°C" in drifting[0]["reason"] and "°C" in out  # UTF-8, not \u00b0 escapes


def test_a_record_missing_a_field_fails_the_schema() -> None:
    schema = json.loads(DOC.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors({"schema": SCHEMA, "source_id": "b1"}))
    assert any("'metric' is a required property" in e.message for e in errors)
