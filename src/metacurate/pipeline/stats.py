"""A part's statistics and the run's totals: typed, and added up as parts finish.

A part's statistics travel from its worker to the driver, which writes them as the part's marker
(``part-N.json``); the run's totals are their sum. The JSON keys are the ones the summaries,
the CLI and the data card read (``rows_read``, ``rejected``, ...).
"""

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from metacurate.readers import Rejects
from metacurate.readers.base import part_name

MAX_EXAMPLES = 20  # reject examples kept in a run's summary
# Row counts in the order a row meets them; a stage reports those it has.
ROWS = ("read", "empty_text", "matched", "other_language", "staged", "duplicate", "written")


@dataclass
class PartStats:
    """What one shard became: its rows at each step, its rejects, and the part it wrote."""

    shard: str
    path: str
    row_groups: list[int] | None
    languages: str | None
    rows: Counter = field(default_factory=Counter)
    rejects: Rejects = field(default_factory=Rejects)
    matches: int | None = None  # entry matches in the part's rows, when matching
    parquet: str | None = None  # the part's file, None when no row is left

    def to_json(self) -> dict:
        return {
            "shard": self.shard,
            "path": self.path,
            "row_groups": self.row_groups,
            **{f"rows_{k}": self.rows[k] for k in ROWS if k in self.rows},
            "languages": self.languages,
            "matches": self.matches,
            **self.rejects.as_stats(),
            "parquet": self.parquet,
        }

    @classmethod
    def from_json(cls, data: dict) -> "PartStats":
        rejects = Rejects()
        rejects.absorb(data)
        rows = Counter({k: data[f"rows_{k}"] for k in ROWS if f"rows_{k}" in data})
        return cls(
            data["shard"],
            data["path"],
            data["row_groups"],
            data["languages"],
            rows,
            rejects,
            data["matches"],
            data["parquet"],
        )


@dataclass
class Totals:
    """The sum of the statistics of a run's ``shards`` parts, the same whatever order the parts
    are added in."""

    shards: int
    rows: Counter = field(default_factory=Counter)
    seen: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    _examples: list[tuple[int, int, str]] = field(default_factory=list)  # (part, n, example)
    # Which shards wrote a part, one byte each: their names are made only for the summary.
    _written: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._written = np.zeros(self.shards, np.bool_)

    def add(self, index: int, part: PartStats) -> None:
        """Add the statistics of the part of shard ``index``."""
        self.rows.update(part.rows)
        self.seen.update(part.rejects.seen)
        self.rejected.update(part.rejects.by_reason)
        examples = [(index, n, e) for n, e in enumerate(part.rejects.examples)]
        self._examples = sorted(self._examples + examples)[:MAX_EXAMPLES]  # the first parts'
        if part.parquet:
            self._written[index] = True

    def to_json(self) -> dict:
        return {
            **{f"rows_{k}": self.rows[k] for k in ROWS if k in self.rows},
            "seen": dict(sorted(self.seen.items())),
            "rejected": dict(sorted(self.rejected.items())),
            "reject_examples": [example for _, _, example in self._examples],
            "parts": [
                f"{part_name(i, self.shards)}.parquet" for i in np.flatnonzero(self._written)
            ],
        }


class ExactSum:
    """A float sum that does not depend on the order of its terms (parts finish in any order,
    and a data card's figures must not): the exact sum is kept as a few non-overlapping
    partials (Shewchuk's algorithm, as ``math.fsum``) and rounded once when read."""

    def __init__(self) -> None:
        self._partials: list[float] = []

    def add(self, x: float) -> None:
        kept = []
        for y in self._partials:
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            low = y - (high - x)
            if low:
                kept.append(low)
            x = high
        kept.append(x)
        self._partials = kept

    @property
    def value(self) -> float:
        return math.fsum(self._partials)
