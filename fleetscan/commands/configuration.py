"""`fleetscan --config FILE` (or `FLEETSCAN_CONFIG`) and `fleetscan config check [FILE]`.

The root option loads `fleetscan.toml` (see `fleetscan.configfile`) before any command runs and
hands its values to click as the commands' `default_map`: a flag on the command line wins, then
an environment variable, then the file, then the built-in default. Its per-board thresholds and standing
silences reach the sweeps through the root context (`adjustments`). A broken file stops every command with its problems
(exit 64); `config check` lists them (exit 1) or says what the file sets (exit 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fleetscan import configfile
from fleetscan.commands.common import ExitCode, fail, note
from fleetscan.errors import ConfigError
from fleetscan.overrides import NO_ADJUSTMENTS, Adjustments

config_app = typer.Typer(help="Check a fleetscan.toml.", no_args_is_help=True)


def load_config(ctx: typer.Context, config: Path | None) -> None:
    """The root callback's part: load `--config` into the root context (see the module)."""
    ctx.obj = config
    if config is None or ctx.invoked_subcommand == "config":
        return  # `config check` reads (and reports on) the file itself
    try:
        loaded = configfile.load(config)
    except ConfigError as exc:
        fail(f"{exc}", code=ExitCode.USAGE)
    ctx.obj = loaded
    # The root group builds a command only when asked (cli.FleetscanGroup): the one about to run.
    name = ctx.invoked_subcommand
    get = getattr(ctx.command, "get_command", None)
    command = get(ctx, name) if get is not None and name else None
    ctx.default_map = loaded.default_map({name: command} if name and command else {})


def adjustments(ctx: typer.Context) -> Adjustments:
    """The config file's per-board/per-cohort thresholds and standing silences (none without
    `--config`)."""
    loaded = ctx.find_root().obj
    if not isinstance(loaded, configfile.Config):
        return NO_ADJUSTMENTS
    return Adjustments(thresholds=loaded.thresholds, silences=loaded.silences)


@config_app.command("check")
def check(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(help="The file to check (default: --config / FLEETSCAN_CONFIG)."),
    ] = None,
) -> None:
    """Check a config file: every problem with its line, key and what is allowed."""
    given = ctx.find_root().obj
    target = path or (given if isinstance(given, Path) else None)
    if target is None:
        fail("give a file to check (or --config / FLEETSCAN_CONFIG)", code=ExitCode.USAGE)
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read config file {target}: {exc.strerror or exc}", code=ExitCode.WARNING)
    loaded, problems = configfile.check(text, path=target)
    if loaded is None:
        for line in problems:
            typer.echo(f"fleetscan: {line}", err=True)
        raise typer.Exit(ExitCode.WARNING)
    for (section, key), value in sorted(loaded.values.items()):
        typer.echo(f"[{section}] {key} = {value!r}")
    for s in loaded.silences:
        typer.echo(f"silence {s.what}: {s.reason}")
    note(f"{target}: ok ({len(loaded.values)} settings, {len(loaded.silences)} silences)")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
