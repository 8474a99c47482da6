"""Train a CLIP on curated pairs with open_clip's model, tokenizer and ClipLoss, following
MetaCLIP's recipe (``recipe.py``). One process per GPU under torchrun, or one on the CPU.

The output folder gets ``log.jsonl`` (one JSON line per log step) and ``checkpoints/``:
``epoch_{e}.pt`` after each epoch e (counted from 1) and ``step_{s}.pt`` every ``save_every``
steps. ``resume=`` one of them continues the run; on a CPU it repeats the uninterrupted run
bit for bit.
"""

import contextlib
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

from metacurate.errors import OutputError
from metacurate.progress import stage_progress
from metacurate.training import checkpoint, distributed, precision, recipe
from metacurate.training.checkpoint import Position, TrainState
from metacurate.training.data import BatchSource, batch_source
from metacurate.training.model import create_clip

# open_clip_train clamps the learned temperature so logits are scaled by at most 100.
MAX_LOGIT_SCALE = math.log(100)


@dataclass(frozen=True)
class TrainConfig:
    model: str = "ViT-B-32-quickgelu"  # the paper's OpenAI CLIP setup uses QuickGELU
    epochs: int = 1
    batch_size: int = 256  # per process; the global batch is this x the number of processes
    lr: float | None = None  # None: scaled from the paper's (recipe.scaled_lr)
    warmup: int | None = None  # steps; None: recipe.scaled_warmup
    weight_decay: float = recipe.WEIGHT_DECAY
    precision: str = "fp32"  # or amp (fp16) / amp_bf16, as open_clip_train names them
    seed: int = 0
    num_workers: int = 0  # DataLoader workers for a dataset input
    log_every: int = 10  # steps
    save_every: int | None = None  # steps; a checkpoint after every epoch is always written


def train(
    data,
    out: Path | str,
    config: TrainConfig,
    resume: Path | str | None = None,
    device: str | None = None,
) -> Path:
    """Train on ``data`` (``data.Pairs`` or an epoch-aware dataset, see ``data.py``) and return
    the last checkpoint written (``resume`` itself when it had finished the run)."""
    where = distributed.setup(device)
    precision.check(config.precision, where.device)
    torch.manual_seed(config.seed)  # the same initial weights on every rank
    clip = create_clip(config.model, where.device)
    torch.manual_seed(config.seed + where.rank)  # but each rank its own augmentations
    source = batch_source(data, clip, config.batch_size, where, config.num_workers)
    run = _Run(config, where, Path(out), _train_state(clip, source, config, where))
    position = Position()
    if resume is not None:
        position = checkpoint.restore(Path(resume), run.state, run.total_steps, where)
    last = Path(resume) if resume is not None else None
    with _progress(where, run.total_steps, position.step) as advance:
        while position.epoch < config.epochs:
            last = run.epoch(position, advance)
    return last


def _train_state(clip, source: BatchSource, config: TrainConfig, where) -> TrainState:
    global_batch = config.batch_size * where.world_size
    total_steps = config.epochs * source.steps_per_epoch
    lr = config.lr if config.lr is not None else recipe.scaled_lr(global_batch)
    warmup = config.warmup if config.warmup is not None else recipe.scaled_warmup(total_steps)
    optimizer = recipe.optimizer(clip.model, lr, config.weight_decay)
    scheduler = recipe.cosine_schedule(optimizer, warmup, total_steps)
    scaler = precision.scaler(config.precision, where.device)
    return TrainState(clip, optimizer, scheduler, scaler, source)


class _Run:
    """The model (in DDP with several processes), the loss and what a checkpoint saves."""

    def __init__(self, config: TrainConfig, where, out: Path, state: TrainState):
        self.config, self.where, self.out, self.state = config, where, out, state
        self.total_steps = config.epochs * state.source.steps_per_epoch
        self.model = distributed.wrap(state.clip.model, where)
        self.model.train()
        self.loss = open_clip.ClipLoss(
            local_loss=True, gather_with_grad=True, rank=where.rank, world_size=where.world_size
        )

    def epoch(self, position: Position, advance) -> Path:
        """Train the rest of ``position.epoch``, saving as asked; return its end checkpoint."""
        config = self.config
        meter = _Meter(config.batch_size * self.where.world_size, position.step)
        for batch in self.state.source.batches(position.epoch, position.epoch_step):
            lr = self.state.scheduler.get_last_lr()[0]
            loss = self.step(batch)
            position.step += 1
            position.epoch_step += 1
            advance(1)
            if self.where.main and position.step % config.log_every == 0:
                _log(self.out, position, loss.item(), lr, meter.rate(position.step))
            if config.save_every and position.step % config.save_every == 0:
                self.save(f"step_{position.step}.pt", position)
        position.epoch += 1
        position.epoch_step = 0
        return self.save(f"epoch_{position.epoch}.pt", position)

    def step(self, batch) -> torch.Tensor:
        device, state = self.where.device, self.state
        images = batch["image"].to(device, non_blocking=True)
        texts = batch["text"].to(device, non_blocking=True)
        state.optimizer.zero_grad(set_to_none=True)
        with precision.autocast(self.config.precision, device):
            out = self.model(images, texts)
            loss = self.loss(out["image_features"], out["text_features"], out["logit_scale"])
        if state.scaler:
            state.scaler.scale(loss).backward()
            state.scaler.step(state.optimizer)
            state.scaler.update()
        else:
            loss.backward()
            state.optimizer.step()
        state.scheduler.step()
        with torch.no_grad():
            state.clip.model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        return loss.detach()

    def save(self, name: str, position: Position) -> Path:
        path = self.out / "checkpoints" / name
        settings = dataclasses.asdict(self.config)
        checkpoint.save(path, self.state, position, self.total_steps, settings, self.where)
        return path


class _Meter:
    """Samples per second since the previous log line (or the start of the epoch)."""

    def __init__(self, global_batch: int, step: int):
        self.global_batch = global_batch
        self.since, self.step = time.perf_counter(), step

    def rate(self, step: int) -> float:
        now = time.perf_counter()
        rate = self.global_batch * (step - self.step) / max(now - self.since, 1e-9)
        self.since, self.step = now, step
        return rate


def _log(out: Path, position: Position, loss: float, lr: float, samples_per_s: float) -> None:
    record = {
        "step": position.step,
        "epoch": position.epoch,
        "loss": round(loss, 6),
        "lr": lr,
        "samples_per_s": round(samples_per_s, 1),
    }
    # Appended line by line: a run that stops keeps every line it logged, and a resumed run
    # continues the same file.
    try:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as err:  # a full disk, a log that is a folder: one line, as checkpoints say
        raise OutputError(f"{out / 'log.jsonl'}: cannot write ({err.strerror})") from None


@contextlib.contextmanager
def _progress(where, total_steps: int, done: int):
    if not where.main:
        yield lambda n: None
        return
    with stage_progress("training", total_steps, unit="steps") as advance:
        advance(done)
        yield advance
