"""Where onnxruntime spends its time on an exported file (not a test).

Runs an ``.onnx`` file written by ``tools/deploy/export_onnx.py`` with
onnxruntime's CPU provider (torch's thread count, every graph optimisation)
and its profiler on, and prints the kernel time per run aggregated two ways:

* by op type (``MatMul``, ``Gather``, ...), with the node count;
* by module and op type: the node's scope with the block indices dropped
  (``stages.N/blocks.N/mixer``, ``.../mixer/a2ssm``) and its op type, so
  that the neighbourhood attention (``mixer`` MatMul / Gather), the fused
  aggregation and the scan (``a2ssm``) show apart.

    .venv/bin/python benchmarks/profile_onnx.py FILE.onnx [--batch N]
        [--runs 3] [--top 25] [--json OUT.json] [--wall]

``--wall`` runs the file without the profiler (which adds about a third
here) and prints only the median wall time of the runs after the warm-up.

The first run (a warm-up) is left out of the figures. Node names are those of
the graph after onnxruntime's optimisations (fused nodes keep a member's
scope).
"""
import argparse
import collections
import json
import os
import re
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('onnx', help='an exported file')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--runs', type=int, default=3,
                        help='profiled runs after the warm-up (default 3)')
    parser.add_argument('--top', type=int, default=25,
                        help='rows of each table (default 25)')
    parser.add_argument('--json', help='write both tables to this file')
    parser.add_argument('--wall', action='store_true',
                        help='no profiler: the median wall time only')
    return parser.parse_args(argv)


def scope_of(node_name):
    """``/backbone/stages.2/blocks.5/mixer/a2ssm/MatMul_3`` →
    ``backbone/stages.N/blocks.N/mixer/a2ssm``."""
    scope = node_name.strip('/').rsplit('/', 1)[0] if '/' in node_name else ''
    return re.sub(r'\.\d+', '.N', scope) or '(graph)'


def profile(path, batch, runs, enabled=True):
    """``(events, seconds)``: the node events of ``runs`` runs after a
    warm-up (none unless ``enabled``), and the wall seconds of each run."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    options.enable_profiling = enabled
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), 'ort')
    session = ort.InferenceSession(path, options,
                                   providers=['CPUExecutionProvider'])
    shape = session.get_inputs()[0].shape
    image = np.random.default_rng(0).standard_normal(
        (batch, *shape[1:]), dtype=np.float32)
    seconds = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        session.run(None, {session.get_inputs()[0].name: image})
        seconds.append(time.perf_counter() - start)
    if not enabled:
        return [], seconds[1:]
    with open(session.end_profiling()) as file:
        events = [e for e in json.load(file) if e.get('cat') == 'Node' and
                  e['name'].endswith('_kernel_time')]
    # the warm-up run's events come first: drop one run's worth
    per_run = len(events) // (runs + 1)
    return events[per_run:], seconds[1:]


def tables(events, runs):
    """``(by_op, by_scope)``: ``{key: [ms per run, nodes]}``."""
    by_op = collections.defaultdict(lambda: [0.0, set()])
    by_scope = collections.defaultdict(lambda: [0.0, set()])
    for event in events:
        node = event['name'][:-len('_kernel_time')]
        op = event['args'].get('op_name', '?')
        ms = event['dur'] / 1e3 / runs
        for table, key in ((by_op, op), (by_scope, f'{scope_of(node)} {op}')):
            table[key][0] += ms
            table[key][1].add(node)
    return ({k: [ms, len(nodes)] for k, (ms, nodes) in t.items()}
            for t in (by_op, by_scope))


def print_table(title, table, total, top):
    print(f'\n{title}\n| {"":60s} | ms/run | share | nodes |\n'
          f'|{"-" * 62}|-------:|------:|------:|')
    rows = sorted(table.items(), key=lambda kv: -kv[1][0])
    for key, (ms, nodes) in rows[:top]:
        print(f'| {key:60s} | {ms:6.1f} | {ms / total:5.1%} | {nodes:5d} |')
    rest = sum(ms for _, (ms, _) in rows[top:])
    if rest:
        print(f'| {"(the rest)":60s} | {rest:6.1f} | {rest / total:5.1%} |'
              f'       |')


def main(argv=None):
    args = parse_args(argv)
    events, seconds = profile(args.onnx, args.batch, args.runs,
                              enabled=not args.wall)
    if args.wall:
        print(f'{args.onnx}: batch {args.batch}, {torch.get_num_threads()} '
              f'threads, no profiler: wall '
              f'{1e3 * float(np.median(seconds)):.1f} ms per run (median of '
              f'{args.runs})')
        return
    by_op, by_scope = tables(events, args.runs)
    total = sum(ms for ms, _ in by_op.values())
    print(f'{args.onnx}: batch {args.batch}, {torch.get_num_threads()} '
          f'threads, {args.runs} profiled runs: wall '
          f'{1e3 * float(np.median(seconds)):.1f} ms per run (median), '
          f'kernels {total:.1f} ms')
    print_table('by op type', by_op, total, args.top)
    print_table('by module and op type', by_scope, total, args.top)
    if args.json:
        with open(args.json, 'w') as file:
            json.dump(dict(by_op=by_op, by_scope=by_scope,
                           wall_ms=1e3 * float(np.median(seconds))), file,
                      indent=1)


if __name__ == '__main__':
    main()
