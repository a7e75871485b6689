"""A ClickHouse server on loopback for the `--clickhouse http://` tests: the part of ClickHouse's
HTTP interface that clickhouse-connect uses, every query run by a real chdb session.

What clickhouse-connect (1.x, `driver/httpclient.py`, `_backend/http_sync.py`, `httpcommon.py`,
`_backend/orchestration.py`) sends and expects, and how this server answers it:

- connecting runs `SELECT version(), timezone()` (a command: the SQL is the POST body, the
  answer TabSeparated), `SELECT name, value, readonly FROM system.settings LIMIT 10000 FORMAT
  Native` (what it may send as settings), and the `client_protocol_version` probe `SELECT 1 AS
  check` in Native. The probe is answered without the block-info header (chdb's Native writer
  has none), as a server behind a proxy that strips the parameter: the client then reads plain
  Native, which is what chdb writes and what a server writes to a client of revision 0;
- a query is POSTed as text with `\\n FORMAT Native` appended; the URL carries
  `session_id`, `query_id`, `wait_end_of_query` and the settings the client chose from
  `system.settings` (`send_progress_in_http_headers`, `cancel_http_readonly_queries_on_client_close`,
  `date_time_input_format`, ...). Transport parameters are taken as such; every other name must
  be one of chdb's settings (else Code 115, UNKNOWN_SETTING, as a server says); their values
  are checked, not applied (none of them changes a SELECT's result);
- the password travels in `Authorization: Basic` (also accepted: `X-ClickHouse-User` /
  `X-ClickHouse-Key` headers, `user` / `password` parameters); a wrong one gets HTTP 403 with
  `X-ClickHouse-Exception-Code: 516` (AUTHENTICATION_FAILED);
- the answer carries `X-ClickHouse-Format`, `X-ClickHouse-Timezone`, `X-ClickHouse-Query-Id`,
  `X-ClickHouse-Summary`, and is compressed when `enable_http_compression` is on (by parameter,
  or chdb's default) with the first of `compressions` that `Accept-Encoding` lists (by default
  ClickHouse's own order, `chooseHTTPCompressionMethod`, less brotli and snappy: zstd, lz4,
  gzip, deflate; lz4 is the frame format, as ClickHouse sends it);
- a failed query is `Code: N. DB::Exception: ...` with `X-ClickHouse-Exception-Code: N` and the
  HTTP status ClickHouse gives that code.

With `tls=(certificate, key)` it serves https. `fault(request)` may answer a request instead (an error page, a redirect); `requests` records
what arrived (with the credentials each request carried) so a test can check what reached it,
`encodings` how each answer was compressed.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import ssl
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Parameters ClickHouse's HTTP handler consumes itself (not settings).
TRANSPORT_PARAMS = {
    "query", "database", "default_format", "user", "password", "quota_key", "session_id",
    "session_timeout", "session_check", "query_id", "compress", "decompress", "buffer_size",
    "wait_end_of_query", "client_protocol_version", "role", "stacktrace",
}  # fmt: skip
FORMAT = re.compile(r"\s+FORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
CODE = re.compile(r"Code: (\d+)\.")
# The HTTP status ClickHouse answers some error codes with (HTTPHandler's
# exceptionCodeToHTTPStatus); any other code is 500.
STATUS_OF_CODE = {
    516: 403, 192: 403, 194: 403, 195: 403, 497: 403,  # authentication, access
    62: 400, 47: 400, 115: 400, 36: 400, 27: 400, 53: 400, 43: 400, 46: 400,
    60: 404, 81: 404,  # unknown table, unknown database
    159: 504, 209: 504,  # timeouts
}  # fmt: skip
CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "JSON": "application/json; charset=UTF-8",
}


@dataclass(frozen=True)
class Request:
    """One request as it arrived: what a test may check reached the server."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    sql: str
    user: str | None
    password: str | None
    host: str


@dataclass
class Answer:
    """A response the server sends as it is (from `fault`)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _credentials(headers: dict[str, str], params: dict[str, str]) -> tuple[str | None, str | None]:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return user, password
    if "x-clickhouse-user" in headers or "x-clickhouse-key" in headers:
        return headers.get("x-clickhouse-user", "default"), headers.get("x-clickhouse-key", "")
    if "user" in params or "password" in params:
        return params.get("user", "default"), params.get("password", "")
    return None, None


def _compress(body: bytes, method: str) -> bytes:
    if method == "gzip":
        return gzip.compress(body)
    if method == "deflate":
        return zlib.compress(body)
    if method == "zstd":  # the standard library's from 3.14, else clickhouse-connect's backport
        import importlib

        try:
            zstd = importlib.import_module("compression.zstd")
        except ImportError:
            zstd = importlib.import_module("backports.zstd")
        return bytes(zstd.compress(body))
    if method == "lz4":
        import lz4.frame

        return bytes(lz4.frame.compress(body))
    raise ValueError(method)


class ClickHouseHTTP:
    """`with ClickHouseHTTP(data_dir, user=..., password=...) as server:` serves
    `server.url` (`http://127.0.0.1:PORT`) until the block ends."""

    def __init__(
        self,
        data_dir: Path,
        *,
        user: str = "default",
        password: str = "",
        compressions: tuple[str, ...] = ("zstd", "lz4", "gzip", "deflate"),
        fault: Callable[[Request], Answer | None] | None = None,
        prefix: str = "",
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.prefix = prefix  # served under this path, as behind a reverse proxy
        self.tls = tls  # (certificate, key): https
        self.user = user
        self.password = password
        self.compressions = compressions
        self.fault = fault
        self.requests: list[Request] = []
        self.encodings: list[str] = []  # each answered query's Content-Encoding ("identity": none)
        self._lock = threading.Lock()
        self._session: Any = None
        self._settings: dict[str, str] = {}
        self.version = ""
        self.timezone = ""
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> ClickHouseHTTP:
        from chdb import session

        self._session = session.Session(str(self.data_dir))  # type: ignore[no-untyped-call]
        version, zone = self._run("SELECT version(), timezone()", "TabSeparated").decode().split()
        self.version, self.timezone = version, zone
        rows = self._run("SELECT name, value FROM system.settings", "TabSeparated").decode()
        self._settings = dict(line.split("\t", 1) for line in rows.splitlines())
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._session is not None:
            self._session.close()
            self._session = None

    def _run(self, sql: str, fmt: str) -> bytes:
        with self._lock:
            result = self._session.query(sql, fmt)
        return bytes(result.bytes())

    def answer(self, request: Request) -> Answer:
        """What ClickHouse would answer `request` with."""
        if not request.path.startswith(self.prefix):
            return Answer(404, b"Not found (the proxy serves " + self.prefix.encode() + b"/)\n")
        path = request.path.removeprefix(self.prefix)
        if path.rstrip("/") == "/ping":
            return Answer(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        if path not in ("/", ""):
            return Answer(404, b"There is no handle " + request.path.encode() + b"\n")
        if request.user is None:
            user, password = "default", ""
        else:
            user, password = request.user, request.password or ""
        if user != self.user or password != self.password:
            return self._error(
                516,
                f"{user}: Authentication failed: password is incorrect, or there is no user "
                "with such name. (AUTHENTICATION_FAILED)",
            )
        for name in request.params:
            if name not in TRANSPORT_PARAMS and not name.startswith("param_"):
                if name not in self._settings:
                    return self._error(115, f"Unknown setting '{name}'. (UNKNOWN_SETTING)")
        sql = request.sql
        found = FORMAT.search(sql)
        fmt = found.group(1) if found else request.params.get("default_format", "TabSeparated")
        if found:
            sql = sql[: found.start()]
        if not sql.strip():
            return self._error(62, "Empty query. (SYNTAX_ERROR)")
        started = time.monotonic_ns()
        try:
            body = self._run(sql, fmt)
        except Exception as exc:  # chdb's own error: "Code: N. DB::Exception: ..."
            text = str(exc)
            code = CODE.search(text)
            return self._error(int(code.group(1)) if code else 1001, text)
        headers = {
            "Content-Type": CONTENT_TYPES.get(fmt, "application/octet-stream"),
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Timezone": self.timezone,
            "X-ClickHouse-Query-Id": request.params.get("query_id") or str(uuid.uuid4()),
            "X-ClickHouse-Server-Display-Name": "fleetscan-test",
            "X-ClickHouse-Summary": json.dumps(
                {
                    "read_rows": "0",
                    "read_bytes": "0",
                    "written_rows": "0",
                    "written_bytes": "0",
                    "total_rows_to_read": "0",
                    "result_rows": "0",
                    "result_bytes": str(len(body)),
                    "elapsed_ns": str(time.monotonic_ns() - started),
                }
            ),  # fmt: skip
        }
        compressing = request.params.get(
            "enable_http_compression", self._settings.get("enable_http_compression", "0")
        )
        accepted = [m.strip() for m in request.headers.get("accept-encoding", "").split(",")]
        method = None
        if compressing == "1":
            method = next((m for m in self.compressions if m in accepted), None)
            if method is not None:
                body = _compress(body, method)
                headers["Content-Encoding"] = method
        self.encodings.append(method or "identity")
        return Answer(200, body, headers)

    def _error(self, code: int, message: str) -> Answer:
        text = f"Code: {code}. DB::Exception: {message} (version {self.version})\n"
        if text.count("Code:") > 1:  # chdb's message already starts with its code
            text = f"{message} (version {self.version})\n"
        return Answer(
            STATUS_OF_CODE.get(code, 500),
            text.encode(),
            {
                "Content-Type": "text/plain; charset=UTF-8",
                "X-ClickHouse-Exception-Code": str(code),
            },
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as clickhouse-connect's pool expects

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._serve(self.rfile.read(length) if length else b"")

            def _serve(self, body: bytes) -> None:
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if headers.get("content-encoding"):  # clickhouse-connect compresses inserts only
                    answer = Answer(400, b"Code: 1. DB::Exception: compressed query body\n")
                else:
                    query = params.get("query", "")
                    text = body.decode()
                    sql = f"{query}\n{text}" if query and text else query or text
                    user, password = _credentials(headers, params)
                    request = Request(
                        self.command, parts.path, params, headers, sql, user, password,
                        f"127.0.0.1:{server.port}",
                    )  # fmt: skip
                    server.requests.append(request)
                    answer = (server.fault(request) if server.fault else None) or server.answer(
                        request
                    )
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        return Handler
