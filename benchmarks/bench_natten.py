"""NATTEN 0.17.5's CPU kernels vs mmmamba's C++ CPU backend (not a test).

Checks outputs and all gradients of ``natten.functional.na2d_qk`` (with rpb)
and ``natten.functional.na2d_av`` against ``mmmamba.ops`` forced to the
``cpu`` backend (fp32, assert_close rtol=atol=1e-4), then prints median
forward and forward+backward times and the ratio natten / mmmamba per
shape, and summed. Shapes: A2Mamba-T at a 512² input, batch 1, stage maps
128²/64²/32²/16², head dim 24/24/32/28, kernel 11/9/7/7, dilation 1 and
min(size // K, K); heads per call 1/2/2/2 by default (``--heads`` overrides
for all stages). The two libraries are timed in alternation, rep by rep.

NATTEN has no wheel for torch 2.13; it was built from the sdist, CPU only,
into its own venv (so /work/main/.venv stays untouched), then unpacked into a
plain directory that the project venv reads through PYTHONPATH (same torch
2.13.0+cpu, so no second copy of mmcv/mmdet/mmseg is needed):

    /work/main/.venv/bin/python -m venv /tmp/natten_venv
    /tmp/natten_venv/bin/pip install torch==2.13.0 packaging
    cd natten-0.17.5 && CMAKE_BUILD_TYPE=Release NATTEN_N_WORKERS=2 \\
        NATTEN_CUDA_ARCH="" NATTEN_WITH_CUDA=0 nice -n 19 \\
        /tmp/natten_venv/bin/pip wheel --no-build-isolation --no-deps . \\
        -w /tmp/natten_wheel
    /tmp/natten_venv/bin/pip install --no-deps --target /tmp/natten_site \\
        /tmp/natten_wheel/natten-0.17.5-cp311-cp311-linux_x86_64.whl

(CMAKE_BUILD_TYPE=Release matters: NATTEN's setup.py sets no build type on
Linux, and without it CMake compiles with no -O flag at all.) Run:

    PYTHONPATH=/tmp/natten_site nice -n 19 .venv/bin/python \\
        benchmarks/bench_natten.py [--reps 5] [--heads N]

Two import-time shims are applied below, both needed only because NATTEN
0.17.5 predates torch 2.13 / assumes a CUDA torch: ``torch.cuda._device_t``
(a type alias removed from torch) is re-added, and
``torch.cuda.get_device_capability`` answers (0, 0) while ``natten`` is
imported (natten.utils.testing calls it at import time, which raises on a
CPU-only torch). Neither touches the kernels.
"""
import argparse
import statistics
import typing

import torch
import torch.cuda

if not hasattr(torch.cuda, '_device_t'):
    torch.cuda._device_t = typing.Union[torch.device, str, int, None]
_get_cc = torch.cuda.get_device_capability
torch.cuda.get_device_capability = lambda device=None: (0, 0)
try:
    import natten
    from natten.functional import na2d_av as nat_av
    from natten.functional import na2d_qk as nat_qk
finally:
    torch.cuda.get_device_capability = _get_cc

from mmmamba.devtools import time_reps  # noqa: E402
from mmmamba.ops import na2d_av as mm_av  # noqa: E402
from mmmamba.ops import na2d_qk as mm_qk  # noqa: E402
from mmmamba.ops import use_backend  # noqa: E402

# (name, H=W, head dim, kernel, default heads)
STAGES = [('stage1', 128, 24, 11, 1), ('stage2', 64, 24, 9, 2),
          ('stage3', 32, 32, 7, 2), ('stage4', 16, 28, 7, 2)]
TOL = dict(rtol=1e-4, atol=1e-4)


def grads(fn, inputs, grad_out):
    for t in inputs:
        t.grad = None
    out = fn()
    out.backward(grad_out)
    return out.detach(), [t.grad.clone() for t in inputs]


def check(label, nat_fn, mm_fn, inputs, out_shape, gen):
    grad_out = torch.randn(*out_shape, generator=gen)
    out_n, g_n = grads(nat_fn, inputs, grad_out)
    out_m, g_m = grads(mm_fn, inputs, grad_out)
    torch.testing.assert_close(out_n, out_m, **TOL, msg=lambda m: f'{label} out: {m}')
    worst = (out_n - out_m).abs().max().item()
    for i, (a, b) in enumerate(zip(g_n, g_m)):
        # rpb's gradient sums over H*W positions: compare relative to its scale
        scale = max(1.0, b.abs().max().item())
        torch.testing.assert_close(a / scale, b / scale, **TOL,
                                   msg=lambda m: f'{label} grad {i}: {m}')
        worst = max(worst, (a - b).abs().max().item() / scale)
    return worst


def timed(fns, reps):
    """Median time of each fn, run in alternation after one warm-up each."""
    return [statistics.median(ts) for ts in time_reps(fns, reps)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--heads', type=int, default=None)
    args = parser.parse_args()
    print(f'natten {natten.__version__} (cuda: {natten.has_cuda()}), '
          f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'reps {args.reps}; times in ms, ratio = natten / mmmamba')
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=gen).requires_grad_()

    header = (f'{"shape":<28}{"op":<9}{"max|diff|":>10}'
              f'{"nat fwd":>10}{"mm fwd":>9}{"ratio":>7}'
              f'{"nat f+b":>10}{"mm f+b":>9}{"ratio":>7}')
    print(header)
    print('-' * len(header))
    sums = {}
    with use_backend('cpu'):
        for name, size, dim, k, heads in STAGES:
            h = args.heads or heads
            for dil in sorted({1, min(size // k, k)}):
                tag = f'{name} {size}² h{h}x{dim} K{k} d{dil}'
                q, key, v = (rand(1, h, size, size, dim) for _ in range(3))
                rpb = rand(h, 2 * k - 1, 2 * k - 1)
                attn = rand(1, h, size, size, k * k)
                ops = {
                    'na2d_qk': ((lambda: nat_qk(q, key, k, dil, rpb=rpb)),
                                (lambda: mm_qk(q, key, k, dil, rpb=rpb)),
                                [q, key, rpb], (1, h, size, size, k * k)),
                    'na2d_av': ((lambda: nat_av(attn, v, k, dil)),
                                (lambda: mm_av(attn, v, k, dil)),
                                [attn, v], (1, h, size, size, dim)),
                }
                for op, (nat_fn, mm_fn, inputs, shape) in ops.items():
                    worst = check(f'{tag} {op}', nat_fn, mm_fn, inputs, shape,
                                  gen)

                    def fwd(fn):
                        def run():
                            with torch.no_grad():
                                fn()
                        return run

                    def fwd_bwd(fn):
                        def run():
                            for t in inputs:
                                t.grad = None
                            fn().sum().backward()
                        return run

                    nf, mf = timed([fwd(nat_fn), fwd(mm_fn)], args.reps)
                    nb, mb = timed([fwd_bwd(nat_fn), fwd_bwd(mm_fn)],
                                   args.reps)
                    for key_, val in (((op, 'nf'), nf), ((op, 'mf'), mf),
                                      ((op, 'nb'), nb), ((op, 'mb'), mb)):
                        sums[key_] = sums.get(key_, 0.0) + val
                    print(f'{tag:<28}{op:<9}{worst:>10.1e}'
                          f'{nf * 1e3:>10.2f}{mf * 1e3:>9.2f}{nf / mf:>7.2f}'
                          f'{nb * 1e3:>10.2f}{mb * 1e3:>9.2f}{nb / mb:>7.2f}')
    print('-' * len(header))
    total = {c: 0.0 for c in ('nf', 'mf', 'nb', 'mb')}
    for op in ('na2d_qk', 'na2d_av'):
        s = {c: sums[(op, c)] for c in total}
        for c in total:
            total[c] += s[c]
        print(f'{"sum":<28}{op:<9}{"":>10}'
              f'{s["nf"] * 1e3:>10.2f}{s["mf"] * 1e3:>9.2f}'
              f'{s["nf"] / s["mf"]:>7.2f}{s["nb"] * 1e3:>10.2f}'
              f'{s["mb"] * 1e3:>9.2f}{s["nb"] / s["mb"]:>7.2f}')
    print(f'{"sum":<28}{"both":<9}{"":>10}'
          f'{total["nf"] * 1e3:>10.2f}{total["mf"] * 1e3:>9.2f}'
          f'{total["nf"] / total["mf"]:>7.2f}{total["nb"] * 1e3:>10.2f}'
          f'{total["mb"] * 1e3:>9.2f}{total["nb"] / total["mb"]:>7.2f}')
    print('all outputs and gradients match (rtol=atol=1e-4; gradients '
          'scaled by max(1, max|mmmamba grad|))')


if __name__ == '__main__':
    main()
