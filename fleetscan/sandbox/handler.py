"""HTTP plumbing: a threading HTTP/1.1 server that turns requests into `web.Request`s.

One server answers for both Plexus hosts (the app and the gateway); the path picks the route.
Connections are kept alive between requests and closed on shutdown, so `Sandbox.stop()` never
waits for an idle client.
"""

from __future__ import annotations

import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from fleetscan.sandbox.api_routes import API_ROUTES
from fleetscan.sandbox.app_routes import APP_ROUTES, RouteFn, app_auth
from fleetscan.sandbox.backend import Backend
from fleetscan.sandbox.gateway_routes import GATEWAY_ROUTES, not_found
from fleetscan.sandbox.ingest import MAX_BODY_BYTES
from fleetscan.sandbox.web import Request, Response, internal_error, json_response

ROUTES: dict[str, dict[str, RouteFn]] = {**APP_ROUTES, **GATEWAY_ROUTES, **API_ROUTES}

# Bodies past the 5 MiB ingest cap are read and thrown away (so the 413 can be answered on a
# healthy connection), up to this much; beyond it the connection is closed after the response.
_DRAIN_LIMIT = 64 * 1024 * 1024
_CHUNK = 1024 * 1024


class SandboxServer(ThreadingHTTPServer):
    """The listening socket plus the open client connections (closed by `close_connections`)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: Backend, *, quiet: bool) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SandboxHandler)
        self.backend = backend
        self.quiet = quiet
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every client connection so their handler threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: object, client_address: object) -> None:
        """Dropped connections are normal; anything else is printed unless quiet."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError) or self.quiet:
            return
        print(f"[sandbox] error serving {client_address}: {error!r}", file=sys.stderr)


class SandboxHandler(BaseHTTPRequestHandler):
    """Reads a request, calls its route, writes the response."""

    protocol_version = "HTTP/1.1"
    server_version = "fleetscan-sandbox"
    sys_version = ""
    timeout = 120  # seconds an idle keep-alive connection may sit
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms ACK stall
    server: SandboxServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, open_=False)

    def log_message(self, format: str, *args: object) -> None:
        """No access log: the sandbox prints only alert events."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _dispatch(self) -> None:
        body, overflow = self._read_body()
        if body is None:
            return
        request = self._request(body)
        response = self._route(request)
        self._respond(response, close=overflow, head=self.command == "HEAD")

    def _route(self, request: Request) -> Response:
        methods = ROUTES.get(request.path)
        if methods is None:
            if request.path.startswith("/api/"):  # the app's middleware runs before routing
                denied = app_auth(request, self.server.backend.key_scopes)
                if denied is not None:
                    return denied
            return not_found()
        route = methods.get(request.method)
        if route is None:
            allow = ", ".join(sorted(methods))
            return Response(405, b"Method Not Allowed\n", {"allow": allow})
        try:
            return route(self.server.backend, request)
        except Exception:
            if not self.server.quiet:
                traceback.print_exc(file=sys.stderr)
            if request.path in GATEWAY_ROUTES:
                return json_response(500, {"error": "internal error"}, gateway=True)
            return internal_error()

    def _request(self, body: bytes) -> Request:
        parts = urlsplit(self.path)
        query: dict[str, str] = {}
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(name, value)
        host = self.headers.get("host") or "{}:{}".format(*self.server.server_address[:2])
        headers = {name.lower(): value for name, value in reversed(self.headers.items())}
        return Request(
            method=self.command,
            path=parts.path,
            query=query,
            headers=headers,
            body=body,
            base_url=f"http://{host}",
            raw_query=parts.query,
        )

    def _read_body(self) -> tuple[bytes | None, bool]:
        """The body (at most 5 MiB + 1 byte of it) and whether the connection must close."""
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._respond(Response(400, b"bad content-length\n"), close=True)
            return None, True
        if length > _DRAIN_LIMIT:
            return self.rfile.read(MAX_BODY_BYTES + 1), True
        body = self.rfile.read(min(length, MAX_BODY_BYTES + 1))
        remaining = length - len(body)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, _CHUNK))
            if not chunk:
                break
            remaining -= len(chunk)
        return body, False

    def _read_chunked(self) -> tuple[bytes | None, bool]:
        parts: list[bytes] = []
        size_read = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self._respond(Response(400, b"bad chunked body\n"), close=True)
                return None, True
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(parts), False
            data = self.rfile.read(size)
            self.rfile.readline(8)
            size_read += len(data)
            if size_read > _DRAIN_LIMIT:
                return b"".join(parts), True
            if sum(len(p) for p in parts) <= MAX_BODY_BYTES:
                parts.append(data)

    def _respond(self, response: Response, *, close: bool, head: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        if close or response.close:
            self.send_header("connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(response.body)
