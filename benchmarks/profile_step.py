"""Where A2Mamba-T's CPU time goes, by kind of work (not a test).

Builds A2Mamba-T as ``bench_backbone.py`` does (the UperNet config's
backbone, random weights), runs two warm-up steps and profiles one with
``torch.profiler``; prints the self CPU time of every op grouped into the
parts below, with its share of the step:

    .venv/bin/python benchmarks/profile_step.py [--kind train|forward]
        [--size 512] [--batch 1] [--top 0]

``--top N`` also lists the N ops of most self time with their part. The
profiler adds a few percent; a part's share is what to compare between two
trees, not the total against an unprofiled timing.
"""
import argparse
import collections
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backbone import build, cpu_model, step_fn  # noqa: E402

# (part, op-name fragments), first match wins; an op matching none is 'other'
PARTS = (
    ('depthwise convolutions (mmmamba kernel), fwd + bwd', ('DepthwiseConv2d',
                                                           'depthwise_conv')),
    ('other convolutions (oneDNN: 1×1, stem, downsampling), fwd + bwd',
     ('convolution', 'Convolution')),
    ('neighbourhood attention + aggregation kernels', ('na2d_', 'a2ssm_agg')),
    ('selective scan kernel', ('selective_scan', )),
    ('matmuls (RoPE, global attention, head mix, projections)',
     ('mm', 'matmul', 'linear', 'Mm', 'einsum')),
    ('normalisation and softmax', ('norm', 'softmax', 'Norm', 'Softmax')),
    ('layout copies, concatenations, zero fills',
     ('copy_', 'to_copy', 'cat', 'clone', 'fill_', 'zero_', 'slice_backward', 'contiguous',
      'Cat', 'stack', 'flip', 'constant_pad')),
    ('elementwise (sums, products, activations)',
     ('add', 'mul', 'sub', 'div', 'neg', 'gelu', 'silu', 'exp', 'Add', 'Mul',
      'Gelu', 'Silu', 'where', 'sum', 'pow', 'sigmoid')),
)


def part_of(name):
    for part, fragments in PARTS:
        if any(f in name for f in fragments):
            return part
    return 'other'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kind', choices=('train', 'forward'),
                        default='train')
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--top', type=int, default=0,
                        help='also list the N ops of most self time')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model = build('a2mamba', False)
    x = torch.randn(args.batch, 3, args.size, args.size)
    step = step_fn(model, x, args.kind)
    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    ops = [(e.key, e.self_cpu_time_total / 1e3) for e in prof.key_averages()]
    total = sum(ms for _, ms in ops)
    parts = collections.Counter()
    for name, ms in ops:
        parts[part_of(name)] += ms
    print(f'{cpu_model()}; torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads; A2Mamba-T {args.kind} step '
          f'{args.size}² b{args.batch}: {total:.0f} ms of self CPU time')
    print('| part | ms | share |\n|---|---:|---:|')
    for part, ms in parts.most_common():
        print(f'| {part} | {ms:.0f} | {ms / total:.0%} |')
    for name, ms in sorted(ops, key=lambda op: -op[1])[:args.top]:
        print(f'{ms:8.1f} ms  {name}  [{part_of(name)}]')


if __name__ == '__main__':
    main()
