"""The sandbox's API keys and the two ways Plexus checks them.

A `KeySet` is three keys of the real shape (`plx_` + 32 characters, docs/plexus-contract.md §1.1).
`DEV_KEYS` are fixed, public, documented test keys: the library's default (tests, the demo) and
`fleetscan sandbox --dev-keys`. `fleetscan sandbox` otherwise makes `random_keys()` at each
start, so a sandbox reachable from elsewhere (`--host 0.0.0.0`) is not open to anyone who has
read this file.

- `READ_KEY` (`read`, `write`): like a CLI-issued key; ingests and reads telemetry.
- `WRITE_KEY` (`write`): like a key created in the UI, the default; ingest works, but reading
  telemetry answers 403 `API key does not have required scope: read`.
- `READ_ONLY_KEY` (`read`): reads telemetry; `/ingest` answers 403 `API key lacks write scope`.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

ORG_ID = "org_sandbox"
KEY_PREFIX = "plx_"
KEY_LENGTH = 36

READ_KEY = "plx_sandbox_readwrite_00000000000001"
WRITE_KEY = "plx_sandbox_writeonly_00000000000002"
READ_ONLY_KEY = "plx_sandbox_readonly_000000000000003"

KEY_SCOPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        READ_KEY: frozenset({"read", "write"}),
        WRITE_KEY: frozenset({"write"}),
        READ_ONLY_KEY: frozenset({"read"}),
    }
)


@dataclass(frozen=True)
class KeySet:
    """The sandbox's three keys; `scopes` maps each to what it may do."""

    read: str
    write: str
    read_only: str

    @property
    def scopes(self) -> Mapping[str, frozenset[str]]:
        return MappingProxyType(
            {
                self.read: frozenset({"read", "write"}),
                self.write: frozenset({"write"}),
                self.read_only: frozenset({"read"}),
            }
        )


DEV_KEYS = KeySet(read=READ_KEY, write=WRITE_KEY, read_only=READ_ONLY_KEY)


def random_keys() -> KeySet:
    """Three fresh keys of the real shape, from `secrets` (a CSPRNG).

    >>> keys = random_keys()
    >>> len(keys.read), keys.read.startswith("plx_"), keys.read != random_keys().read
    (36, True, True)
    """
    alphabet = string.ascii_lowercase + string.digits

    def key() -> str:
        return KEY_PREFIX + "".join(secrets.choice(alphabet) for _ in range(KEY_LENGTH - 4))

    return KeySet(read=key(), write=key(), read_only=key())


def app_key_scopes(
    key: str, scopes: Mapping[str, frozenset[str]] = KEY_SCOPES
) -> frozenset[str] | None:
    """The scopes of a key as the app's `authenticateRequest` sees it, or None (→ 401).

    The app first checks the format (`plx_` + 32 characters), then looks the key up.

    >>> sorted(app_key_scopes(READ_KEY) or ())
    ['read', 'write']
    >>> app_key_scopes("plx_short") is None
    True
    """
    if not key.startswith(KEY_PREFIX) or len(key) != KEY_LENGTH:
        return None
    return scopes.get(key)


def has_scope(scopes: frozenset[str], scope: str) -> bool:
    """A key has a scope when it lists it or `*` (api-keys.ts `requireScope`, gateway `HasScope`).

    >>> has_scope(frozenset({"write"}), "read"), has_scope(frozenset({"*"}), "read")
    (False, True)
    """
    return scope in scopes or "*" in scopes
