"""Run the Triton kernels in the interpreter when there is no CUDA GPU.

``@triton.jit`` reads ``TRITON_INTERPRET`` when a function is decorated —
triton.language's own helpers included, when triton is first imported (which
``import mmdet.models`` already does) — so it is set here, in the top-level
conftest, before pytest imports any test module. The kernels then run on CPU
tensors. With a GPU they run compiled.
"""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
