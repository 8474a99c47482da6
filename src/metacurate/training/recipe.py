"""MetaCLIP's optimiser and schedule (paper, Table 10), scaled down for smaller batches.

The paper trains with a global batch of 32,768: AdamW lr 5e-4, betas (0.9, 0.98), eps 1e-6,
weight decay 0.2, 2,000 warm-up steps then cosine decay to zero. A smaller batch gets:

- lr = 5e-4 x max(global batch / 32,768, 0.1): the linear scaling rule, floored at a tenth
  (5e-5) because below that a short run barely moves;
- warm-up = min(2,000, 5% of the run's steps): the paper warms up for 0.5% of its 390k steps,
  and a short run must not spend most of itself warming up.

An explicit lr or warm-up replaces the scaled one.
"""

import math

import torch

PAPER_BATCH = 32_768
PAPER_LR = 5e-4
PAPER_WARMUP = 2_000
LR_FLOOR = 0.1
WARMUP_FRACTION = 0.05
BETAS = (0.9, 0.98)
EPS = 1e-6
WEIGHT_DECAY = 0.2


def scaled_lr(global_batch: int) -> float:
    return PAPER_LR * max(global_batch / PAPER_BATCH, LR_FLOOR)


def scaled_warmup(total_steps: int) -> int:
    return min(PAPER_WARMUP, math.ceil(total_steps * WARMUP_FRACTION))


def optimizer(
    model: torch.nn.Module, lr: float, weight_decay: float = WEIGHT_DECAY
) -> torch.optim.AdamW:
    """AdamW with no decay on gains, biases and logit_scale, by open_clip_train's rule: 1-D
    parameters (so the class embedding) and names with bn/ln/bias/logit_scale. The 2-D token
    and positional embeddings do decay, there as here."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if _exempt(name, param) else decay).append(param)
    groups = [
        {"params": no_decay, "weight_decay": 0.0},
        {"params": decay, "weight_decay": weight_decay},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=BETAS, eps=EPS)


def cosine_schedule(
    optim: torch.optim.Optimizer, warmup: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from lr/warmup to lr, then cosine to zero: open_clip_train's
    ``cosine_lr``, as a torch scheduler so its position is saved with the checkpoint."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optim, factor)


def _exempt(name: str, param: torch.Tensor) -> bool:
    return param.ndim < 2 or any(part in name for part in ("bn", "ln", "bias", "logit_scale"))
