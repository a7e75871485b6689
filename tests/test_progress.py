"""On a terminal: a progress bar for long replays and a table that fits, in colour. Off a
terminal (cron mails any output, pipes parse it): neither."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from sweep_helpers import BLIP, readings, write_jsonl

ARGS = ["replay", "--metric", "temperature", "--baseline", "6h", "--group-by", "site"]
SPAN = ["--min-peers", "3", "--from", "2026-06-12T06:00:00Z", "--every", "1m"]  # 120 sweeps


def run(rows: Path, *, stderr_tty: bool) -> tuple[str, str]:
    command = [str(Path(sys.executable).with_name("fleetscan")), *ARGS, *SPAN, "--input", str(rows)]
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    if not stderr_tty:
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        return done.stdout, done.stderr
    leader, follower = pty.openpty()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=follower, env=env) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        assert proc.wait() == 0
    os.close(leader)
    return stdout, b"".join(chunks).decode(errors="replace")


def test_a_bar_on_a_terminal_and_silence_elsewhere(tmp_path: Path) -> None:
    rows = write_jsonl(tmp_path / "rows.jsonl", readings(shifts=[BLIP]))
    plain_out, plain_err = run(rows, stderr_tty=False)
    assert plain_err == "" and plain_out.startswith("replayed 120 sweeps every 60s")
    tty_out, tty_err = run(rows, stderr_tty=True)
    assert "replaying sweeps" in tty_err and "120/120" in tty_err
    assert tty_out.splitlines()[1:] == plain_out.splitlines()[1:]  # the same findings


def test_the_table_fits_the_terminal_in_colour_and_stays_plain_in_a_pipe(tmp_path: Path) -> None:
    rows = write_jsonl(tmp_path / "rows.jsonl", readings(shifts=[BLIP]))
    command = [
        str(Path(sys.executable).with_name("fleetscan")),
        "fleet",
        "--input",
        str(rows),
        "--metric",
        "temperature",
        "--min-peers",
        "3",
        "--baseline",
        "6h",
        "--at",
        "2026-06-12T06:40:00Z",
    ]
    env = {**os.environ, "COLUMNS": "90", "TERM": "xterm"}
    plain = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert plain.returncode == 2 and "\x1b[" not in plain.stdout  # CRITICAL: z > 6
    assert plain.stdout.splitlines()[0].split()[:2] == ["SOURCE", "METRIC"]
    leader, follower = pty.openpty()
    with subprocess.Popen(command, stdout=follower, stderr=subprocess.DEVNULL, env=env) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait() == 2
    os.close(leader)
    shown = b"".join(chunks).decode()
    assert "\x1b[1;31mdrifting\x1b[0m" in shown  # the status in colour
    visible = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in shown.splitlines()]
    assert max(len(line) for line in visible) <= 90 and len(visible) > 17  # reasons wrapped
    assert visible[0].split()[-1] == "REASON" and "gap +" in "".join(visible)
