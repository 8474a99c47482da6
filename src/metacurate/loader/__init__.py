"""Online balancing in the training data loader (SPEC section 6, issue 11).

The matched pool is kept whole in img2dataset WebDataset shards; each epoch re-draws which pairs
are used, with offline balancing's keep rule and a per-epoch seed, reproducibly on any number of
ranks and DataLoader workers, and resumable mid-epoch. This package needs numpy, pyarrow and
webdataset only; the torch ``IterableDataset`` is ``metacurate.loader.torch.BalancedDataset``.
"""

from metacurate.loader.balancing import EpochDraw, OnlineBalance, epoch_seed
from metacurate.loader.progress import Progress, merge_states
from metacurate.loader.shards import (
    epoch_order,
    expand_shards,
    image_record,
    shard_expected_size,
    shard_records,
    shard_samples,
    slot_shards,
)
from metacurate.loader.stream import BalanceStage, Used, balanced_samples, used_samples

__all__ = [
    "BalanceStage",
    "EpochDraw",
    "OnlineBalance",
    "Progress",
    "Used",
    "balanced_samples",
    "epoch_order",
    "epoch_seed",
    "expand_shards",
    "image_record",
    "merge_states",
    "shard_expected_size",
    "shard_records",
    "shard_samples",
    "slot_shards",
    "used_samples",
]
