"""One small launch of every kernel: each op's forward and backward, fp32
and bf16, on each named backend (item b runs this under compute-sanitizer).

    python -m gpu_acceptance.launches --device cuda --backends cuda,triton
"""
import argparse
import sys

import torch

from .cases import (OpCase, aggregate_case, na2d_cases, op_function,
                    scan_case)
from .common import outputs_and_grads, runs_on


def small_cases(device):
    """Every op once, small; the scan crosses several chunks."""
    return (na2d_cases(1, 2, 8, 13, 17, 5, (2, 3), device, seed=1)
            + [scan_case(1, 4, 2 * 1024 + 77, device, seed=2),
               aggregate_case(1, 4, 8, 10, 13, 3, (3, 2), device, seed=3)])


def launch(case: OpCase, backend, dtype):
    """The forward and backward of one case on ``backend``."""
    from mmmamba.ops import use_backend
    inputs = case.make(dtype)
    if not runs_on(backend, case.op, inputs[0]):
        raise RuntimeError(f'{backend} has no {case.op} kernel here')
    with use_backend(backend):
        outputs_and_grads(lambda *t: case.call(op_function(case.op), *t),
                          inputs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cuda')
    parser.add_argument('--backends', default='cuda,triton')
    args = parser.parse_args(argv)
    count = 0
    for backend in args.backends.split(','):
        for case in small_cases(args.device):
            for dtype in (torch.float32, torch.bfloat16):
                launch(case, backend, dtype)
                count += 1
    if args.device == 'cuda':
        torch.cuda.synchronize()
    print(f'launches: {count} op calls (forward and backward) on '
          f'{args.backends}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
