"""Run the Triton kernels in the interpreter when there is no CUDA GPU.

``@triton.jit`` reads ``TRITON_INTERPRET`` when a kernel is decorated, so it
is set here, before any test module imports ``mmmamba.ops.kernels.triton``;
the kernels then run on CPU tensors. With a GPU they run compiled.
"""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
