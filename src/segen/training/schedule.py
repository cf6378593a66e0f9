"""Learning-rate schedules: linear warm-up, then cosine or polynomial decay over the run's progress.

Progress is the larger of the step fraction and the time-budget fraction, so a run bounded by
`--max-time` finishes its decay when the budget runs out.
"""

from __future__ import annotations

import math


def lr_factor(step: int, progress: float, warmup_steps: int, kind: str, min_ratio: float) -> float:
    """Multiplier of the base learning rate at optimiser step `step` (0-based) and `progress` in [0, 1]."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    p = min(max(progress, 0.0), 1.0)
    if kind == "cosine":
        decay = 0.5 * (1 + math.cos(math.pi * p))
    elif kind == "poly":
        decay = (1 - p) ** 0.9
    elif kind == "constant":
        decay = 1.0
    else:
        raise ValueError(f"unknown schedule {kind!r}")
    return warm * (min_ratio + (1 - min_ratio) * decay)
