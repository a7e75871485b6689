"""fleetscan's one error tree. The CLI catches `FleetscanError` and prints its message.

    FleetscanError
    ├── ConfigError            missing or malformed configuration (no API key, bad endpoint)
    │   └── UsageError             a malformed command-line value (a bad --endpoint): exit 64
    ├── InputError             a file or value fleetscan cannot read (bad CSV header, bad timestamp)
    ├── PlexusError            anything that went wrong talking to Plexus
    │   ├── AuthError              307 to /sign-in or 401: the key is missing, malformed or unknown
    │   │   └── ScopeError         403: the key lacks a scope (telemetry needs `read`)
    │   ├── ValidationError        400: Plexus refused the request and said why
    │   ├── NotFoundError          404: e.g. a monitor for a source Plexus has never seen
    │   ├── UnavailableError       5xx, 429, timeouts, connection errors, after retries
    │   └── ProtocolError          a 2xx whose body is not the JSON we expect (an HTML page, a proxy)
    ├── EmitError              posting points through plexus-python failed (they stay queued)
    └── StateError             the sweep state store is locked, unreadable or from a newer version
        └── StateLockedError   another sweep holds the lock

Messages are one line, name the URL/file/source involved and say what to do. They never contain
the API key: `redact()` scrubs anything that looks like one.
"""

from __future__ import annotations

import re

_KEY_PATTERN = re.compile(r"plx_[A-Za-z0-9_\-]+")


def redact(text: str) -> str:
    """Replace anything shaped like a Plexus API key with `plx_***`.

    >>> redact("key plx_abcdef0123456789abcdef0123456789 refused")
    'key plx_*** refused'
    """
    return _KEY_PATTERN.sub("plx_***", text)


class FleetscanError(Exception):
    """Base of every error fleetscan raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class ConfigError(FleetscanError):
    """Configuration is missing or malformed."""


class UsageError(ConfigError):
    """A command-line value (or the variable standing for it) is malformed: exit 64, not 3."""


class InputError(FleetscanError):
    """An input file or value cannot be read."""


class PlexusError(FleetscanError):
    """Talking to Plexus failed."""


class AuthError(PlexusError):
    """The API key is missing, malformed or unknown (Plexus answered 307 or 401)."""


class ScopeError(AuthError):
    """The API key lacks a required scope (Plexus answered 403)."""


class ValidationError(PlexusError):
    """Plexus rejected the request as invalid (400)."""


class NotFoundError(PlexusError):
    """Plexus does not know the thing asked for (404)."""


class UnavailableError(PlexusError):
    """Plexus did not answer usefully after retries (5xx, 429, timeout, connection refused)."""


class ProtocolError(PlexusError):
    """Plexus answered, but not with the JSON shape we expect."""


class EmitError(FleetscanError):
    """Posting points through plexus-python failed; the points are kept for a later try."""


class StateError(FleetscanError):
    """The sweep state store cannot be used."""


class StateLockedError(StateError):
    """Another sweep holds the state lock."""
