"""`fleetscan.toml`: precedence (flags > environment > file > defaults) against the sandbox,
standing silences, and `fleetscan config check`'s precise errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

from sweep_helpers import BAD, BLIP, HOUR, MIN, START, SWEEP_TIMES, env_for, invoke, jsonl, readings

from fleetscan.sandbox import Sandbox
from fleetscan.timeutil import iso_z

AT = iso_z(START + 6 * HOUR + 30 * MIN)  # BAD has read 2.5 °C high for 10 minutes


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleetscan.toml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


SETTINGS = """
    [plexus]
    endpoint = "http://127.0.0.1:9"        # wrong on purpose: PLEXUS_ENDPOINT must win

    [fleet]
    metrics = ["temperature"]
    group_by = ["site"]
    baseline = "6h"
    min_peers = 3
    threshold = 1000.0                     # so high nothing flags, unless a flag says 3

    [outputs]
    format = "jsonl"
    """


def bad_status(out: str) -> str:
    return str(next(r for r in jsonl(out) if r["source_id"] == BAD)["status"])


def test_flags_beat_the_environment_which_beats_the_file(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.insert(readings(shifts=[BLIP]))
    config = write(tmp_path, SETTINGS)
    env = env_for(sandbox, tmp_path)
    sweep = ["fleet", "--no-state", "--at", AT]
    code, out, err = invoke(["--config", str(config), *sweep], env)
    assert code == 0, err  # the file's metrics, cohorts, baseline and format; PLEXUS_ENDPOINT
    assert len(jsonl(out)) == 16 and bad_status(out) == "ok"
    code, out, err = invoke(["--config", str(config), *sweep, "--threshold", "3"], env)
    assert code == 2 and bad_status(out) == "drifting", err
    code, out, err = invoke([*sweep, "--threshold", "3"], {**env, "FLEETSCAN_CONFIG": str(config)})
    assert code == 2 and bad_status(out) == "drifting", err
    without_env = {k: v for k, v in env.items() if k != "PLEXUS_ENDPOINT"}
    code, _, err = invoke(["--config", str(config), *sweep], without_env)
    assert code == 3 and "127.0.0.1:9" in err  # now the file's endpoint is the one used
    code, _, err = invoke(
        ["--config", str(config), *sweep, "--endpoint", sandbox.endpoint], without_env
    )
    assert code == 0, err


def test_standing_silences_from_the_file(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.insert(readings(shifts=[BLIP]))
    config = write(
        tmp_path,
        SETTINGS.replace("1000.0", "3.0")
        + f"""
    [boards."{BAD}"]
    silence = "on the bench"
    """,
    )
    code, out, err = invoke(
        ["--config", str(config), "fleet", "--no-state", "--at", AT], env_for(sandbox, tmp_path)
    )
    assert code == 0, err
    record = next(r for r in jsonl(out) if r["source_id"] == BAD)
    assert record["status"] == "drifting" and record["held"] == "silenced"
    assert record["alerting"] is False and "on the bench" in str(record["reason"])


def test_config_check_names_line_key_and_what_is_allowed(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """
        [fleet]
        metrics = ["temperature"]
        threshhold = 3.0
        min_peers = 0

        [plexus]
        api_key = "plx_0123456789abcdef0123456789abcdef"

        [lifecycle]
        recovery = "soon"

        [[silence]]
        metric = "humidity"

        [alerts]
        x = 1
        """,
    )
    code, out, err = invoke(["config", "check", str(config)])
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"fleetscan: {config}:3: [fleet] threshhold: unknown key; allowed: metrics, group_by, "
        "window, baseline, baseline_sample, warm_up, min_peers, min_scale, threshold, critical",
        f"fleetscan: {config}:4: [fleet] min_peers: must be a whole number >= 1",
        f"fleetscan: {config}:7: [plexus] api_key: keep the API key out of the file: set "
        "PLEXUS_API_KEY (e.g. a 0600 EnvironmentFile)",
        f"fleetscan: {config}:10: [lifecycle] recovery: 'soon' is not a duration",
        f"fleetscan: {config}:12: [silence]: each [[silence]] needs source",
        f"fleetscan: {config}:12: [silence]: each [[silence]] needs reason",
        f"fleetscan: {config}:15: [alerts]: unknown section; allowed: plexus, fleet, "
        "lifecycle, outputs, replay, silence, boards, cohorts",
    ]
    assert "plx_0123" not in err  # the key itself is never echoed
    code, _, err = invoke(["--config", str(config), "fleet", "--no-state"])
    assert code == 64 and len(err.splitlines()) == 1 and "threshhold" in err


def test_config_check_of_a_good_file_and_of_broken_toml(tmp_path: Path) -> None:
    good = write(tmp_path, SETTINGS)
    code, out, err = invoke(["config", "check"], {"FLEETSCAN_CONFIG": str(good)})
    assert code == 0, err
    assert "[fleet] threshold = 1000.0" in out and f"{good}: ok (7 settings, 0 silences)" in err
    broken = tmp_path / "broken.toml"
    broken.write_text('[fleet]\nmetrics = = ["temperature"]\n')
    code, _, err = invoke(["config", "check", str(broken)])
    assert code == 1 and err.startswith(f"fleetscan: {broken}: ") and "(at line 2, column" in err


def test_per_board_thresholds_hold_in_live_sweeps_and_in_replay(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.insert(readings(shifts=[BLIP]))
    quiet = "esp32-bme280-05"
    config = write(
        tmp_path,
        SETTINGS.replace("1000.0", "3.0")
        + f"""
    [boards."{BAD}"]
    threshold = 50.0          # BLIP's z of about 24 stays within it

    [boards."{quiet}"]
    threshold = 0.5           # this one is judged much more strictly
    """,
    )
    env, state = env_for(sandbox, tmp_path), tmp_path / "state.db"
    live = []
    for t in SWEEP_TIMES[:12]:
        code, out, err = invoke(
            ["--config", str(config), "fleet", "--state", str(state), "--at", iso_z(t)], env
        )
        assert code in (0, 1, 2), err
        live += jsonl(out)
    mine = [r for r in live if r["source_id"] == BAD]
    assert all(r["status"] == "ok" and r["alerting"] is False for r in mine)
    assert any("within this board's threshold 50" in str(r["reason"]) for r in mine)
    strict = [r for r in live if r["source_id"] == quiet]
    assert any("beyond this board's threshold 0.5" in str(r["reason"]) for r in strict)
    span = ["--from", iso_z(SWEEP_TIMES[0]), "--to", iso_z(SWEEP_TIMES[11]), "--every", "5m"]
    code, out, err = invoke(["--config", str(config), "replay", *span], env)
    assert code == 0, err
    assert jsonl(out) == live
