"""``from mmmamba import ops`` with torch alone: nothing of OpenMMLab and no
Triton importable, every op on the C++ kernels, each matching its
reference. Prints its report entry as one JSON line (tools/gpu_check.sh
--cpu runs it in the rehearsal's venv before the bundle joins it).

    python -m gpu_acceptance.torch_only
"""
import importlib.util
import json
import sys
import time

import torch

from .common import relative_error, worst

ABSENT = ('mmengine', 'mmcv', 'mmdet', 'mmseg', 'triton')
TOLERANCE = 1e-4  # fp32


def check():
    """``(status, summary)`` of the torch-only check."""
    present = [m for m in ABSENT if importlib.util.find_spec(m)]
    if present:
        return 'FAIL', f'not a torch-only environment: {present} import'
    from mmmamba.ops import explain_backend, use_backend

    from .cases import op_function
    from .common import outputs_and_grads
    from .launches import small_cases
    errors = {}
    for case in small_cases('cpu'):
        inputs = case.make(torch.float32)
        choice = explain_backend(case.op, inputs[0])
        if choice.backend != 'cpu':
            return 'FAIL', f'{case.op} runs {choice.backend}: {choice.reason}'
        got = outputs_and_grads(lambda *t: case.call(op_function(case.op),
                                                      *t), inputs)
        with use_backend('reference'):
            want = outputs_and_grads(lambda *t: case.call(
                op_function(case.op, reference=True), *t), inputs)
        errors[case.op] = worst(relative_error(g, w)
                                for g, w in zip(got, want))
    loaded = [m for m in ABSENT if m in sys.modules]
    if loaded:
        return 'FAIL', f'importing mmmamba.ops loaded {loaded}'
    largest = worst(errors.values())
    if not largest <= TOLERANCE:
        return 'FAIL', f'C++ kernels differ from the reference: {errors}'
    return 'PASS', (f'torch {torch.__version__} alone: {len(errors)} ops on '
                    f'the C++ kernels, largest error {largest:.1e}')


def main():
    start = time.perf_counter()
    try:
        status, summary = check()
    except Exception as error:  # noqa: BLE001  (reported as the result)
        status, summary = 'FAIL', f'{type(error).__name__}: {error}'
    print(json.dumps(dict(status=status, summary=summary,
                          seconds=time.perf_counter() - start, details=None)))
    return int(status != 'PASS')


if __name__ == '__main__':
    sys.exit(main())
