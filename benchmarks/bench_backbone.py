"""A2Mamba backbone with reference vs kernel operators (not a test).

Median wall times of the backbone's forward (eval, no grad) and
forward+backward (train mode) at one input size, on the reference operators
and on the kernels the dispatch picks for the device (the C++ CPU kernels on
CPU tensors), printed as ratios measured in one run; the two runs' outputs
are compared so a fast wrong kernel cannot pass unnoticed.

    .venv/bin/python benchmarks/bench_backbone.py [--arch tiny] [--size 512]
        [--batch 1] [--reps 3] [--device cpu]
"""
import argparse
import statistics
import time

import torch

from mmmamba.models import A2Mamba
from mmmamba.ops import explain_backend, use_backend


def median_time(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    torch.manual_seed(0)
    model = A2Mamba(arch=args.arch).to(args.device)
    x = torch.randn(args.batch, 3, args.size, args.size, device=args.device)
    kernels = explain_backend('na2d_qk', x)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; '
          f'A2Mamba-{args.arch} at {args.size}², batch {args.batch}, '
          f'median of {args.reps}; kernels: {kernels.backend} '
          f'({kernels.reason})')

    def forward():
        model.eval()
        with torch.no_grad():
            return model(x)

    def forward_backward():
        model.train()
        model.zero_grad(set_to_none=True)
        sum(f.float().mean() for f in model(x)).backward()

    backends = ('reference', kernels.backend)
    outputs = {}
    for backend in backends:  # before training steps change BN statistics
        with use_backend(backend):
            outputs[backend] = forward()
    for got, want in zip(outputs[kernels.backend], outputs['reference']):
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)
    print('eval outputs of the two backends agree (rtol/atol 1e-3)')
    times = {}
    for backend in backends:
        with use_backend(backend):
            times[backend] = (median_time(forward, args.reps),
                              median_time(forward_backward, args.reps))
    for i, label in enumerate(('forward', 'forward+backward')):
        ref, kern = times['reference'][i], times[kernels.backend][i]
        print(f'  {label:<17} reference {ref:7.3f} s   {kernels.backend} '
              f'{kern:7.3f} s   x{ref / kern:5.2f}')


if __name__ == '__main__':
    main()
