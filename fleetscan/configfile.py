"""`fleetscan.toml`: the options of cron sweeps in one file, checked precisely.

```toml
[plexus]                      # the API key stays in PLEXUS_API_KEY, never in this file
endpoint = "https://app.plexus.company"

[fleet]
metrics = ["temperature", "humidity"]
group_by = ["room"]
min_peers = 3
threshold = 3.0
min_scale = { humidity = 1.0 }

[lifecycle]
consecutive = 3
recovery = "15m"

[outputs]
state = "/var/lib/fleetscan/state.db"
prom_file = "/var/lib/node_exporter/textfile_collector/fleetscan.prom"

[[silence]]                   # standing exclusions: scored and shown, never paged
source = "esp32-bme280-99"
metric = "humidity"
reason = "no humidity sensor fitted"

[boards."esp32-bme280-07"]    # per board: a silence, or its own |z| threshold
threshold = 5.0

[cohorts."lab-1b"]            # per cohort (its --group-by values joined by /)
silence = "lab rebuilt this month"
```

Precedence: command-line flags, then environment variables, then this file, then the built-in
defaults (the file fills click's `default_map`, which click consults after flags and `envvar`).
`check(text)` returns every problem as `file:line: [section] key: what is wrong; allowed: …`.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fleetscan.errors import ConfigError
from fleetscan.overrides import Thresholds
from fleetscan.silences import Silence
from fleetscan.timeutil import parse_duration_ms

Check = Callable[[Any], str | None]  # None when the value is fine, else what is wrong


def _duration(value: Any) -> str | None:
    if not isinstance(value, str):
        return 'must be a duration string such as "10m"'
    try:
        parse_duration_ms(value)
    except Exception:
        return f"{value!r} is not a duration"
    return None


def _baseline(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower() in ("0", "off", "none", "no"):
        return None
    return _duration(value)


def _int_at_least_1(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else "must be a whole number >= 1"


def _positive(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return None if ok and value > 0 else "must be a number > 0"


def _fraction(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1
    return None if ok else "must be a number in (0, 1]"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _texts(value: Any) -> str | None:
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return None
    return 'must be a non-empty list of strings, e.g. ["temperature"]'


def _url(value: Any) -> str | None:
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.netloc:
            return None
    return "must be an http(s) URL"


def _format(value: Any) -> str | None:
    return None if value in ("text", "jsonl") else 'must be "text" or "jsonl"'


def _min_scale(value: Any) -> str | None:
    if _positive(value) is None:
        return None
    if isinstance(value, dict) and value and all(_positive(v) is None for v in value.values()):
        return None
    return "must be a number > 0 or a table of metric = number > 0"


def _no_key(value: Any) -> str | None:
    return "keep the API key out of the file: set PLEXUS_API_KEY (e.g. a 0600 EnvironmentFile)"


KEYS: Mapping[str, Mapping[str, Check]] = {
    "plexus": {"endpoint": _url, "gateway_url": _url, "api_key": _no_key},
    "fleet": {
        "metrics": _texts,
        "group_by": _texts,
        "window": _duration,
        "baseline": _baseline,
        "baseline_sample": _duration,
        "warm_up": _duration,
        "min_peers": _int_at_least_1,
        "min_scale": _min_scale,
        "threshold": _positive,
        "critical": _positive,
    },
    "lifecycle": {
        "consecutive": _int_at_least_1,
        "recovery": _duration,
        "cooldown": _duration,
        "storm_fraction": _fraction,
        "storm_min": _int_at_least_1,
    },
    "outputs": {"state": _text, "prom_file": _text, "format": _format},
    "replay": {"every": _duration},
}
SILENCE_KEYS: Mapping[str, Check] = {"source": _text, "metric": _text, "reason": _text}
OVERRIDE_KEYS: Mapping[str, Check] = {"silence": _text, "threshold": _positive}
SECTIONS = (*KEYS, "silence", "boards", "cohorts")

# Which command options each key sets (click parameter names), and for which commands.
SCORING_COMMANDS = ("fleet", "replay", "plot", "report")
OPTION_NAMES = {
    ("fleet", "metrics"): "metric",
    ("outputs", "format"): "output",
}


@dataclass(frozen=True)
class Config:
    """A checked config file: option values by (section, key), and standing silences."""

    path: Path
    values: Mapping[tuple[str, str], Any]
    silences: tuple[Silence, ...] = field(default=())
    thresholds: Thresholds = field(default_factory=Thresholds)

    def default_map(self, commands: Mapping[str, Any]) -> dict[str, Any]:
        """click's `default_map` for the root group: {command: {param: value}} for every
        command (and subcommand) that has the parameter. `commands` maps names to click
        commands (groups have `.commands`)."""
        flat: dict[str, Any] = {}
        scoring: dict[str, Any] = {}
        for (section, key), value in self.values.items():
            name = OPTION_NAMES.get((section, key), key)
            if section == "fleet" and key == "min_scale":
                value = _min_scale_args(value)
            (scoring if section in ("fleet", "lifecycle", "replay") else flat)[name] = value
        return _defaults(commands, flat, scoring, "")


def _defaults(
    commands: Mapping[str, Any], flat: Mapping[str, Any], scoring: Mapping[str, Any], top: str
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, command in commands.items():
        sub = getattr(command, "commands", None)
        if sub:
            nested = _defaults(sub, flat, scoring, top or name)
            if nested:
                out[name] = nested
            continue
        params = {p.name for p in command.params}
        wanted = dict(flat)
        if (top or name) in SCORING_COMMANDS:
            wanted.update(scoring)
        chosen = {k: v for k, v in wanted.items() if k in params}
        if chosen:
            out[name] = chosen
    return out


def _min_scale_args(value: Any) -> list[str]:
    """`1.0` → `["1.0"]`; `{humidity = 1.0}` → `["humidity=1.0"]` (the --min-scale forms)."""
    if isinstance(value, dict):
        return [f"{metric}={scale}" for metric, scale in value.items()]
    return [str(value)]


def _line_of(lines: list[str], section: str, key: str | None) -> int:
    """The 1-based line of `key` in `[section]` (or of the section header), else 1."""
    current, header_line = "", 0
    for number, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            current = line.strip("[]").strip().split(".", 1)[0].strip('"')
            if current == section and header_line == 0:
                header_line = number
                if key is None:
                    return number
            continue
        if (
            key is not None
            and current == section
            and line.split("=", 1)[0].strip().strip('"') == key
            and "=" in line
        ):
            return number
    return header_line or 1


def check(text: str, *, path: Path) -> tuple[Config | None, list[str]]:
    """Parse and check a config file: (the config, []) or (None, every problem, one a line)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{path}: {exc}"]
    lines = text.splitlines()
    problems: list[str] = []

    def problem(section: str, key: str | None, what: str, allowed: str = "") -> None:
        where = f"[{section}] {key}" if key is not None else f"[{section}]"
        hint = f"; allowed: {allowed}" if allowed else ""
        problems.append(f"{path}:{_line_of(lines, section, key)}: {where}: {what}{hint}")

    values: dict[tuple[str, str], Any] = {}
    silences: list[Silence] = []
    thresholds: dict[str, dict[str, float]] = {"boards": {}, "cohorts": {}}
    for section, body in data.items():
        if section not in SECTIONS:
            problems.append(
                f"{path}:{_line_of(lines, section, None)}: [{section}]: unknown section; "
                f"allowed: {', '.join(SECTIONS)}"
            )
            continue
        if section == "silence":
            _check_silences(body, problem, silences)
            continue
        if section in ("boards", "cohorts"):
            _check_overrides(section, body, problem, silences, thresholds[section])
            continue
        if not isinstance(body, dict):
            problem(section, None, "must be a table")
            continue
        allowed = KEYS[section]
        for key, value in body.items():
            if key not in allowed:
                problem(section, key, "unknown key", ", ".join(allowed))
                continue
            wrong = allowed[key](value)
            if wrong:
                problem(section, key, wrong)
            else:
                values[(section, key)] = value
    if problems:
        return None, problems
    limits = Thresholds(boards=thresholds["boards"], cohorts=thresholds["cohorts"])
    return Config(path, values, tuple(silences), limits), []


def _check_silences(body: Any, problem: Callable[..., None], silences: list[Silence]) -> None:
    if not isinstance(body, list):
        problem("silence", None, "must be an array of tables: write [[silence]]")
        return
    for entry in body:
        unknown = [k for k in entry if k not in SILENCE_KEYS]
        for key in unknown:
            problem("silence", key, "unknown key", ", ".join(SILENCE_KEYS))
        for key in ("source", "reason"):
            if key not in entry:
                problem("silence", None, f"each [[silence]] needs {key}")
        wrong = [(k, SILENCE_KEYS[k](v)) for k, v in entry.items() if k in SILENCE_KEYS]
        for key, what in wrong:
            if what:
                problem("silence", key, what)
        if unknown or any(w for _, w in wrong) or not {"source", "reason"} <= set(entry):
            continue
        silences.append(
            Silence(
                source_id=entry["source"],
                metric=entry.get("metric"),
                start_ms=0,
                until_ms=None,
                reason=entry["reason"],
            )
        )


def _check_overrides(
    section: str,
    body: Any,
    problem: Callable[..., None],
    silences: list[Silence],
    thresholds: dict[str, float],
) -> None:
    if not isinstance(body, dict):
        problem(section, None, f'must hold tables, e.g. [{section}."name"]')
        return
    for name, entry in body.items():
        if not isinstance(entry, dict):
            problem(section, name, f'must be a table: [{section}."{name}"]')
            continue
        for key, value in entry.items():
            if key not in OVERRIDE_KEYS:
                problem(section, key, f"unknown key for {name!r}", ", ".join(OVERRIDE_KEYS))
                continue
            wrong = OVERRIDE_KEYS[key](value)
            if wrong:
                problem(section, key, wrong)
                continue
            if key == "threshold":
                thresholds[name] = float(value)
                continue
            silences.append(
                Silence(
                    source_id=name if section == "boards" else None,
                    cohort=name if section == "cohorts" else None,
                    metric=None,
                    start_ms=0,
                    until_ms=None,
                    reason=value,
                )
            )


def load(path: Path) -> Config:
    """Read and check `path`; any problem is a `ConfigError` listing them all."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    config, problems = check(text, path=path)
    if config is None:
        raise ConfigError("; ".join(problems))
    return config
