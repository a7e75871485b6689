"""Where fleetscan finds Plexus, and the one module (with the CLI) that reads the environment.

    PLEXUS_API_KEY      the `plx_` key; telemetry reads need the `read` scope, posting needs `write`
    PLEXUS_ENDPOINT     the app API serving /api/v1/telemetry and /api/monitors
    PLEXUS_GATEWAY_URL  the ingest gateway plexus-python posts to (/ingest)

Command-line options override the environment (typer's `envvar=`), and `--help` names both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

import typer

from fleetscan.errors import ConfigError, UsageError

DEFAULT_ENDPOINT = "https://app.plexus.company"
DEFAULT_GATEWAY_URL = "https://gateway.plexus.company"

EndpointOption = Annotated[
    str,
    typer.Option(
        "--endpoint",
        envvar="PLEXUS_ENDPOINT",
        help="Plexus app API (serves /api/v1/telemetry and /api/monitors).",
        show_envvar=True,
    ),
]
GatewayOption = Annotated[
    str,
    typer.Option(
        "--gateway-url",
        envvar="PLEXUS_GATEWAY_URL",
        help="Plexus ingest gateway that plexus-python posts to.",
        show_envvar=True,
    ),
]
ApiKeyOption = Annotated[
    str,
    typer.Option(
        "--api-key",
        envvar="PLEXUS_API_KEY",
        help="Plexus API key (plx_...). Reading telemetry needs the read scope. Never printed.",
        show_envvar=True,
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings. `repr` hides the key."""

    endpoint: str
    gateway_url: str
    api_key: str

    def __repr__(self) -> str:
        return (
            f"Settings(endpoint={self.endpoint!r}, gateway_url={self.gateway_url!r}, api_key=***)"
        )

    def require_key(self) -> str:
        """The API key, or a `ConfigError` saying how to provide one."""
        if not self.api_key:
            raise ConfigError(
                "no Plexus API key: set PLEXUS_API_KEY or pass --api-key "
                "(try `fleetscan sandbox` for a local Plexus with a ready key)"
            )
        return self.api_key


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{name} {url!r} is not an http(s) URL")
    return url.rstrip("/")


def resolve(endpoint: str = "", gateway_url: str = "", api_key: str = "") -> Settings:
    """Settings from explicit values, falling back to the environment and then the defaults."""
    endpoint = endpoint or os.environ.get("PLEXUS_ENDPOINT", "") or DEFAULT_ENDPOINT
    gateway_url = gateway_url or os.environ.get("PLEXUS_GATEWAY_URL", "") or DEFAULT_GATEWAY_URL
    api_key = api_key or os.environ.get("PLEXUS_API_KEY", "")
    return Settings(
        endpoint=_check_url("endpoint", endpoint),
        gateway_url=_check_url("gateway URL", gateway_url),
        api_key=api_key.strip(),
    )
