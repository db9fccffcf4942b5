"""What the items share: the backends of a device, seeded inputs, errors."""
import math
from typing import NamedTuple

import torch

OPS = ('na2d_qk', 'na2d_av', 'selective_scan_states', 'a2ssm_aggregate')
DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class ItemResult(NamedTuple):
    """One item's outcome: status PASS / FAIL / SKIP (or a figure), the
    summary line's text, and the details for report.json."""
    status: str
    summary: str
    details: object = None


def kernel_backends(device):
    """The kernel backends checked on ``device``: the CUDA and Triton
    kernels on a GPU; the C++ kernels and the host-compiled CUDA kernels
    (``cuda_host``) on the CPU."""
    return ('cuda', 'triton') if device == 'cuda' else ('cpu', 'cuda_host')


def model_backends(device):
    """The kernel backends whole models run on: on the CPU only the C++
    kernels (the host-compiled CUDA kernels are an emulator, too slow for
    a model; item a and the agreement of item c check them)."""
    return kernel_backends(device) if device == 'cuda' else ('cpu', )


def runs_on(backend, op, tensor):
    """True when ``op`` on ``tensor`` runs ``backend``'s own kernel under
    ``use_backend(backend)`` (not the reference in its place)."""
    from mmmamba.ops import explain_backend, use_backend
    with use_backend(backend):
        return explain_backend(op, tensor).backend == backend


def leaf(*shape, gen, device, dtype=torch.float32, scale=1.0, shift=0.0,
         softmax=False):
    """A seeded ``requires_grad`` tensor: randn·scale + shift (softmax over
    the last dim when asked), drawn in fp32 on the CPU, then cast."""
    t = torch.randn(*shape, generator=gen) * scale + shift
    if softmax:
        t = t.softmax(-1)
    return t.to(device, dtype).requires_grad_()


def relative_error(got, want):
    """max |got - want| / max |want| in float64; NaN when got has one."""
    diff = (got.double() - want.double()).abs().max()
    return (diff / want.double().abs().max().clamp_min(1e-30)).item()


def worst(errors):
    """The largest error; NaN if any is NaN (``max`` would drop it)."""
    errors = list(errors)
    if any(math.isnan(e) for e in errors):
        return math.nan
    return max(errors, default=0.0)


def outputs_and_grads(fn, inputs):
    """``[fn(*inputs), d loss / d input...]`` for the loss Σ w·out with
    fixed weights w from -1 to 1 (every output element matters, with its
    own sign)."""
    out = fn(*inputs)
    weight = torch.linspace(-1, 1, out.numel(), device=out.device,
                            dtype=torch.float64)
    loss = (out.double().flatten() * weight).sum()
    return [out.detach()] + list(torch.autograd.grad(loss, inputs))


def synchronize(device):
    if device == 'cuda':
        torch.cuda.synchronize()
