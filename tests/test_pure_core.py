"""The pure core imports no edge: no network, SQLite, CLI, Plexus SDK, client, emitter or store.

Two checks of one rule: the import graph as it is (every module the core reaches, directly or
through other fleetscan modules), and ruff's banned-api config as it applies to a core path, so
that a new import in the core fails `ruff check` before it fails here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fleetscan"
CORE = sorted(
    [
        *PACKAGE.glob("fleet/*.py"),
        *PACKAGE.glob("detectors/*.py"),
        PACKAGE / "lifecycle.py",
        *(PACKAGE / "sweeps" / f"{name}.py" for name in ("step", "plan", "replay", "coverage")),
    ]
)
BANNED = (
    "httpx",
    "sqlite3",
    "typer",
    "plexus",
    "fleetscan.client",
    "fleetscan.emitter",
    "fleetscan.state",
)


def _is_banned(module: str) -> bool:
    return any(module == b or module.startswith(f"{b}.") for b in BANNED)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth of its code (functions, TYPE_CHECKING blocks);
    `from a import b` counts as both `a` and `a.b`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _file_of(module: str) -> Path | None:
    """The source file of a `fleetscan.*` module (a package's `__init__.py`), or None."""
    if module != "fleetscan" and not module.startswith("fleetscan."):
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _edges_reached(start: Path) -> list[str]:
    """`importer -> banned` for every banned import reachable from `start` through fleetscan."""
    seen: set[Path] = set()
    todo = [start]
    found = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in sorted(_imports(path)):
            if _is_banned(name):
                found.append(f"{_module_of(path)} -> {name}")
                continue
            # importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py` first
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                target = _file_of(".".join(parts[:depth]))
                if target is not None:
                    todo.append(target)
    return found


def test_the_core_list_names_real_files() -> None:
    assert len(CORE) > 20
    assert all(p.is_file() for p in CORE)


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_core_module_reaches_no_edge(path: Path) -> None:
    assert _edges_reached(path) == []


def test_the_graph_check_sees_an_edge_where_there_is_one() -> None:
    assert "fleetscan.sweeps.live -> fleetscan.client" in _edges_reached(
        PACKAGE / "sweeps" / "live.py"
    )


PROBE = """\
from typing import TYPE_CHECKING

import httpx
from fleetscan import state

if TYPE_CHECKING:
    from fleetscan.client import PlexusClient


def later() -> None:
    import sqlite3

    from fleetscan.emitter import Emitter
    from plexus import Plexus
    from typer import echo
"""


@pytest.mark.parametrize(
    "where",
    [
        "fleetscan/fleet/probe.py",
        "fleetscan/detectors/probe.py",
        "fleetscan/lifecycle.py",
        "fleetscan/sweeps/step.py",
        "fleetscan/sweeps/plan.py",
        "fleetscan/sweeps/replay.py",
        "fleetscan/sweeps/coverage.py",
    ],
)
def test_ruff_refuses_an_edge_import_in_the_core(where: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "TID251",
         "--output-format", "concise", "--stdin-filename", where, "-"],
        input=PROBE, capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    banned = {line.split("`")[1] for line in done.stdout.splitlines() if "TID251" in line}
    assert banned == set(BANNED), done.stdout


def test_ruff_lets_an_edge_import_them() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "TID251",
         "--stdin-filename", "fleetscan/sweeps/live.py", "-"],
        input=PROBE, capture_output=True, text=True, cwd=ROOT, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
