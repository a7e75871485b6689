"""A progress bar for long replays on a terminal; nothing off a terminal (cron mails output)."""

from __future__ import annotations

import os
import pty
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
