"""Recompute-in-backward segments (docs/design.md § CPU execution, memory).

A segment keeps only its inputs for backward; its intermediate tensors are
rebuilt from them when backward reaches it. Non-reentrant checkpointing
stops the rebuild as soon as the last tensor backward needs exists, so a
segment that ends in a conv or matmul re-runs only the cheap ops before it
(norm, activation, elementwise), never that last product.
"""
import torch
from torch.utils.checkpoint import checkpoint

__all__ = ['recompute']


def recompute(fn, *args):
    """``fn(*args)``, saving only ``args`` for backward.

    Without autograd recording (eval, ``no_grad``, export) it is a plain
    call. ``fn`` must be deterministic given its inputs (no BatchNorm in
    training mode: its running statistics would be updated twice).
    """
    if torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)
