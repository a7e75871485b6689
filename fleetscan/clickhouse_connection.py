"""The connection to ClickHouse that `fleet --clickhouse` and `replay --clickhouse` query.

`chdb:PATH` opens an embedded ClickHouse (chdb) on an existing data directory; `http(s)://[user@]
host[:port][/path]` a server through clickhouse-connect. Over http(s) the password (read from an
environment variable by the CLI) goes only to that host, a redirect is never followed, and every
failure is one line without it. `Connection.columns(sql)` gives a result's columns as NumPy arrays,
the same from both.
"""

from __future__ import annotations

import base64
import logging
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote as quote_url
from urllib.parse import quote_plus, unquote, urlsplit

import numpy as np

from fleetscan.errors import InputError, UnavailableError


def check_url(url: str) -> None:
    """`InputError` unless `url` is `chdb:PATH` (an existing data directory, one with ClickHouse's
    `metadata/`: chdb would make any other path one, and leave it behind) or
    `http(s)://[user@]host[:port][/path]` (a path: the server behind a reverse proxy there)."""
    if url.startswith("chdb:"):
        path = Path(url.removeprefix("chdb:"))
        if not url.removeprefix("chdb:") or not (path / "metadata").is_dir():
            raise InputError(
                f"--clickhouse {url!r}: no ClickHouse data directory there "
                "(chdb:PATH names the directory that holds Plexus's plexus.telemetry table)"
            )
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"--clickhouse {url!r}: expected chdb:PATH or http(s)://host:port")
    if parts.password:
        raise InputError(
            "--clickhouse: put the password in FLEETSCAN_CLICKHOUSE_PASSWORD, not the URL"
        )
    try:
        parts.port  # noqa: B018  (parsing it is the check)
    except ValueError:
        raise InputError(f"--clickhouse {url!r}: the port is not a number") from None
    if parts.query or parts.fragment:
        raise InputError(f"--clickhouse {url!r}: no ?query or #fragment (use --database and --org)")


class Connection:
    """A query runner over chdb or clickhouse-connect: `columns(sql)` gives the result columns.

    Over http(s) the password is sent only to the URL's host, in the driver's Basic
    `Authorization` header; a redirect is never followed (a ClickHouse server does not redirect,
    so one is a proxy or a login page) and no error message carries the password."""

    def __init__(self, url: str, *, password: str = "") -> None:
        self.url = url
        self._session: Any = None
        self._client: Any = None
        self._pool: Any = None
        self._password = password
        check_url(url)
        if url.startswith("chdb:"):
            try:
                from chdb import session
            except ImportError:
                raise InputError(
                    "--clickhouse chdb: needs chdb: pip install 'fleetscan[clickhouse]'"
                ) from None
            self._session = session.Session(url.removeprefix("chdb:"))  # type: ignore[no-untyped-call]
            return
        parts = urlsplit(url)
        self._where = f"{parts.hostname}:{parts.port or _default_port(parts.scheme)}"
        self._user = unquote(parts.username or "") or "default"
        try:
            import clickhouse_connect
        except ImportError:
            raise InputError(
                "--clickhouse http(s):// needs clickhouse-connect: pip install 'fleetscan[clickhouse]'"
            ) from None
        # The driver logs its failures too; the one-line error below says it all.
        logging.getLogger("clickhouse_connect").addHandler(logging.NullHandler())
        logging.getLogger("clickhouse_connect").propagate = False
        self._pool = _pool_manager(parts.scheme, parts.hostname or "", parts.port)
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname,
                port=parts.port or _default_port(parts.scheme),
                username=self._user,
                password=password,
                secure=parts.scheme == "https",
                pool_mgr=self._pool,
                proxy_path=parts.path.strip("/"),
            )
        except Exception as exc:  # the driver's own errors: say where, never the password
            self._pool.clear()
            raise UnavailableError(self._failure(exc, connecting=True)) from None

    def columns(self, sql: str) -> list[Any]:
        """The result's columns as NumPy arrays (strings as object arrays); [] for no rows.

        chdb hands over an Arrow table (the columns cross as typed buffers, not as text or
        Python objects); a server's columns come back as clickhouse-connect decodes them."""
        if self._session is not None:
            try:
                table = self._session.query(sql, "ArrowTable")
            except Exception as exc:
                raise UnavailableError(
                    f"ClickHouse query failed: {_one_line(str(exc))[:300]}"
                ) from None
            if not table.num_rows:
                return []
            return [c.to_numpy() for c in table.columns]
        try:
            result = self._client.query(sql)
        except Exception as exc:
            raise UnavailableError(self._failure(exc, connecting=False)) from None
        if not result.row_count:
            return []
        return [_server_column(c) for c in result.result_columns]

    def _failure(self, exc: BaseException, *, connecting: bool) -> str:
        """One line saying what went wrong with the server, without the password."""
        where = f"ClickHouse at {self._where}"
        redirect = getattr(self._pool, "redirect", None)
        if redirect:
            status, location = redirect
            return (
                f"{where} answered HTTP {status}, a redirect to {_host_of(location)}: not "
                "followed (a ClickHouse server does not redirect); point --clickhouse at the "
                "server itself"
            )
        code = getattr(exc, "code", None)
        text = self._scrub(str(exc))
        # AUTHENTICATION_FAILED, UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD
        if code in (516, 192, 193, 194) or "AUTHENTICATION_FAILED" in text:
            return (
                f"{where} refused user {self._user!r} (authentication failed): check the user "
                "in the URL and FLEETSCAN_CLICKHOUSE_PASSWORD"
            )
        reason = _transport_reason(exc)
        if reason is not None:
            return f"cannot reach {where}: {reason}"
        status = re.search(r"HTTP status (\d+)", text)
        if status and not code:
            return f"{where} answered HTTP {status.group(1)}, not ClickHouse's answer: {text[:200]}"
        doing = "connecting failed" if connecting else "the query failed"
        return f"{where}: {doing}: {text[:300]}"

    def _scrub(self, text: str) -> str:
        """`text` on one line with the password (as typed, URL-encoded, in a Basic header) and
        the driver's trailing URL gone."""
        if self._password:
            credentials = f"{self._user}:{self._password}".encode()
            for form in (
                base64.b64encode(credentials).decode(),
                quote_plus(self._password),
                quote_url(self._password, safe=""),
                self._password,
            ):
                text = text.replace(form, "***")
        text = re.sub(r"\s*\(for url [^)]*\)", "", text)
        return _one_line(text)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        if self._client is not None:
            self._client.close()
        if self._pool is not None:
            self._pool.clear()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _default_port(scheme: str) -> int:
    return 8443 if scheme == "https" else 8123


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _host_of(location: str) -> str:
    parts = urlsplit(location)
    return parts.netloc.rpartition("@")[2] or "the same server"


def _server_column(values: Sequence[Any]) -> Any:
    """One column as clickhouse-connect gives it (a list of Python values) as a NumPy array:
    strings as an object array, NULLs (a Nullable column) as NaN in a float one."""
    if any(isinstance(x, str) for x in values):
        return np.array(values, object)
    if any(x is None for x in values):
        return np.array([np.nan if x is None else x for x in values], np.float64)
    return np.array(values)


def _transport_reason(exc: BaseException) -> str | None:
    """What failed below HTTP (refused, TLS, DNS, timeout), from the exception's chain."""
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            reason = seen.reason or type(seen).__name__
            return f"TLS failed ({reason}): is it an https server, with a trusted certificate?"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, TimeoutError):
            return "timed out"
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        seen = seen.__cause__ or seen.__context__
    return None


def _pool_manager(scheme: str, host: str, port: int | None) -> Any:
    """clickhouse-connect's HTTP pool (its options, its proxy from the environment), but one
    that never follows a redirect: it keeps the redirect's status and location instead, and
    hands the driver the 3xx answer, which the driver reports as an error."""
    from clickhouse_connect.driver.httputil import check_env_proxy, get_pool_manager_options
    from urllib3 import BaseHTTPResponse, PoolManager, ProxyManager

    def kept(pool: Any, response: BaseHTTPResponse) -> BaseHTTPResponse:
        location = response.get_redirect_location()
        if location:
            pool.redirect = (response.status, str(location))
        return response

    class Refusing(PoolManager):
        redirect: tuple[int, str] | None = None

        def urlopen(  # type: ignore[override]
            self, method: str, url: str, redirect: bool = True, **kw: Any
        ) -> BaseHTTPResponse:
            return kept(self, super().urlopen(method, url, redirect=False, **kw))

    class RefusingProxy(Refusing, ProxyManager):  # Refusing's urlopen, then the proxy's
        pass

    options = get_pool_manager_options()
    proxy = check_env_proxy(scheme, host, port or _default_port(scheme))
    if proxy:
        return RefusingProxy(proxy if proxy.startswith("http") else f"http://{proxy}", **options)
    return Refusing(**options)
