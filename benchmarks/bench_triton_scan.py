"""Triton selective scan at A2Mamba-T stage 1 shapes (not a test).

Median times of the ``triton`` backend's forward and forward + backward at
batch 2, D = 48, N = 1 and L = 128² (a 512×512 input) and 200·336
(800×1344), the forward's bandwidth by the bytes it must move (u, delta
and B read twice, h written once: see
``mmmamba/ops/selective_scan/triton.py``), and the largest
difference of the states from the reference (fp32) as a sanity check.

    .venv/bin/python benchmarks/bench_triton_scan.py [--reps 20]

It is meant for a CUDA GPU; without one it runs in the Triton interpreter
on CPU tensors, which only suits tiny lengths (a smoke run):

    TRITON_INTERPRET=1 .venv/bin/python benchmarks/bench_triton_scan.py \\
        --lengths 300 --reps 1
"""
import argparse

import torch

from mmmamba.devtools import median_seconds
from mmmamba.ops import selective_scan_states, use_backend

LENGTHS = (128 * 128, 200 * 336)  # stage 1 of 512×512 and of 800×1344


def inputs(batch, channels, length, device, dtype):
    """Scan inputs of A2Mamba's scale (N = 1, decays near 1), as leaves."""
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(batch, channels, length, generator=gen)
    delta = torch.randn(batch, channels, length, generator=gen) - 4
    A = -torch.rand(channels, 1, generator=gen)
    B = torch.randn(batch, 1, length, generator=gen)
    bias = torch.randn(channels, generator=gen) * 0.1
    return [t.to(device, dtype).requires_grad_()
            for t in (u, delta, A, B, bias)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--lengths', type=int, nargs='+', default=LENGTHS)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--channels', type=int, default=48)
    parser.add_argument('--dtype', default='float32',
                        choices=('float32', 'float16', 'bfloat16'))
    parser.add_argument('--reps', type=int, default=20)
    args = parser.parse_args()
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dtype = getattr(torch, args.dtype)
    print(f'device {device}, batch {args.batch}, D {args.channels}, N 1, '
          f'{args.dtype} inputs')
    print(f'{"L":>8} {"fwd ms":>9} {"fwd GB/s":>9} {"fwd+bwd ms":>11} '
          f'{"max |h - ref|":>14}')
    for length in args.lengths:
        leaves = inputs(args.batch, args.channels, length, device, dtype)
        u, delta, _, B, _ = leaves

        def forward():
            with use_backend('triton'):
                return selective_scan_states(*leaves)

        def forward_backward():
            h = forward()
            torch.autograd.grad(h.sum(), leaves)

        fwd = median_seconds(lambda: forward().detach(), args.reps,
                             device=device)
        both = median_seconds(forward_backward, args.reps, device=device)
        h = forward().detach()
        moved = 2 * (u.nbytes + delta.nbytes + B.nbytes) + h.nbytes
        with use_backend('reference'):
            want = selective_scan_states(*leaves).detach()
        error = (h - want).abs().max().item()
        print(f'{length:>8} {fwd * 1e3:>9.3f} {moved / fwd / 1e9:>9.1f} '
              f'{both * 1e3:>11.3f} {error:>14.2e}')


if __name__ == '__main__':
    main()
