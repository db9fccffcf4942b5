"""One line per operator: the backend its calls on a device run, and why."""
import torch

from .dispatch import explain_backend
from .registry import op_names

__all__ = ['describe_backends']


def describe_backends(device):
    """``['na2d_qk: cpu (CPU tensors: C++ kernels of mmmamba._C, avx512
    variant)', ...]``
    for tensors on ``device`` (what the tools log at start)."""
    probe = torch.zeros(1, device=device)
    return [f'{op}: {choice.backend} ({choice.reason})'
            for op, choice in ((op, explain_backend(op, probe))
                               for op in op_names())]
