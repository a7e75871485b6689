"""Shared fixtures: a real Plexus sandbox on loopback and an environment for plexus-python."""

import os

import pytest
from sandbox_fixtures import clock, clocked_sandbox, plexus_env, sandbox  # noqa: F401


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow", action="store_true", help="also run the slow end-to-end cases (CI always does)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow end-to-end cases run in CI (`CI` set, as `.ci/run` is started) and with `--slow`."""
    if config.getoption("--slow") or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="slow end-to-end case: runs in CI, or locally with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
