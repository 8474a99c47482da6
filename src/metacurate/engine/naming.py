"""How an engine names tasks in its messages (shared by every engine)."""

from collections.abc import Iterable
from typing import Any

MAX_NAMED_TASKS = 5


def label(task: Any) -> str:
    """A task's ``name`` attribute, else its ``str``."""
    return str(getattr(task, "name", task))


def unfinished(tasks: Iterable[Any]) -> str:
    """The first few tasks by name, and how many more ("nothing" when there are none)."""
    names = [label(task) for task in tasks]
    said = ", ".join(names[:MAX_NAMED_TASKS]) or "nothing"
    if len(names) > MAX_NAMED_TASKS:
        said += f" and {len(names) - MAX_NAMED_TASKS} more"
    return said
