"""The depthwise-convolution kernel (``mmmamba.ops.depthwise_conv2d``, cpu
backend) against ``nn.Conv2d`` (oneDNN), both channels-last (not a test).

Per A2Mamba stage shape of each use (the 3×3 positional encodings on C and
FFN convolution on the hidden width, both with the residual ``x + conv(x)``
as the block uses them; the 5×5 ``lepe`` / A2SSM convolution on C), at 512²
with batch 1 and 224² with batch 8: median wall times of the forward (no
autograd) and of forward + backward (input, weight and bias gradients),
measured in alternation in one run, printed with the ratio kernel / conv
(below 1: the kernel is faster). Closes with each use's worst ratio over
its shapes: a use keeps the kernel only where it wins at every shape.

    .venv/bin/python benchmarks/bench_depthwise.py [--arch tiny] [--reps 7]
"""
import argparse
import statistics

import torch
import torch.nn as nn

from mmmamba.devtools import time_reps
from mmmamba.models.backbones.stage_shapes import depthwise_shapes
from mmmamba.ops import depthwise_conv2d, explain_backend, use_backend

SETTINGS = ((1, 512), (8, 224))  # (batch, input size)


def workloads(batch, shape):
    """``{(pass, impl): fn}`` for one shape: conv / kernel × fwd / fwd+bwd."""
    C, K, size = shape.channels, shape.kernel, shape.size
    gen = torch.Generator().manual_seed(size + C)
    conv = nn.Conv2d(C, C, K, padding=K // 2, groups=C).to(
        memory_format=torch.channels_last)
    x = torch.randn(batch, C, size, size, generator=gen).contiguous(
        memory_format=torch.channels_last).requires_grad_()
    grad = torch.randn(batch, C, size, size, generator=gen).contiguous(
        memory_format=torch.channels_last)

    def by_conv():
        out = conv(x)
        return out.add_(x) if shape.residual else out  # the block's sums

    def by_kernel():
        return depthwise_conv2d(x, conv.weight, conv.bias, shape.residual)

    def forward(fn):
        def run():
            with torch.no_grad():
                fn()
        return run

    def forward_backward(fn):
        def run():
            fn().backward(grad)
        return run

    return {('fwd', 'conv'): forward(by_conv),
            ('fwd', 'kernel'): forward(by_kernel),
            ('fwd+bwd', 'conv'): forward_backward(by_conv),
            ('fwd+bwd', 'kernel'): forward_backward(by_kernel)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--reps', type=int, default=7)
    args = parser.parse_args()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; '
          f'kernel: {explain_backend("depthwise_conv2d", torch.zeros(1)).reason}')
    print(f'{"use":<4} {"B":>2} {"map":>7} {"C":>5} {"K":>2}   '
          f'{"fwd conv":>9} {"kernel":>8} {"ratio":>6}   '
          f'{"f+b conv":>9} {"kernel":>8} {"ratio":>6}   (ms)')
    worst = {}
    for batch, image in SETTINGS:
        for shape in depthwise_shapes(args.arch, image):
            fns = workloads(batch, shape)
            with use_backend('cpu'):
                times = dict(zip(fns, time_reps(list(fns.values()),
                                                args.reps)))
            med = {key: statistics.median(t) for key, t in times.items()}
            cells = []
            for pass_ in ('fwd', 'fwd+bwd'):
                ratio = med[pass_, 'kernel'] / med[pass_, 'conv']
                key = (shape.use, pass_)
                worst[key] = max(worst.get(key, 0.0), ratio)
                cells.append(f'{med[pass_, "conv"] * 1e3:9.3f} '
                             f'{med[pass_, "kernel"] * 1e3:8.3f} '
                             f'{ratio:6.2f}')
            print(f'{shape.use:<4} {batch:>2} {shape.size:>3}x{shape.size:<3} '
                  f'{shape.channels:>5} {shape.kernel:>2}   ' +
                  '   '.join(cells), flush=True)
    print('worst ratio over the shapes (kernel / conv):')
    for (use, pass_), ratio in sorted(worst.items()):
        print(f'  {use:<4} {pass_:<8} {ratio:5.2f}')


if __name__ == '__main__':
    main()
