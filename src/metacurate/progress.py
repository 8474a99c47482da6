"""Progress bars (rows/s and ETA) for long stages, quiet when output is not a terminal."""

from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


class _RateColumn(TextColumn):
    def __init__(self, unit: str):
        super().__init__("")
        self.unit = unit

    def render(self, task):
        speed = task.finished_speed or task.speed
        if not speed and task.elapsed:  # one big step: rich has no speed samples yet
            speed = task.completed / task.elapsed
        return f"{speed:,.0f} {self.unit}/s" if speed else f"- {self.unit}/s"


@contextmanager
def stage_progress(description: str, total: float | None, unit: str = "rows"):
    """Yield ``advance(n)``: a bar with count, rate and ETA (ETA needs a known total).

    The bar redraws on each advance rather than from a refresh thread, so worker processes
    can be forked safely while it is shown.
    """
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        _RateColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, auto_refresh=False) as progress:
        task = progress.add_task(description, total=total)
        progress.refresh()
        yield lambda n: progress.update(task, advance=n, refresh=True)
