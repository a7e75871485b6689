"""A progress bar on a terminal for long loops, and nothing at all on cron, pipes or files.

`track(items, label=...)` yields the items; when stderr is a terminal and there are at least
`min_items` of them it draws a rich progress bar on stderr (transient: it disappears when done,
so the summary lines stay as they were). Cron mails any output, so off a terminal it is silent.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

MIN_ITEMS = 50  # below this a loop is over before a bar would help


def track(items: Sequence[T], *, label: str, min_items: int = MIN_ITEMS) -> Iterator[T]:
    """The items, with a progress bar on stderr when it is a terminal (see the module)."""
    if len(items) < min_items or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=len(items))
        for item in items:
            yield item
            progress.advance(task)
