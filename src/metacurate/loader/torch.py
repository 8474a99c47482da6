"""``BalancedDataset``: online MetaCLIP balancing as a torch ``IterableDataset`` over img2dataset
WebDataset shards (SPEC section 6). The only module of ``metacurate.loader`` that imports torch.

    dataset = BalancedDataset("shards/{00000..00099}.tar", np.load("run/entry_counts.npy"),
                              t=20_000, seed=0, transform=preprocess,
                              tokenize=lambda text: tokenizer([text])[0])
    loader = DataLoader(dataset, batch_size=256, num_workers=8)
    for epoch in range(start, epochs):
        dataset.set_epoch(epoch)
        for batch in dataset.tracked(loader):  # records what the trainer consumed
            ...                                # checkpoint dataset.state_dict() with the model

Each (rank, worker) reads its own shards (``shards.slot_shards``), so every used sample comes
once per epoch across the world; ranks get different numbers of samples, so a distributed
trainer runs a fixed number of steps per epoch (from ``expected_epoch_size()``), calling
``rewind()`` when a rank runs dry first, or joins uneven inputs. An undecodable image is skipped
with a warning. The epoch lives in shared memory, so ``set_epoch`` reaches persistent workers.
"""

import io
import math
import multiprocessing
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch.distributed as dist
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from metacurate.loader.balancing import OnlineBalance
from metacurate.loader.progress import Progress
from metacurate.loader.shards import expand_shards, shard_expected_size, slot_shards
from metacurate.loader.stream import balanced_samples

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


class BalancedDataset(IterableDataset):
    """The samples each epoch uses, as ``{"image", "text", "uuid", "__key__", "__shard__",
    "__index__"}``: the image decoded to RGB and passed through ``transform`` (PIL -> tensor),
    the chosen text through ``tokenize`` (str -> tensor). ``counts``: the match run's
    ``entry_counts.npy``; ``rank`` and ``world_size``: the split, from ``torch.distributed``
    when not given (one process when it is not initialised)."""

    def __init__(
        self,
        shards: str | Sequence[str],
        counts: np.ndarray,
        t: float,
        seed: int = 0,
        *,
        transform: Callable | None = None,
        tokenize: Callable[[str], object] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        self.shards = expand_shards(shards)
        self.balance = OnlineBalance(counts, t, seed)
        self.transform = transform
        self.tokenize = tokenize
        self.rank = rank
        self.world_size = world_size
        self._epoch = multiprocessing.Value("q", 0)  # read by workers as each pass starts
        self.progress = Progress()  # what the main process has consumed
        self._resume = Progress()  # where a loaded state resumes; never changed by recording
        self._expected_size: float | None = None

    @property
    def epoch(self) -> int:
        return self._epoch.value

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch`` from the next pass on; a new epoch starts with nothing consumed."""
        self.balance.epoch_seed(epoch)  # refuse an epoch the draws cannot hash
        self._epoch.value = epoch
        if epoch != self.progress.epoch:
            self.progress = Progress(epoch)

    def __iter__(self) -> Iterator[dict]:
        rank, world = self._split()
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        epoch = self.epoch
        mine = slot_shards(self.shards, self.balance.seed, epoch, rank, world, worker, workers)
        done = self._resume.done if self._resume.epoch == epoch else {}
        for sample in balanced_samples(self.balance, mine, epoch, dict(done)):
            image = self._image(sample)
            if image is None:
                continue
            yield {
                "image": image,
                "text": self.tokenize(sample["text"]) if self.tokenize else sample["text"],
                "uuid": sample["uuid"],
                "__key__": sample["__key__"],
                "__shard__": sample["__shard__"],
                "__index__": sample["__index__"],
            }

    def _split(self) -> tuple[int, int]:
        if self.rank is not None:
            return self.rank, self.world_size
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _image(self, sample: dict):
        """The sample's image, decoded and transformed; None, with a warning naming it, when it
        has none or it cannot be decoded: one damaged file must not stop a training run."""
        data = next((sample[ext] for ext in IMAGE_EXTENSIONS if ext in sample), None)
        try:
            if data is None:
                raise ValueError(f"no {'/'.join(IMAGE_EXTENSIONS)} member")
            image = Image.open(io.BytesIO(data)).convert("RGB")
        except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for damaged files
            warnings.warn(
                f"{sample['__shard__']}: sample {sample['__key__']} skipped: {err}", stacklevel=2
            )
            return None
        return self.transform(image) if self.transform else image

    def rewind(self) -> None:
        """Start the current epoch again from its first sample at the next pass (a trainer that
        needs more steps than this epoch's draws gave): what is consumed from then on is counted
        afresh, so a state saved later resumes this second round."""
        self._resume = Progress(self.epoch)
        self.progress = Progress(self.epoch)

    def record(self, batch: dict) -> None:
        """Count a batch (or one sample) as consumed by the trainer: call it in the main
        process for each batch taken from the DataLoader (``tracked`` does)."""
        shards, indices = batch["__shard__"], batch["__index__"]
        if isinstance(shards, str):  # one sample, not collated
            shards, indices = [shards], [indices]
        self.progress.record(shards, np.asarray(indices).tolist())

    def tracked(self, batches: Iterable[dict]) -> Iterator[dict]:
        """``batches`` (a DataLoader over this dataset), each recorded as consumed when taken."""
        for batch in batches:
            self.record(batch)
            yield batch

    def state_dict(self) -> dict:
        """``{"epoch": e, "done": {shard: samples done in its file order}}`` for this rank
        (``progress.merge_states`` joins the ranks' into one)."""
        return self.progress.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Resume mid-epoch: the next pass of the state's epoch skips what it records as done;
        any number of DataLoader workers (or ranks, given the merged state) may read on."""
        self._resume = Progress.from_state_dict(state)
        self.progress = Progress.from_state_dict(state)
        self._epoch.value = self.progress.epoch

    def expected_epoch_size(self) -> float:
        """Expected number of samples an epoch uses over all ranks: the sum of the images' keep
        probabilities (the same every epoch). The first call reads img2dataset's Parquet file
        beside each shard, or where there is none the shard's ``.json`` members. Under
        ``torch.distributed`` (rank and world size not given) it is a collective, as the
        trainer uses it: call it on every rank; each reads its share of the shards and the
        sums are gathered. The result is kept."""
        if self._expected_size is None:
            shards = range(len(self.shards))
            gather = dist.is_available() and dist.is_initialized() and self.rank is None
            if gather:  # every rank calls this, as the trainer does: each reads a share
                shards = shards[dist.get_rank() :: dist.get_world_size()]
            sizes = {i: shard_expected_size(self.balance, self.shards[i]) for i in shards}
            if gather:
                shares = [None] * dist.get_world_size()
                dist.all_gather_object(shares, sizes)
                sizes = {i: size for share in shares for i, size in share.items()}
            # fsum is exactly rounded: the same figure on every rank, for any world size.
            self._expected_size = math.fsum(sizes[i] for i in range(len(self.shards)))
        return self._expected_size
