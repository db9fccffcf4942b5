"""Helpers of the benchmarks, the tests and the deployment check: timing
callables and loading scripts as modules.

Imports the standard library and torch only (nothing of OpenMMLab), so that
the benchmarks and the GPU check can use it in an environment that holds
torch alone.
"""
import importlib.util
import os.path as osp
import statistics
import time

import torch


def time_reps(fns, reps, warmup=1, device=None):
    """Wall seconds of each of ``fns`` in each of ``reps`` rounds.

    Every callable is first called ``warmup`` times; then each round calls
    them once each, in order (in alternation, so that a change in the
    machine's speed during the run hits all of them alike). On a CUDA
    ``device`` each timed call is bracketed by ``torch.cuda.synchronize``.

    Returns:
        One list of ``reps`` seconds per callable.
    """
    cuda = device is not None and torch.device(device).type == 'cuda'
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(reps):
        for fn, seconds in zip(fns, times):
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if cuda:
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - start)
    return times


def time_blocks(fns, reps, warmup=1):
    """Wall seconds of each of ``fns`` over ``reps`` timed calls, taken in
    blocks: two rounds (the second in reverse order), in which each callable
    runs ``warmup`` untimed calls and then half its timed calls in a row.

    For runtimes that tax whatever runs right after them: onnxruntime's
    worker threads spin on after a run, and two models evict each other's
    weights from the caches, so in strict alternation (:func:`time_reps`)
    PyTorch measured up to 10% slower after each onnxruntime run than in a
    row. Each callable is timed in its steady state here, while a drift of
    the machine's speed still reaches both rounds.

    Returns:
        One list of ``reps`` seconds per callable.
    """
    times = [[] for _ in fns]
    halves = (reps - reps // 2, reps // 2)
    for order, count in zip((list(range(len(fns))),
                             list(range(len(fns)))[::-1]), halves):
        for i in order:
            for _ in range(warmup if count else 0):
                fns[i]()
            for _ in range(count):
                start = time.perf_counter()
                fns[i]()
                times[i].append(time.perf_counter() - start)
    return times


def median_seconds(fn, reps, warmup=1, device=None):
    """Median wall seconds of ``fn()`` over ``reps`` calls after ``warmup``
    (see :func:`time_reps`)."""
    return statistics.median(time_reps([fn], reps, warmup, device)[0])


def load_script(path, name=None):
    """Import the Python file ``path`` as a module (for scripts outside any
    package, such as tools/train.py or setup.py) and return it.

    ``name`` is the module's name (default: the file's stem); the module is
    not added to ``sys.modules``.
    """
    name = name or osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        raise ImportError(f'{path} is not a Python file that can be loaded')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
