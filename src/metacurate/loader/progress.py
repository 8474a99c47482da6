"""What a trainer has consumed of an epoch, as a state dict that resumes it on any number of
DataLoader workers.

``{"epoch": e, "done": {shard: n}}``: the first ``n`` samples of the shard's file order are done
(consumed, or not used this epoch). A shard is read by one worker, in order, and a DataLoader
hands out each worker's batches in order, so what the main process has consumed of a shard is
always such a prefix, whatever the workers had prefetched.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Progress:
    """One epoch's consumed prefix of each shard (see the module's docstring)."""

    epoch: int = 0
    done: dict[str, int] = field(default_factory=dict)

    def record(self, shards: Iterable[str], indices: Iterable[int]) -> None:
        """Mark consumed the samples at these (shard, position)s and everything before them."""
        for shard, index in zip(shards, indices, strict=True):
            if index >= self.done.get(shard, 0):
                self.done[shard] = int(index) + 1

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "done": dict(self.done)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Progress":
        try:
            return cls(int(state["epoch"]), {str(s): int(n) for s, n in state["done"].items()})
        except (KeyError, TypeError, AttributeError, ValueError):
            raise ValueError(
                f'not a loader state dict ({{"epoch": e, "done": {{shard: n}}}}): {state!r:.200}'
            ) from None


def merge_states(states: Iterable[dict]) -> dict:
    """One state dict from every rank's (they read disjoint shards): what a checkpoint keeps,
    so that a resume on any number of ranks finds every shard's progress."""
    merged: Progress | None = None
    for state in states:
        progress = Progress.from_state_dict(state)
        if merged is None:
            merged = progress
        elif progress.epoch != merged.epoch:
            raise ValueError(f"states of epochs {merged.epoch} and {progress.epoch} cannot merge")
        else:
            merged.record(progress.done, (n - 1 for n in progress.done.values()))
    if merged is None:
        raise ValueError("no state to merge")
    return merged.state_dict()
