"""CUDA backend: the CUDA launchers linked into ``mmmamba._C``.

``csrc/cuda/*.cu`` hold the kernels, ``csrc/cuda_ops.cpp`` binds them as the
``cuda_*`` functions of the extension (built with CUDA, see setup.py).
:mod:`.cuda_launchers` casts and defines the kernel functions; this module
runs each call on the current stream of the tensors' device, under that
device's guard (the launchers run on the current device).
"""
import torch

from ..dispatch import extension
from .cuda_launchers import CudaLaunchers


def _launch(name, device, *args):
    """``mmmamba._C.cuda_<name>(*args, stream)`` on ``device``."""
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream(device).cuda_stream
        return getattr(extension(), f'cuda_{name}')(*args, stream)


CudaLaunchers(_launch).export(globals())
