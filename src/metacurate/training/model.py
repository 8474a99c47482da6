"""A CLIP by open_clip name: the model, its train and eval transforms and its tokenizer.

Any open_clip architecture works (``ViT-B-32``, ``ViT-B-32-quickgelu``, ...), always from random
weights: we train on our own curated data. The tiny configs in ``configs/`` ship with the package
and are registered on import, so tests and benchmarks train on a CPU in seconds.
"""

import contextlib
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

from metacurate.errors import InputError

CONFIGS = Path(__file__).parent / "configs"
open_clip.add_model_config(CONFIGS)


@dataclass
class Clip:
    """A model with the transforms and tokenizer that belong to it."""

    name: str
    model: torch.nn.Module
    train_transform: Callable
    eval_transform: Callable
    tokenizer: Callable


def create_clip(name: str, device: str | torch.device = "cpu") -> Clip:
    """A randomly initialised CLIP; ``name`` is an open_clip model name or a config .json file
    (registered under its file stem)."""
    name = _register_if_file(name)
    if name not in open_clip.list_models():
        raise InputError(
            f"unknown model {name!r}: use an open_clip model name (e.g. ViT-B-32, "
            f"ViT-B-32-quickgelu, {', '.join(tiny_models())}) or a config .json file"
        )
    # output_dict: the loss and the zero-shot code read features by name, never by position.
    with _quiet_about_weights():
        model, train_transform, eval_transform = open_clip.create_model_and_transforms(
            name, pretrained=None, device=device, output_dict=True
        )
    return Clip(name, model, train_transform, eval_transform, open_clip.get_tokenizer(name))


@contextlib.contextmanager
def _quiet_about_weights():
    """open_clip warns on every model it makes without pretrained weights; random weights are
    what training from scratch asks for, so a user would only read the warning as a fault."""
    hide = _NoPretrainedWarning()
    logging.getLogger().addFilter(hide)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(hide)


class _NoPretrainedWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No pretrained weights loaded" not in record.getMessage()


def model_config(name: str) -> dict:
    """The architecture of ``name``: checkpoints keep it, so they load where it is not
    registered."""
    return open_clip.get_model_config(name)


def register_config(name: str, config: dict) -> None:
    """Make ``name`` known to open_clip with ``config``, unless it already is."""
    if name in open_clip.list_models():
        return
    # open_clip registers configs only from files.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.json"
        path.write_text(json.dumps(config))
        open_clip.add_model_config(path)


def tiny_models() -> list[str]:
    """The configs that ship with metacurate."""
    return sorted(path.stem for path in CONFIGS.glob("*.json"))


def _register_if_file(name: str) -> str:
    path = Path(name)
    if path.suffix != ".json":
        return name
    if not path.is_file():
        raise InputError(f"{path}: no such model config file")
    open_clip.add_model_config(path)
    return path.stem
