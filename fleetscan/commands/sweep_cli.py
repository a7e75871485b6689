"""What `fleetscan fleet`, `replay`, `plot` and `report` share: option definitions, options,
and the exit code of a sweep.

These commands take the same scoring, baseline and lifecycle options, defined once here as
`Annotated` types with their defaults in `SweepArgs`; `@sweep_options()` puts them into a
command's signature and hands the command one `SweepArgs`, which `SweepArgs.step_options` turns
into the `StepOptions` of a sweep. `exit_code` maps a sweep's alert severity onto the exit codes
every command shares (`common.ExitCode`): OK, WARNING (alerts open, none critical; or a storm or
cohort event), CRITICAL (an open alert's fleet_z reached `--critical`), and UNKNOWN for a sweep
whose points could not be posted (kept for the next one), unless CRITICAL.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from fleetscan.commands.common import ExitCode
from fleetscan.errors import InputError
from fleetscan.fleet import SweepOptions
from fleetscan.lifecycle import LifecycleOptions
from fleetscan.sweeps.step import Severity, StepOptions
from fleetscan.timeutil import now_ms, parse_duration_ms, parse_timestamp_ms

NO_BASELINE = ("0", "off", "none", "no")
DEFAULT_SPAN_MS = SweepOptions().baseline_span_ms

ClickHouseOption = Annotated[
    str | None,
    typer.Option(
        "--clickhouse",
        help="Reduce each sweep inside ClickHouse (Plexus's store, one row per source comes "
        "back): chdb:PATH (embedded, a data directory) or http(s)://[user@]host:port "
        "(password from FLEETSCAN_CLICKHOUSE_PASSWORD). Nothing posted.",
    ),
]
DatabaseOption = Annotated[str, typer.Option("--database", help="With --clickhouse: the database.")]
OrgOption = Annotated[str | None, typer.Option("--org", help="With --clickhouse: this org's rows.")]

MetricsOption = Annotated[
    list[str], typer.Option("--metric", help="Metric to compare across sources; repeatable.")
]
WindowOption = Annotated[
    str,
    typer.Option("--window", help="Recent window each source is summarised over (median)."),
]
BaselineOption = Annotated[
    str,
    typer.Option(
        "--baseline",
        help="History to learn each source's usual offset from its peers (e.g. 7d); 0 to "
        "compare snapshots only. With state it is learned once, then folded forward.",
    ),
]
WarmUpOption = Annotated[
    str,
    typer.Option(
        "--warm-up",
        help="History a board needs before its gap to its peers alerts: a daily habit (sun on "
        "a window, a radiator) cannot be told from a fault before a day has shown it. Until "
        "then the gap is shown and learned as the board's habits (a step in it too), and only "
        "a drift under way (its gap moving one way through every quarter of 12h or more of "
        "history) alerts; stuck, stale, noisy and invalid alert from the first sweep. 0 judges "
        "the gap from the first sweep.",
    ),
]
BaselineSampleOption = Annotated[
    str,
    typer.Option(
        "--baseline-sample", help="Baseline history is fetched as this much of every hour."
    ),
]
GroupByOption = Annotated[
    list[str] | None,
    typer.Option(
        "--group-by",
        help="Tag whose value defines cohorts (room, site); repeatable. Boards are compared "
        "only within a cohort.",
    ),
]
MinPeersOption = Annotated[
    int,
    typer.Option(
        "--min-peers",
        min=1,
        help="Peers (other boards of the cohort) needed to compare; fewer gives "
        "insufficient_peers. 3 suits rooms of 4 or more boards; a sweep where most series lack "
        "peers exits 3.",
    ),
]
MinScaleOption = Annotated[
    list[str] | None,
    typer.Option(
        "--min-scale",
        help="Smallest scale z divides by, in metric units: 0.2 for all metrics or "
        "humidity=1.0. Default: with a baseline the BME280 noise floor (0.1 °C, 0.5 %RH, "
        "0.1 hPa); for snapshots its unit-to-unit accuracy (0.5, 1.5, 0.5).",
    ),
]
ThresholdOption = Annotated[
    float, typer.Option("--threshold", help="|z| above which a source is flagged.")
]
ConsecutiveOption = Annotated[
    int,
    typer.Option(
        "--consecutive", min=1, help="Flagged sweeps in a row before a source's alert opens."
    ),
]
RecoveryOption = Annotated[
    str,
    typer.Option(
        "--recovery", help="An open alert resolves after the source is normal for this long."
    ),
]
CooldownOption = Annotated[
    str,
    typer.Option("--cooldown", help="After an alert resolves, no new one on it for this long."),
]
StormFractionOption = Annotated[
    float,
    typer.Option(
        "--storm-fraction",
        min=0.01,
        max=1.0,
        help="This share of the fleet or a cohort flagged at once is one storm finding, "
        "not per-source alerts.",
    ),
]
StormMinOption = Annotated[
    int,
    typer.Option("--storm-min", min=1, help="A storm needs at least this many flagged sources."),
]
CriticalOption = Annotated[
    float,
    typer.Option("--critical", help="An open alert whose fleet_z reaches this is CRITICAL."),
]


@dataclass(frozen=True, kw_only=True)
class SweepArgs:
    """The shared sweep options as given on the command line; their defaults live here only."""

    window: str = "10m"
    baseline: str = "7d"
    baseline_sample: str = "2m"
    warm_up: str = "24h"
    group_by: list[str] | None = None
    min_peers: int = 3  # a leave-one-out median of 3 peers still outvotes one bad peer
    min_scale: list[str] | None = None
    threshold: float = 3.0
    consecutive: int = 3
    recovery: str = "15m"
    cooldown: str = "30m"
    storm_fraction: float = 0.5
    storm_min: int = 5
    critical: float = 6.0

    def step_options(self, *, immediate: bool = False) -> StepOptions:
        """The options these give; `immediate` is the one-off guard (alert on first flag).

        Raises `InputError` or `ValueError` with a message naming the bad option.
        """
        use_baseline = self.baseline.strip().lower() not in NO_BASELINE
        checked = [("--window", self.window), ("--baseline-sample", self.baseline_sample)]
        for name, text in checked + ([("--baseline", self.baseline)] if use_baseline else []):
            if parse_duration_ms(text) <= 0:
                raise InputError(f"{name} {text!r}: give a duration longer than 0 (e.g. 10m)")
        warm_up_ms = parse_duration_ms(self.warm_up)  # checked with snapshots too
        if not self.threshold > 0:
            raise InputError(f"--threshold {self.threshold:g}: give a number above 0 (e.g. 3)")
        sweep = SweepOptions(
            window_ms=parse_duration_ms(self.window),
            threshold=self.threshold,
            min_peers=self.min_peers,
            min_scale=min_scales(self.min_scale or []),
            group_by=tuple(self.group_by or ()),
            baseline_span_ms=parse_duration_ms(self.baseline) if use_baseline else DEFAULT_SPAN_MS,
            # Snapshots (`--baseline 0`) have no history to wait for: they judge every sweep.
            warm_up_ms=warm_up_ms if use_baseline else 0,
        )
        if immediate:
            lifecycle = LifecycleOptions.immediate(
                storm_fraction=self.storm_fraction, storm_min_sources=self.storm_min
            )
        else:
            lifecycle = LifecycleOptions(
                consecutive=self.consecutive,
                recovery_ms=parse_duration_ms(self.recovery),
                cooldown_ms=parse_duration_ms(self.cooldown),
                storm_fraction=self.storm_fraction,
                storm_min_sources=self.storm_min,
            )
        return StepOptions(
            sweep=sweep,
            lifecycle=lifecycle,
            use_baseline=use_baseline,
            sample_ms=parse_duration_ms(self.baseline_sample),
            critical=self.critical,
        )


DEFAULT_SWEEP = SweepArgs()

# Each field of `SweepArgs` as a command-line option.
_OPTIONS: dict[str, Any] = {
    "window": WindowOption,
    "baseline": BaselineOption,
    "baseline_sample": BaselineSampleOption,
    "warm_up": WarmUpOption,
    "group_by": GroupByOption,
    "min_peers": MinPeersOption,
    "min_scale": MinScaleOption,
    "threshold": ThresholdOption,
    "consecutive": ConsecutiveOption,
    "recovery": RecoveryOption,
    "cooldown": CooldownOption,
    "storm_fraction": StormFractionOption,
    "storm_min": StormMinOption,
    "critical": CriticalOption,
}
ALL_OPTIONS = tuple(_OPTIONS)


def sweep_options(
    names: Sequence[str] = ALL_OPTIONS,
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the sweep options `names`, declared once here, in place of its parameter
    `sweep: SweepArgs = DEFAULT_SWEEP`: typer sees them in the command's signature at that place (so `--help`
    lists them there) and the command receives them as one `SweepArgs` (the rest at defaults).

    Typer has no option groups; this is the usual way to share options between its commands.
    """

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        shared = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=getattr(DEFAULT_SWEEP, name),
                annotation=_OPTIONS[name],
            )
            for name in names
        ]
        parameters: list[inspect.Parameter] = []
        for p in signature.parameters.values():
            parameters.extend(shared if p.name == "sweep" else [p.replace(kind=p.KEYWORD_ONLY)])

        @functools.wraps(command)
        def run(**given: Any) -> None:
            args = SweepArgs(**{name: given.pop(name) for name in names})
            command(sweep=args, **given)

        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return run

    return decorate


def replay_grid(
    every: str, start: str | None, end: str | None
) -> tuple[int, int | None, int | None]:
    """A replayed cron's `--every`, `--from` and `--to` in ms (the times `None` when not given).

    Raises `InputError` or `ValueError` with a message naming the bad option.
    """
    every_ms = parse_duration_ms(every)
    if every_ms <= 0:
        raise InputError("--every must be longer than 0")
    from_ms = parse_timestamp_ms(start) if start is not None else None
    to_ms = parse_timestamp_ms(end) if end is not None else None
    return every_ms, from_ms, to_ms


def min_scales(items: Sequence[str]) -> dict[str, float]:
    """`["0.2", "humidity=1"]` → `{"": 0.2, "humidity": 1.0}`."""
    scales: dict[str, float] = {}
    for item in items:
        name, _, number = item.rpartition("=")
        try:
            scales[name.strip()] = float(number)
        except ValueError:
            raise InputError(f"--min-scale {item!r}: use a number or METRIC=NUMBER") from None
    return scales


SEVERITY_EXIT = {
    Severity.OK: ExitCode.OK,
    Severity.WARNING: ExitCode.WARNING,
    Severity.CRITICAL: ExitCode.CRITICAL,
}


def exit_code(severity: Severity, *, undelivered: bool = False) -> ExitCode:
    """The exit code of a sweep that ran: its severity, or UNKNOWN when points stayed undelivered
    (unless CRITICAL, which wins).

    >>> int(exit_code(Severity.WARNING)), int(exit_code(Severity.OK, undelivered=True))
    (1, 3)
    >>> int(exit_code(Severity.CRITICAL, undelivered=True))
    2
    """
    if undelivered and severity is not Severity.CRITICAL:
        return ExitCode.UNKNOWN
    return SEVERITY_EXIT[severity]


def sweep_clock(at_ms: int | None) -> tuple[int, int]:
    """When a sweep runs and the newest row it asks for: `--at` for both, else now and a little
    ahead of it (rows a device stamped in the future are fetched, and reported as invalid)."""
    from fleetscan.sweeps.plan import FUTURE_LOOKAHEAD_MS

    if at_ms is not None:
        return at_ms, at_ms
    now = now_ms()
    return now, now + FUTURE_LOOKAHEAD_MS


def clickhouse_password() -> str:
    """The password for `--clickhouse http(s)://user@host:port`: never on the command line."""
    return os.environ.get("FLEETSCAN_CLICKHOUSE_PASSWORD", "")
