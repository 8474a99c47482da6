"""Mixed precision as open_clip_train does it: the weights stay fp32 and the forward pass runs
under torch.autocast; fp16 needs a gradient scaler, bf16 does not."""

import contextlib

import torch

from metacurate.errors import InputError

PRECISIONS = ("fp32", "amp", "amp_bf16")


def default_precision() -> str:
    """bf16 autocast where there is a GPU (the speed of half precision without fp16's loss
    scaling), fp32 on a CPU."""
    return "amp_bf16" if torch.cuda.is_available() else "fp32"


def check(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision == "amp" and device.type != "cuda":
        raise InputError("precision amp (fp16) needs a GPU: use fp32 or amp_bf16 on a CPU")


def autocast(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.float16 if precision == "amp" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype)


def scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16 gradients underflow without loss scaling; bf16 has fp32's range."""
    return torch.amp.GradScaler(device.type) if precision == "amp" else None
