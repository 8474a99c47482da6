"""Training checkpoints: everything a resumed run needs to repeat an uninterrupted one.

One ``torch.save``d dict per file, written under a temporary name then renamed, so a killed run
never leaves a half checkpoint under a real name:

- ``format``: ``FORMAT``; ``model_name`` and ``model_config`` (the open_clip architecture, so the
  file loads where the name is not registered); ``config``: the run's ``TrainConfig`` as a dict;
- ``epoch``, ``epoch_step``, ``step``, ``total_steps``: the epoch in progress (epochs done), the
  steps done in it, the steps done in all, and the steps the run plans;
- ``model``, ``optimizer``, ``scheduler``, ``scaler`` (None outside fp16): state dicts;
- ``loader``: the data source's state dict (the dataset's own, or {} for a ``Pairs`` factory);
- ``rng``: every rank's torch random state (augmentation crops, DataLoader worker seeds).

Files hold only tensors and plain Python values, so ``torch.load(weights_only=True)`` reads them.
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from metacurate.errors import InputError
from metacurate.training.distributed import Dist
from metacurate.training.model import Clip, create_clip, model_config, register_config
from metacurate.writers.atomic import atomic_file

FORMAT = "metacurate-clip-checkpoint/1"


@dataclass
class Position:
    epoch: int = 0
    epoch_step: int = 0
    step: int = 0


@dataclass
class TrainState:
    """What a checkpoint saves besides the position and the settings."""

    clip: Clip
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler | None
    source: object  # data.BatchSource


def save(
    path: Path,
    state: TrainState,
    position: Position,
    total_steps: int,
    config: dict,
    where: Dist,
) -> None:
    """Write ``path`` from the main rank; every rank must call it (the random states and the
    loader's are gathered)."""
    rng = _gathered_rng(where)
    loader = state.source.state_dict()
    if not where.main:
        return
    checkpoint = {
        "format": FORMAT,
        "model_name": state.clip.name,
        "model_config": model_config(state.clip.name),
        "config": config,
        "epoch": position.epoch,
        "epoch_step": position.epoch_step,
        "step": position.step,
        "total_steps": total_steps,
        "model": state.clip.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict() if state.scaler else None,
        "loader": loader,
        "rng": rng,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        torch.save(checkpoint, f)


def restore(path: Path, state: TrainState, total_steps: int, where: Dist) -> Position:
    """Load ``path`` into ``state``; the run must plan the same steps as the one that wrote it."""
    checkpoint = read(path)
    if checkpoint["model_name"] != state.clip.name:
        raise InputError(
            f"{path}: a checkpoint of {checkpoint['model_name']}, not {state.clip.name}"
        )
    if checkpoint["total_steps"] != total_steps:
        raise InputError(
            f"{path}: its run planned {checkpoint['total_steps']:,} steps, this one "
            f"{total_steps:,}: resume with the same epochs, batch size, GPUs and data"
        )
    state.clip.model.load_state_dict(checkpoint["model"])
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    state.scheduler.load_state_dict(checkpoint["scheduler"])
    if state.scaler:
        state.scaler.load_state_dict(checkpoint["scaler"])
    state.source.load_state_dict(checkpoint["loader"])
    _set_rng(checkpoint["rng"], where)
    return Position(checkpoint["epoch"], checkpoint["epoch_step"], checkpoint["step"])


def load_clip(path: Path | str, device: str | torch.device = "cpu") -> Clip:
    """The trained model of a checkpoint, in eval mode, with its transforms and tokenizer."""
    checkpoint = read(path)
    register_config(checkpoint["model_name"], checkpoint["model_config"])
    clip = create_clip(checkpoint["model_name"], device)
    clip.model.load_state_dict(checkpoint["model"])
    clip.model.eval()
    return clip


def read(path: Path | str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds for a file that is not a checkpoint
        raise InputError(f"{path}: not a readable checkpoint ({err.__class__.__name__})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise InputError(f"{path}: not a metacurate training checkpoint")
    return checkpoint


def _gathered_rng(where: Dist) -> list[dict]:
    mine = {"cpu": torch.get_rng_state()}
    if where.device.type == "cuda":
        mine["cuda"] = torch.cuda.get_rng_state(where.device)
    if where.world_size == 1:
        return [mine]
    states = [None] * where.world_size
    dist.all_gather_object(states, mine)
    return states


def _set_rng(states: list[dict], where: Dist) -> None:
    # With another number of ranks the run cannot repeat anyway; each rank keeps its own seed.
    if len(states) != where.world_size:
        return
    mine = states[where.rank]
    torch.set_rng_state(mine["cpu"])
    if "cuda" in mine and where.device.type == "cuda":
        torch.cuda.set_rng_state(mine["cuda"], where.device)
