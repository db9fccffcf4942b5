"""Item a: every op's output and every gradient on each kernel backend
against the reference run in float64 on the same (rounded) inputs."""
import torch

from .cases import op_cases, op_function
from .common import (DTYPES, ItemResult, kernel_backends, outputs_and_grads,
                     relative_error, runs_on, worst)

# max |Δ| / max |float64 reference|, per output or gradient, by input dtype
TOLERANCE = {torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 3e-2}


def _dtype_name(dtype):
    return str(dtype).replace('torch.', '')


def case_errors(case, backends, dtype):
    """``{backend: worst relative error}`` of one case in one dtype (None:
    the backend has no kernel for the op)."""
    inputs = case.make(dtype)
    truth = outputs_and_grads(
        lambda *t: case.call(op_function(case.op, reference=True), *t),
        [t.detach().double().requires_grad_() for t in inputs])
    from mmmamba.ops import use_backend
    fn = op_function(case.op)
    errors = {}
    for backend in backends:
        if not runs_on(backend, case.op, inputs[0]):
            errors[backend] = None
            continue
        with use_backend(backend):
            got = outputs_and_grads(lambda *t: case.call(fn, *t), inputs)
        errors[backend] = worst(relative_error(g, w)
                                for g, w in zip(got, truth))
    return errors


def check_ops(profile, device):
    """Item a over every case of ``profile``; FAIL when any error exceeds
    its dtype's tolerance (or is NaN)."""
    backends = kernel_backends(device)
    rows, failures = [], []
    largest = {(b, d): 0.0 for b in backends for d in DTYPES}
    for case in op_cases(profile, device):
        for dtype in DTYPES:
            errors = case_errors(case, backends, dtype)
            rows.append(dict(op=case.op, shape=case.label,
                             dtype=_dtype_name(dtype), errors=errors))
            for backend, error in errors.items():
                if error is None:
                    continue
                largest[backend, dtype] = worst([largest[backend, dtype],
                                                 error])
                if not error <= TOLERANCE[dtype]:
                    failures.append(f'{backend} {case.op} {case.label} '
                                    f'{_dtype_name(dtype)}: {error:.2e}')
        if device == 'cuda':
            torch.cuda.empty_cache()
    failures += [f'{b} ran none of the calls (not built?)' for b in backends
                 if all(row['errors'][b] is None for row in rows)]
    figures = '; '.join(
        f'{b} ' + ', '.join(f'{_dtype_name(d)} {largest[b, d]:.1e}'
                            for d in DTYPES) for b in backends)
    details = dict(rows=rows, tolerance={_dtype_name(d): t
                                         for d, t in TOLERANCE.items()},
                   failures=failures)
    if failures:
        return ItemResult('FAIL', f'{len(failures)} of {len(rows)} calls '
                          f'over tolerance, e.g. {failures[0]}', details)
    return ItemResult('PASS', f'{len(rows)} calls × {len(backends)} backends,'
                      f' largest error {figures}', details)
