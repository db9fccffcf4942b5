"""The dtype rule of the fp32 islands (the steps the released model runs
in fp32 with autocast off: the A2SSM output, the mixer's gating, RoPE).

An island computes in fp32 (fp64 in a model cast with ``.double()``) and
hands its result back in the dtype of its module's parameters. Under
autocast the parameters are fp32, so nothing changes there; after
``model.half()`` / ``.bfloat16()`` the island still runs in fp32 and the
next layer gets the model's dtype, as its weights expect.
"""
import torch

__all__ = ['island_dtype']


def island_dtype(dtype):
    """Compute dtype of an fp32 island in a module of parameter ``dtype``."""
    return torch.float64 if dtype == torch.float64 else torch.float32
