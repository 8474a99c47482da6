"""What ``metacurate train`` and ``metacurate eval`` do: train on img2dataset shards balanced
online from a match run's entry counts, resume from the newest checkpoint when run again, and
evaluate zero-shot.
"""

from pathlib import Path

import numpy as np

from metacurate.errors import InputError
from metacurate.pipeline.rundir import COUNTS
from metacurate.readers.sources import is_remote
from metacurate.training.distributed import setup
from metacurate.training.train import TrainConfig, train
from metacurate.training.zeroshot import evaluate
from metacurate.writers.atomic import write_json

ZEROSHOT_FILE = "zeroshot.json"


def load_counts(where: Path) -> np.ndarray:
    """The entry counts of a match run: its folder, or its ``entry_counts.npy``."""
    path = where / COUNTS if where.is_dir() else where
    try:
        return np.load(path)
    except FileNotFoundError:
        raise InputError(
            f"{path}: no entry counts; give the folder of a `metacurate match` run"
        ) from None
    except ValueError as err:
        raise InputError(f"{path}: not an entry counts file ({err})") from None


def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint written last in ``out`` (checkpoints are renamed into place complete, so
    the newest is whole), None when there is none."""
    found = sorted((out / "checkpoints").glob("*.pt"), key=lambda p: p.stat().st_mtime_ns)
    return found[-1] if found else None


def train_balanced(
    shards: str,
    counts: Path,
    t: float,
    out: Path,
    config: TrainConfig,
    loader_seed: int = 0,
    resume: Path | None = None,
    zeroshot: Path | None = None,
    templates: str = "openai",
) -> dict:
    """Train on ``shards`` balanced online (``metacurate.loader``), from ``resume`` or else the
    newest checkpoint in ``out``; evaluate the last checkpoint on ``zeroshot`` (an ImageFolder)
    when given. Returns {"checkpoint", "resumed_from", "main" (this is the main process),
    "zeroshot"?}."""
    from metacurate.loader.torch import BalancedDataset  # torch is imported only here

    dataset = BalancedDataset(shards, load_counts(counts), t, loader_seed)
    # A brace range names files without looking: one that is not there would otherwise stop
    # training with the DataLoader's traceback, after the model is built.
    missing = [s for s in dataset.shards if not is_remote(s) and not Path(s).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(f"{missing[0]}: no such shard file{more}")
    start = resume if resume is not None else latest_checkpoint(out)
    last = train(dataset, out, config, resume=start)
    main = setup().main
    result = {"checkpoint": str(last), "resumed_from": str(start) if start else None, "main": main}
    if zeroshot is not None and main:
        scores = evaluate(last, zeroshot, templates)
        write_json(out / ZEROSHOT_FILE, scores)
        result["zeroshot"] = scores
    return result


def evaluate_checkpoint(checkpoint: Path, folder: Path, templates: str, out: Path | None) -> dict:
    """Zero-shot scores of a checkpoint, also written to ``out`` when given."""
    scores = evaluate(checkpoint, folder, templates)
    if out is not None:
        write_json(out, scores)
    return scores
