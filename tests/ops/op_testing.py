"""What the op tests share: the kernel backends of this machine, one
tolerance table, random inputs, the weighted-gradient loss and the archs'
stage shapes.

Kernel backends: ``cpu`` and ``cuda_host`` (the CUDA kernels over the host
emulation) run CPU tensors; ``triton`` runs CPU tensors in the interpreter
(see tests/conftest.py), or CUDA tensors on a GPU, where ``cuda`` runs
too. No skip when an extension is missing: CI builds both
(tools/setup_env.sh), and forcing a missing backend fails with the command
that builds it.
"""
import torch

from mmmamba.ops import use_backend

GPU = torch.cuda.is_available()
KERNEL_BACKENDS = ('cpu', 'cuda_host', 'triton') + (('cuda', ) if GPU else ())
# the compiled backends that run the large cases (the others are slow)
COMPILED_BACKENDS = ('cpu', ) + (('cuda', ) if GPU else ())
LOW_PRECISION = (torch.float16, torch.bfloat16)

# Relative tolerance of a kernel against the reference run on the same
# inputs; the absolute one is the same fraction of the largest |value|
# (at least of 1), see assert_close.
TOLERANCE = {
    torch.float64: 1e-10,
    torch.float32: 1e-4,
    torch.float16: 1e-2,
    torch.bfloat16: 3e-2,
}


def assert_close(got, want, name='', precision=None):
    """Same shape and dtype, values within ``TOLERANCE[precision]`` (default:
    ``want``'s dtype), relative to each value and to the tensor's scale."""
    assert got.shape == want.shape, name
    assert got.dtype == want.dtype, name
    rtol = TOLERANCE[precision or want.dtype]
    wide = torch.float64 in (got.dtype, want.dtype)
    got, want = (t.to(torch.float64 if wide else torch.float32)
                 for t in (got, want))
    scale = max(1.0, want.abs().max().item()) if want.numel() else 1.0
    # the check itself; torch.testing.assert_close (slower) words a failure
    if not ((got - want).abs() <= rtol * (scale + want.abs())).all():
        torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * scale,
                                   msg=name or None)


def device_of(backend):
    """The device whose tensors ``backend`` runs on this machine."""
    return 'cuda' if backend == 'cuda' or (backend == 'triton' and GPU) \
        else 'cpu'


def randn(*shape, seed=None, gen=None, dtype=torch.float32, order=None,
          device='cpu'):
    """A float64 normal sample cast to ``dtype`` on ``device`` (from
    ``gen``, or a generator seeded with ``seed``); with ``order`` (a
    permutation of the dims) a non-contiguous view stored in that order."""
    gen = gen or gen_for(seed or 0)
    order = order or tuple(range(len(shape)))
    stored = [shape[d] for d in order]
    inverse = [order.index(d) for d in range(len(shape))]
    sample = torch.randn(*stored, generator=gen, dtype=torch.float64)
    return sample.to(device, dtype).permute(*inverse)


def leaves(tensors, dtype=None, device=None):
    """Detached copies (in ``dtype`` / on ``device`` if given) that require
    grad; None stays None."""
    return [None if t is None else
            t.detach().to(device or t.device, dtype or t.dtype)
            .requires_grad_() for t in tensors]


def weighted_loss(out):
    """``Σ w · out`` with a fixed weight from -1 to 1 over the elements, so
    every input gradient is non-trivial (a plain sum gives a uniform
    dL/dout), in float64."""
    weight = torch.linspace(-1, 1, out.numel(), dtype=torch.float64,
                            device=out.device).view(out.shape)
    return (out.double() * weight).sum()


def outputs_and_grads(backend, fn, inputs):
    """``(out, *grads)``: ``fn(*inputs)`` under ``backend`` and the gradient
    of :func:`weighted_loss` w.r.t. every tensor input (None stays None;
    an unused input gets zeros)."""
    with use_backend(backend):
        out = fn(*inputs)
    present = [t for t in inputs if t is not None]
    grads = iter(torch.autograd.grad(weighted_loss(out), present,
                                     allow_unused=True,
                                     materialize_grads=True))
    return (out, ) + tuple(None if t is None else next(grads)
                           for t in inputs)


def check_backend(backend, fn, tensors, names):
    """``fn`` on ``backend`` against the reference, on the same inputs (on
    the backend's device): output and every gradient (``names``, in that
    order), shapes, dtypes and values. Returns the backend's results."""
    device = device_of(backend)
    got = outputs_and_grads(backend, fn, leaves(tensors, device=device))
    want = outputs_and_grads('reference', fn, leaves(tensors, device=device))
    for name, g, w in zip(names, got, want):
        if w is None:
            assert g is None, name
        else:
            assert_close(g, w.detach(), f'{backend} {name}')
    return got


def reference_grads(fn, inputs, grad):
    """``(out, grads)`` of ``fn(*inputs)`` by autograd for the output
    gradient ``grad`` (what a kernel's backward is given); None inputs
    get None."""
    inputs = leaves(inputs)
    out = fn(*inputs)
    present = [t for t in inputs if t is not None]
    grads = iter(torch.autograd.grad(out, present, grad, allow_unused=True,
                                     materialize_grads=True))
    return out.detach(), [None if t is None else next(grads) for t in inputs]


def gen_for(seed):
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- inputs
def na_inputs(batch, heads, height, width, dim, kernel, dtype=torch.float32,
              seed=0):
    """``(q, k, v, rpb)`` of neighborhood attention with window ``kernel``
    (int or pair)."""
    gen = gen_for(seed)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    shape = (batch, heads, height, width, dim)
    q, k, v = (randn(*shape, gen=gen, dtype=dtype) for _ in range(3))
    rpb = randn(heads, 2 * kh - 1, 2 * kw - 1, gen=gen, dtype=dtype)
    return q, k, v, rpb


def scan_inputs(batch, channels, state, length, dtype=torch.float32, seed=0,
                group_dim=False, strided=False, device='cpu'):
    """``(u, delta, A, B, delta_bias)`` of the scan: steps around
    softplus(-1), decays ``A`` in ``[-2.1, -0.1]``; ``group_dim``: B as
    ``batch × 1 × N × L``; ``strided``: u, delta and B non-contiguous."""
    gen = gen_for(seed)
    order = (0, 2, 1) if strided else None  # batch, L, D in memory
    u = randn(batch, channels, length, gen=gen, dtype=dtype, order=order,
              device=device)
    delta = randn(batch, channels, length, gen=gen, dtype=dtype, order=order,
                  device=device) * 0.5 - 1
    A = (-torch.rand(channels, state, generator=gen, dtype=torch.float64) *
         2 - 0.1).to(device, dtype)
    B = randn(batch, 1, state, length, gen=gen, dtype=dtype,
              order=(0, 1, 3, 2) if strided else None, device=device)
    B = B if group_dim else B[:, 0]
    bias = randn(channels, gen=gen, dtype=dtype, device=device) * 0.5
    return u, delta, A, B, bias


def aggregate_inputs(batch, heads, dim, height, width, padded_h, padded_w,
                     kernel, dtype=torch.float32, seed=0):
    """``(attn_local, attn_dilated, states)``: softmax maps
    ``B × G/2 × Hp × Wp × K²`` and states ``B × G × d × H × W``."""
    gen = gen_for(seed)
    maps = [randn(batch, heads // 2, padded_h, padded_w, kernel * kernel,
                  gen=gen).softmax(-1).to(dtype) for _ in range(2)]
    states = randn(batch, heads, dim, height, width, gen=gen, dtype=dtype)
    return maps + [states]


def depthwise_inputs(batch, channels, height, width, kernel,
                     dtype=torch.float32, seed=0, bias=True):
    """``(x, weight, bias)`` of the depthwise convolution: ``x`` channels-last
    ``B × C × H × W``, ``weight`` ``C × 1 × K × K``, ``bias`` ``C`` (or
    None)."""
    gen = gen_for(seed)
    x = randn(batch, channels, height, width, gen=gen, dtype=dtype,
              order=(0, 2, 3, 1))
    weight = randn(channels, 1, kernel, kernel, gen=gen, dtype=dtype) / kernel
    return [x, weight,
            randn(channels, gen=gen, dtype=dtype) if bias else None]


# ----------------------------------------------------------- stage shapes
ARCHS = ('nano', 'tiny', 'small', 'base', 'large')
INPUT_SIZES = (224, 512)


def stage_cases(archs=ARCHS, input_sizes=INPUT_SIZES):
    """Sorted unique ``(size, channels, heads, kernel, dilation, a2ssm)`` of
    the archs' stages (``mmmamba.models.backbones.stage_shapes``, which
    imports the models: OpenMMLab)."""
    from mmmamba.models.backbones.stage_shapes import stage_shapes
    return sorted({shape[1:] for arch in archs for image in input_sizes
                   for shape in stage_shapes(arch, image)})


def depthwise_stage_cases(arch='tiny'):
    """``(batch, size, channels, kernel, residual)`` of ``arch``'s depthwise
    convolutions (``stage_shapes.depthwise_shapes``: the 3×3 positional
    encodings on C and FFN convolution on its hidden width, residual; the
    5×5 on C) at 512² (batch 1) and 224² (batch 8)."""
    from mmmamba.models.backbones.stage_shapes import depthwise_shapes
    return [(batch, s.size, s.channels, s.kernel, s.residual)
            for batch, image in ((1, 512), (8, 224))
            for s in depthwise_shapes(arch, image)]


def neighborhood_stage_cases():
    """Unique ``(size, head_dim, kernel, dilation)`` of the archs' attention
    calls (local: dilation 1, dilated: the stage's; maps smaller than the
    window are padded by the mixer, so not called at their size)."""
    cases = set()
    for size, channels, heads, kernel, dilation, _ in stage_cases():
        for dil in {1, dilation}:
            if size >= kernel * dil:
                cases.add((size, channels // heads, kernel, dil))
    return sorted(cases)
