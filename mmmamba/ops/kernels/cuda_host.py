"""cuda_host backend: the CUDA kernels run on CPU tensors, for testing.

``mmmamba._C_cuda_host`` is ``csrc/cuda/*.cu`` compiled by the host compiler
over the CUDA emulation of ``csrc/cuda_host/cuda_emulation.h`` (every thread
of a block a host thread, real ``__syncthreads`` barriers, per-block shared
memory, warp shuffles) and bound by the same wrappers as the GPU build: the
launchers, their grid / block arithmetic and the kernels are the code the
GPU runs. It is slow (a few ms per block) and only ever runs when forced
(``MMMAMBA_OPS_BACKEND=cuda_host`` or ``use_backend('cuda_host')``).
"""
from ..dispatch import cuda_host_extension
from .cuda_launchers import CudaLaunchers


def _launch(name, device, *args):
    """``mmmamba._C_cuda_host.cuda_<name>(*args, stream=0)``."""
    return getattr(cuda_host_extension(), f'cuda_{name}')(*args, 0)


CudaLaunchers(_launch).export(globals())
