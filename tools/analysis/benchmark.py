"""Inference throughput (images/s) of a config's model forward.

    python tools/analysis/benchmark.py CONFIG [--shape H W] [--batch N]
        [--iters N] [--warmup N] [--device cuda|cpu] [--amp]

Runs random inputs through the model in eval mode under ``torch.no_grad``
(``model(inputs, mode='tensor')``, or ``extract_feat`` for models whose
tensor mode needs data samples, e.g. two-stage detectors): no data set and
no data preprocessor. Prints the device, the operator backend
(``mmmamba.ops.explain_backend``) and images/s.
"""
import argparse
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from get_flops import build_from_config, model_forward  # noqa: E402

from _errors import run_tool  # noqa: E402  (tools/ is on the path now)


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def benchmark(model, shape, batch=1, iters=10, warmup=2, device='cpu',
              amp=False):
    """Return ``(images_per_second, forward_note)``."""
    device = torch.device(device)
    model = model.to(device).eval()
    x = torch.randn(batch, 3, *shape, device=device)
    forward = model_forward(model)
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    with torch.no_grad(), torch.autocast(device.type, dtype=dtype,
                                         enabled=amp):
        for _ in range(warmup):
            forward(x)
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            forward(x)
        _sync(device)
        elapsed = time.perf_counter() - start
    return batch * iters / elapsed, getattr(forward, 'note', None)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='mmdet/mmseg config')
    parser.add_argument('--shape', type=int, nargs=2, default=(512, 512),
                        metavar=('H', 'W'), help='input size (512 512)')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--device', default=None,
                        help='default: cuda if available, else cpu')
    parser.add_argument('--amp', action='store_true',
                        help='autocast (fp16 on CUDA, bf16 on CPU)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = torch.device(args.device or (
        'cuda' if torch.cuda.is_available() else 'cpu'))
    model, _ = build_from_config(args.config)
    name = (torch.cuda.get_device_name(device) if device.type == 'cuda'
            else f'cpu ({torch.get_num_threads()} threads)')
    print(f'device: {device} {name}')
    from mmmamba.ops.report import describe_backends
    for line in describe_backends(device):
        print(f'backend: {line}')
    ips, note = benchmark(model, tuple(args.shape), args.batch, args.iters,
                          args.warmup, device, args.amp)
    print(f'forward: {note or "model(inputs, mode=tensor)"}')
    print(f'input: {args.batch}x3x{args.shape[0]}x{args.shape[1]}, '
          f'{args.iters} iters after {args.warmup} warmup'
          f'{", amp" if args.amp else ""}')
    print(f'images/s: {ips:.2f}')
    return ips


if __name__ == '__main__':
    sys.exit(run_tool(main))
