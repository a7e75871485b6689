"""Shared fixtures: a real Plexus sandbox on loopback and an environment for plexus-python."""

from sandbox_fixtures import clock, clocked_sandbox, plexus_env, sandbox  # noqa: F401
