"""`--clickhouse http://user@host:port`: the sweep through clickhouse-connect against a server.

The server is `clickhouse_server.ClickHouseHTTP`: ClickHouse's HTTP interface on loopback, every
query run by chdb over a data directory in Plexus's layout (clickhouse_fixtures.py). The same
rows are swept through the real CLI over the Plexus sandbox, over chdb, and over the server;
the verdicts agree to 1e-9. The password (FLEETSCAN_CLICKHOUSE_PASSWORD) reaches the server and
nothing else: not stdout, stderr, JSONL or a log record, whatever the server answers.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sweep_helpers import env_for
from typer.testing import CliRunner

from fleetscan.cli import app
from fleetscan.sandbox import Sandbox
from fleetscan.sandbox.keys import ORG_ID
from fleetscan.timeutil import iso_z

pytest.importorskip("chdb", reason="the clickhouse extra: pip install -e '.[test]'")
pytest.importorskip("clickhouse_connect", reason="the clickhouse extra: pip install -e '.[test]'")

from clickhouse_fixtures import create_plexus_store  # noqa: E402
from clickhouse_server import Answer, ClickHouseHTTP, Request  # noqa: E402
from test_clickhouse import HOUR, NOW, fleet  # noqa: E402

PASSWORD = "s3cr=t pa$s/wörd"  # URL-unsafe on purpose: it must still arrive whole
USER = "reader"
METRICS = ["temperature", "humidity"]


@pytest.fixture(scope="module")
def sandbox_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The simulated fleet's rows as the sandbox serves them (what the HTTP path reads)."""
    with Sandbox(host="127.0.0.1", port=0, quiet=True, clock=lambda: NOW / 1000) as sb:
        sb.insert(fleet().iter_readings(METRICS))
        rows: list[dict[str, Any]] = httpx.get(
            f"{sb.endpoint}/api/v1/telemetry",
            params={"metric": ",".join(METRICS), "from": iso_z(NOW - 10 * HOUR),
                    "to": iso_z(NOW + HOUR), "limit": "100000"},
            headers={"x-api-key": sb.read_key},
        ).json()["data"]  # fmt: skip
    assert 0 < len(rows) < 100_000
    return rows


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, sandbox_rows: list[dict[str, Any]]) -> Path:
    path = tmp_path_factory.mktemp("clickhouse") / "ch"
    create_plexus_store(path, sandbox_rows, org=ORG_ID)
    return path


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every log record of any logger (the driver's and urllib3's included), as text."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(self.format(record) + (record.exc_text or ""))

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    loggers = [logging.getLogger(), logging.getLogger("clickhouse_connect"),
               logging.getLogger("urllib3")]  # fmt: skip
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield seen
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, args, env={"FLEETSCAN_CLICKHOUSE_PASSWORD": PASSWORD, **(env or {})}
    )
    return result.exit_code, result.stdout, result.stderr


def http_url(server: ClickHouseHTTP, scheme: str = "http") -> str:
    return f"{scheme}://{USER}@127.0.0.1:{server.port}"


def records(stdout: str) -> dict[tuple[object, ...], dict[str, Any]]:
    """JSONL records by (at, source, metric)."""
    out: dict[tuple[object, ...], dict[str, Any]] = {}
    for r in map(json.loads, stdout.splitlines()):
        out[(r.get("at"), r["source_id"], r["metric"])] = r
    return out


def assert_same_records(a: dict[Any, dict[str, Any]], b: dict[Any, dict[str, Any]]) -> None:
    """The same series with the same fields: numbers to 1e-9 (relative past 1), the rest equal."""
    assert set(a) == set(b)
    for key in a:
        assert set(a[key]) == set(b[key]), key
        for name, x in a[key].items():
            y = b[key][name]
            if isinstance(x, float) or isinstance(y, float):
                assert x is not None and y is not None, (key, name, x, y)
                assert (math.isnan(x) and math.isnan(y)) or abs(x - y) <= 1e-9 * max(1.0, abs(x)), (
                    key, name, x, y,
                )  # fmt: skip
            else:
                assert x == y, (key, name, x, y)


def assert_never_shown(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text
        assert "s3cr" not in text  # nor a part of it, nor its URL-encoded form


SWEEP = ["fleet", "--metric", "temperature", "--metric", "humidity", "--at", iso_z(NOW),
         "--baseline", "8h", "--group-by", "room", "--min-peers", "3", "--format", "jsonl"]  # fmt: skip


@pytest.mark.slow
def test_a_server_sweep_gives_the_verdicts_of_chdb_and_of_the_plexus_api(
    store: Path, tmp_path: Path, logs: list[str]
) -> None:
    with Sandbox(host="127.0.0.1", port=0, quiet=True, clock=lambda: NOW / 1000) as sb:
        sb.insert(fleet().iter_readings(METRICS))
        code_api, out_api, err_api = run([*SWEEP, "--no-state"], env_for(sb, tmp_path))
    code_chdb, out_chdb, _ = run([*SWEEP, "--clickhouse", f"chdb:{store}", "--org", ORG_ID])
    with ClickHouseHTTP(store, user=USER, password=PASSWORD) as server:
        code, out, err = run([*SWEEP, "--clickhouse", http_url(server), "--org", ORG_ID])
    assert code == code_chdb == code_api, (err, err_api)
    api, chdb, http = records(out_api), records(out_chdb), records(out)
    assert len(http) == 32
    assert_same_records(http, chdb)
    assert_same_records(http, api)
    statuses = {r["status"] for r in http.values()}
    assert {"ok", "drifting", "stuck", "invalid", "stale"} <= statuses, statuses
    # every request carried the password, and the queries were the pushed-down ones
    assert server.requests and all(
        r.password == PASSWORD and r.user == USER for r in server.requests
    )
    assert (
        sum("groupArrayIf" in r.sql for r in server.requests) == 4
    )  # window + baseline, 2 metrics
    assert_never_shown(out, err, "\n".join(logs))


PLAIN = [*SWEEP[:5], "--at", iso_z(NOW), "--baseline", "0", "--format", "jsonl"]


@pytest.fixture(scope="module")
def over_chdb(store: Path) -> tuple[int, str, str]:
    """The snapshot sweep of `PLAIN` over chdb, for each compression to be compared with."""
    return run([*PLAIN, "--clickhouse", f"chdb:{store}"])


@pytest.mark.parametrize("compression", ["gzip", "zstd", "lz4", "none"])
def test_every_compression_the_driver_accepts_gives_the_same_verdicts(
    store: Path, over_chdb: tuple[int, str, str], compression: str
) -> None:
    """The server compresses its answers with what the driver accepts (a ClickHouse server picks
    zstd from the driver's list); each decoder of the driver gives the same rows."""
    args = PLAIN
    code_chdb, out_chdb, _ = over_chdb
    methods = () if compression == "none" else (compression,)
    with ClickHouseHTTP(store, user=USER, password=PASSWORD, compressions=methods) as server:
        code, out, err = run([*args, "--clickhouse", http_url(server)])
    assert code == code_chdb, err
    assert len(records(out)) == 32
    assert_same_records(records(out), records(out_chdb))
    sent = {
        e for r, e in zip(server.requests, server.encodings, strict=True) if "groupArrayIf" in r.sql
    }
    assert sent == {"identity" if compression == "none" else compression}


def echo(
    status: int, *, code: str | None = None, when: str = ""
) -> Callable[[Request], Answer | None]:
    """A fault answering `status` with the request's own credentials in the body, for requests
    whose SQL holds `when` (all by default)."""

    def fault(request: Request) -> Answer | None:
        if when not in request.sql:
            return None
        body = (
            f"Code: {code or 0}. DB::Exception: user {request.user} password {request.password}\n"
        )
        headers = {"X-ClickHouse-Exception-Code": code} if code else {}
        return Answer(status, body.encode(), headers)

    return fault


@pytest.mark.parametrize(
    ("name", "fault", "says"),
    [
        ("echoing 401", echo(401), "answered HTTP 401"),
        ("echoing 500", echo(500), "answered HTTP 500"),
        (
            "echoing ClickHouse error",
            echo(500, code="1001"),
            "connecting failed: Received ClickHouse",
        ),
        ("query error echoing", echo(500, code="47", when="groupArrayIf"), "query failed"),
        (
            "not Native",
            lambda r: (
                Answer(200, b"<html>" + PASSWORD.encode()) if "groupArrayIf" in r.sql else None
            ),
            "query failed",
        ),
    ],
)
def test_a_failing_server_gives_one_line_without_the_password(
    store: Path, logs: list[str], name: str, fault: Callable[[Request], Answer | None], says: str
) -> None:
    with ClickHouseHTTP(store, user=USER, password=PASSWORD, fault=fault) as server:
        code, out, err = run([*SWEEP, "--clickhouse", http_url(server)])
        code_r, out_r, err_r = run(
            ["replay", "--metric", "temperature", "--from", iso_z(NOW - HOUR), "--to", iso_z(NOW),
             "--every", "30m", "--clickhouse", http_url(server)]
        )  # fmt: skip
    assert any(r.password == PASSWORD for r in server.requests)  # it reached the server
    for c, o, e in ((code, out, err), (code_r, out_r, err_r)):
        assert c == 3, e
        assert o == ""
        assert len(e.strip().splitlines()) == 1, e
        assert "Traceback" not in e and says in e, e
        assert e.startswith("fleetscan: error: ClickHouse at 127.0.0.1:"), e
    assert_never_shown(err, err_r, "\n".join(logs))


def test_a_wrong_password_or_user_is_refused_in_one_line(store: Path, logs: list[str]) -> None:
    with ClickHouseHTTP(store, user=USER, password=PASSWORD + "x") as server:
        code, out, err = run([*SWEEP, "--clickhouse", http_url(server)])
        wrong_user = run([*SWEEP, "--clickhouse", f"http://nobody@127.0.0.1:{server.port}"])
    assert code == 3 and out == ""
    assert err.strip() == (
        f"fleetscan: error: ClickHouse at 127.0.0.1:{server.port} refused user 'reader' "
        "(authentication failed): check the user in the URL and FLEETSCAN_CLICKHOUSE_PASSWORD"
    )
    assert wrong_user[0] == 3 and "refused user 'nobody'" in wrong_user[2]
    assert server.requests[0].password == PASSWORD
    assert_never_shown(err, wrong_user[2], "\n".join(logs))


def test_an_unknown_database_is_one_line(store: Path) -> None:
    with ClickHouseHTTP(store, user=USER, password=PASSWORD) as server:
        code, out, err = run([*SWEEP, "--clickhouse", http_url(server), "--database", "nosuch"])
    assert code == 3 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "no table nosuch.telemetry" in err and "--database" in err, err
    assert_never_shown(err)


def test_https_against_a_plain_http_server_fails_cleanly(store: Path, logs: list[str]) -> None:
    with ClickHouseHTTP(store, user=USER, password=PASSWORD) as server:
        code, out, err = run([*SWEEP, "--clickhouse", http_url(server, "https")])
    assert code == 3 and out == ""
    assert err.startswith(
        f"fleetscan: error: cannot reach ClickHouse at 127.0.0.1:{server.port}: TLS failed"
    )
    assert len(err.strip().splitlines()) == 1, err
    assert not server.requests  # no request was understood, so no password was read
    assert_never_shown(err, "\n".join(logs))


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_so_the_password_goes_nowhere_else(
    store: Path, logs: list[str], status: int
) -> None:
    """Left to itself the driver's urllib3 follows one redirect, stripping `Authorization` only
    when the host changes; fleetscan follows none: the other host sees nothing."""
    with ClickHouseHTTP(store, user=USER, password=PASSWORD) as elsewhere:
        moved = f"http://127.0.0.1:{elsewhere.port}/"

        def redirect(request: Request) -> Answer:
            return Answer(status, b"moved\n", {"Location": moved + "?" + "query=SELECT%201"})

        with ClickHouseHTTP(store, user=USER, password=PASSWORD, fault=redirect) as server:
            code, out, err = run([*SWEEP, "--clickhouse", http_url(server)])
    assert code == 3 and out == ""
    assert err.strip() == (
        f"fleetscan: error: ClickHouse at 127.0.0.1:{server.port} answered HTTP {status}, a "
        f"redirect to 127.0.0.1:{elsewhere.port}: not followed (a ClickHouse server does not "
        "redirect); point --clickhouse at the server itself"
    )
    assert len(server.requests) == 1 and server.requests[0].password == PASSWORD
    assert elsewhere.requests == []
    assert_never_shown(err, "\n".join(logs))


SILENCED_BOARD = "esp32-bme280-03"  # its step (fleet(): 8 h in, at NOW - 1 h) alerts in the replay
STRICT_BOARD = "esp32-bme280-05"  # judged against its own threshold (the config file)


@pytest.mark.slow
def test_replay_in_clickhouse_applies_silences_and_thresholds_as_replay_over_a_file(
    store: Path, tmp_path: Path, sandbox_rows: list[dict[str, Any]]
) -> None:
    """`replay --clickhouse` with `--state` (its silences) and `--config` (per-board thresholds)
    gives the records `replay --input` gives over the same rows, over chdb and over a server."""
    path = tmp_path / "rows.jsonl"
    path.write_text(
        "".join(json.dumps(r) + "\n" for r in sandbox_rows if r["metric"] == "temperature"),
        encoding="utf-8",
    )
    state, config = tmp_path / "state.db", tmp_path / "fleetscan.toml"
    config.write_text(f'[boards."{STRICT_BOARD}"]\nthreshold = 0.5\n', encoding="utf-8")
    code, _, err = run(["silence", "add", "--source", SILENCED_BOARD, "--from",
                        iso_z(NOW - 40 * 60_000), "--for", "30m", "--reason", "recalibrating",
                        "--state", str(state)])  # fmt: skip
    assert code == 0, err
    replay = ["replay", "--metric", "temperature", "--from", iso_z(NOW - HOUR), "--to",
              iso_z(NOW), "--every", "10m", "--baseline", "8h", "--format", "jsonl",
              "--group-by", "room", "--min-peers", "2"]  # fmt: skip
    adjusted = ["--config", str(config), *replay, "--state", str(state)]
    from_file = run([*adjusted, "--input", str(path)])
    pushed = run([*adjusted, "--clickhouse", f"chdb:{store}", "--org", ORG_ID])
    plain = run([*replay, "--clickhouse", f"chdb:{store}", "--org", ORG_ID])
    with ClickHouseHTTP(store, user=USER, password=PASSWORD) as server:
        served = run([*adjusted, "--clickhouse", http_url(server), "--org", ORG_ID])
    for code, _, err in (from_file, pushed, plain, served):
        assert code == 0, err
    a, b, c = records(from_file[1]), records(pushed[1]), records(served[1])
    assert len(a) == 7 * 16
    assert_same_records(b, a)
    assert_same_records(c, a)
    silenced = {k: r for k, r in a.items() if k[1] == SILENCED_BOARD and r["held"] == "silenced"}
    assert len(silenced) == 3  # the sweeps at NOW - 40, 30 and 20 minutes
    assert all(not r["alerting"] and "recalibrating" in r["reason"] for r in silenced.values())
    unsilenced = records(plain[1])
    # without the silence the same sweeps flag it and two of them page; with it, none
    assert all(unsilenced[k]["status"] == r["status"] == "drifting" for k, r in silenced.items())
    assert [unsilenced[k]["alerting"] for k in sorted(silenced)] == [False, True, True]
    strict = [r for k, r in b.items() if k[1] == STRICT_BOARD]
    assert any("this board's threshold 0.5" in r["reason"] for r in strict)
    assert not any("threshold 0.5" in r["reason"] for k, r in unsilenced.items())


COLUMNS = """
SELECT source_id, toInt64(count()) AS n, if(n > 1000, NULL, avg(value)) AS maybe,
       argMax(tags['room'], timestamp) AS room, toUInt8(n > 0) AS flag
FROM plexus.telemetry WHERE metric = 'temperature' GROUP BY source_id ORDER BY source_id
"""


def test_a_server_hands_over_the_columns_chdb_hands_over(store: Path) -> None:
    """Strings (LowCardinality too) as object arrays, NULLs as NaN, integers as integers, no rows
    as no columns: the same arrays from both connections."""
    import numpy as np

    from fleetscan.clickhouse import Connection

    with Connection(f"chdb:{store}") as conn:
        local = conn.columns(COLUMNS)
        assert conn.columns(COLUMNS.replace("GROUP BY", "AND 0 GROUP BY")) == []
    with ClickHouseHTTP(store, user=USER, password=PASSWORD) as server:
        with Connection(http_url(server), password=PASSWORD) as conn:
            remote = conn.columns(COLUMNS)
            assert conn.columns(COLUMNS.replace("GROUP BY", "AND 0 GROUP BY")) == []
    assert len(local) == len(remote) == 5 and len(local[0]) == 16
    for a, b in zip(local, remote, strict=True):
        kinds = {a.dtype.kind, b.dtype.kind}
        assert len(kinds) == 1 or kinds <= {"i", "u"}, (a.dtype, b.dtype)  # ints of any width
        if a.dtype == object:
            assert a.tolist() == b.tolist() and all(isinstance(x, str) for x in b)
        else:
            np.testing.assert_allclose(b, a, rtol=1e-12, equal_nan=True)
    assert np.isnan(remote[2]).all()  # every row's NULL


def test_a_server_behind_a_proxy_path_is_reached_at_that_path(
    store: Path, over_chdb: tuple[int, str, str]
) -> None:
    with ClickHouseHTTP(store, user=USER, password=PASSWORD, prefix="/clickhouse") as server:
        code, out, err = run([*PLAIN, "--clickhouse", http_url(server) + "/clickhouse/"])
        missed = run([*PLAIN, "--clickhouse", http_url(server)])
    assert code == over_chdb[0], err
    assert_same_records(records(out), records(over_chdb[1]))
    assert {r.path for r in server.requests} == {"/clickhouse", "/"}
    assert missed[0] == 3 and missed[1] == "" and "answered HTTP 404" in missed[2], missed[2]
    assert len(missed[2].strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://reader@127.0.0.1:port", "the port is not a number"),
        ("http://reader@127.0.0.1:8123/?database=plexus", "no ?query or #fragment"),
    ],
)
def test_a_malformed_server_url_is_a_usage_error(url: str, says: str) -> None:
    for command in (SWEEP, ["replay", "--metric", "temperature", "--from", iso_z(NOW)]):
        code, out, err = run([*command, "--clickhouse", url])
        assert code == 64 and out == "", err
        assert len(err.strip().splitlines()) == 1 and says in err, err


@pytest.mark.slow
def test_sensor_ok_is_read_in_clickhouse_as_over_http_and_from_a_file(
    tmp_path: Path, logs: list[str]
) -> None:
    """A board reporting `sensor.ok = 0` is "sensor missing" in `fleet --clickhouse` as in
    `fleet --no-state` over the API, and in `replay --clickhouse` as in `replay --input`."""
    from sweep_helpers import HOUR as H
    from sweep_helpers import MIN, START, readings, write_jsonl

    from fleetscan.telemetry import Reading

    no_sensor, gone = "esp32-bme280-07", START + 6 * H
    at = gone + 30 * MIN
    rows = [r for r in readings() if not (r.source_id == no_sensor and r.ts_ms >= gone)]
    rows += [Reading(no_sensor, "sensor.ok", gone + k * MIN, 0.0) for k in range(31)]
    rows += [Reading("esp32-bme280-01", "sensor.ok", gone + k * MIN, 1.0) for k in range(31)]
    file = write_jsonl(tmp_path / "rows.jsonl", rows)
    plexus_rows = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines()]
    create_plexus_store(tmp_path / "ch", plexus_rows, org=ORG_ID)
    chdb = ["--clickhouse", f"chdb:{tmp_path / 'ch'}"]
    sweep = ["fleet", "--metric", "temperature", "--baseline", "6h", "--min-peers", "3",
             "--at", iso_z(at), "--format", "jsonl"]  # fmt: skip
    replay = ["replay", "--metric", "temperature", "--baseline", "6h", "--min-peers", "3",
              "--from", iso_z(at - 20 * MIN), "--to", iso_z(at), "--format", "jsonl"]  # fmt: skip
    with Sandbox(host="127.0.0.1", port=0, quiet=True, clock=lambda: at / 1000) as sb:
        sb.insert(rows)
        over_api = run([*sweep, "--no-state"], env_for(sb, tmp_path))
    outcomes = {
        "fleet api": over_api,
        "fleet chdb": run([*sweep, *chdb]),
        "replay file": run([*replay, "--input", str(file)]),
        "replay chdb": run([*replay, *chdb]),
    }
    with ClickHouseHTTP(tmp_path / "ch", user=USER, password=PASSWORD) as server:
        outcomes["fleet server"] = run([*sweep, "--clickhouse", http_url(server)])
        outcomes["replay server"] = run([*replay, "--clickhouse", http_url(server)])
    for name, (code, out, err) in outcomes.items():
        assert code in (0, 1, 2) and out, (name, err)
        last = {k[1]: r for k, r in records(out).items() if k[0] == iso_z(at)}
        assert last[no_sensor]["status"] == "stale", name
        assert last[no_sensor]["reason"].startswith(
            f"sensor missing: the board is online and reported sensor.ok = 0 at {iso_z(at)}"
        ), name
        assert "sensor.ok" not in {r["metric"] for r in records(out).values()}
    assert_same_records(records(outcomes["fleet chdb"][1]), records(outcomes["fleet api"][1]))
    assert_same_records(records(outcomes["fleet server"][1]), records(outcomes["fleet api"][1]))
    assert_same_records(records(outcomes["replay chdb"][1]), records(outcomes["replay file"][1]))
    assert_same_records(records(outcomes["replay server"][1]), records(outcomes["replay file"][1]))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (made by the openssl command)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_https_verifies_the_server_certificate(
    store: Path, over_chdb: tuple[int, str, str], certificate: tuple[Path, Path], logs: list[str]
) -> None:
    """An untrusted certificate is one line (nothing sent); trusted (SSL_CERT_FILE, which
    OpenSSL's default verify paths read) the sweep runs over TLS with the chdb verdicts."""
    cert, _ = certificate
    with ClickHouseHTTP(store, user=USER, password=PASSWORD, tls=certificate) as server:
        url = http_url(server, "https")
        refused = run([*PLAIN, "--clickhouse", url])
        assert not server.requests  # the handshake failed: no request, no password
        code, out, err = run([*PLAIN, "--clickhouse", url], {"SSL_CERT_FILE": str(cert)})
    assert refused[0] == 3 and refused[1] == ""
    assert refused[2].startswith(
        f"fleetscan: error: cannot reach ClickHouse at 127.0.0.1:{server.port}: TLS failed "
        "(CERTIFICATE_VERIFY_FAILED)"
    ), refused[2]
    assert len(refused[2].strip().splitlines()) == 1
    assert code == over_chdb[0], err
    assert_same_records(records(out), records(over_chdb[1]))
    assert server.requests and all(r.password == PASSWORD for r in server.requests)
    assert_never_shown(refused[2], out, err, "\n".join(logs))
