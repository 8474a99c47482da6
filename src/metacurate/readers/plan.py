"""A run's shards as a few arrays, not one object per shard.

The driver holds the plan for the whole run: at paper scale a million shards or more, so a
``Shard`` is made only when a task is handed out (``plan[i]``) and dropped once it is done. The
plan keeps the input files once each, and per shard its file, its Parquet row groups (a range:
the planner cuts consecutive groups) and its rows: 20 bytes a shard.
"""

import hashlib
import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from metacurate.readers.base import Shard
from metacurate.readers.sources import resolved_path

WHOLE_FILE = -1  # ``first_group`` of a shard that is a whole file (any format but Parquet)
UNKNOWN_ROWS = -1  # ``rows`` of a shard whose rows are known only once read


@dataclass(frozen=True, eq=False)
class ShardPlan:
    paths: tuple[str, ...]  # the input files, in input order
    formats: tuple[str, ...]  # each input's format
    file: np.ndarray  # int32 by shard: its input's index in ``paths``
    first_group: np.ndarray  # int32 by shard: its first row group, or WHOLE_FILE
    groups: np.ndarray  # int32 by shard: how many consecutive row groups
    rows: np.ndarray  # int64 by shard: its rows, or UNKNOWN_ROWS

    def __len__(self) -> int:
        return len(self.file)

    def __getitem__(self, index: int) -> Shard:
        file, first = int(self.file[index]), int(self.first_group[index])
        groups = None if first == WHOLE_FILE else tuple(range(first, first + self.groups[index]))
        rows = int(self.rows[index])
        return Shard(
            index,
            self.paths[file],
            self.formats[file],
            groups,
            None if rows == UNKNOWN_ROWS else rows,
            len(self),
        )

    def __iter__(self) -> Iterator[Shard]:
        return map(self.__getitem__, range(len(self)))

    @property
    def rows_known(self) -> bool:
        return bool((self.rows != UNKNOWN_ROWS).all())

    def sha256(self) -> str:
        """What a run records of its plan: the same inputs cut the same way give the same
        digest (a local input by its real path, however it is spelled)."""
        digest = hashlib.sha256(json.dumps([resolved_path(p) for p in self.paths]).encode())
        for column in (self.file, self.first_group, self.groups, self.rows):
            digest.update(column.astype("<i8").tobytes())
        return digest.hexdigest()


class PlanBuilder:
    """Collects the plan one input at a time, in compact arrays."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.formats: list[str] = []
        self.file, self.first, self.groups = array("i"), array("i"), array("i")
        self.rows = array("q")

    def add_file(self, path: str, fmt: str) -> None:
        """An input read whole, as one shard."""
        self.add_row_groups(path, fmt, [(WHOLE_FILE, 0, UNKNOWN_ROWS)])

    def add_row_groups(self, path: str, fmt: str, shards: list[tuple[int, int, int]]) -> None:
        """An input cut into shards of (first row group, row groups, rows)."""
        self.paths.append(path)
        self.formats.append(fmt)
        index = len(self.paths) - 1
        for first, groups, rows in shards:
            self.file.append(index)
            self.first.append(first)
            self.groups.append(groups)
            self.rows.append(rows)

    def build(self) -> ShardPlan:
        return ShardPlan(
            tuple(self.paths),
            tuple(self.formats),
            np.array(self.file, np.int32),
            np.array(self.first, np.int32),
            np.array(self.groups, np.int32),
            np.array(self.rows, np.int64),
        )
