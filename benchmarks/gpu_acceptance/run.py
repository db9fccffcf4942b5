"""The acceptance run: each item timed, a failure recorded and the run
carried on, the summary printed last and written with the report."""
import argparse
import gc
import importlib.util
import json
import os
import time
import traceback

import torch

from .common import ItemResult
from .item_backbone import check_backbone
from .item_ops import check_ops
from .item_sanitizer import run_sanitizers
from .item_timings import run_timings
from .item_train_tool import train_one_iteration
from .profiles import profile_for
from .report import summary_lines, write_report

ITEMS = 'abcde'


def check_device(device):
    """Why ``device`` cannot be checked, or None."""
    if device == 'cuda' and not torch.cuda.is_available():
        return (f'torch {torch.__version__} (CUDA {torch.version.cuda}) sees '
                f'no GPU: run on a GPU machine, or pass --device cpu')
    if device == 'cuda' and os.environ.get('TRITON_INTERPRET') == '1':
        return 'TRITON_INTERPRET=1 would run the Triton kernels on the CPU: '\
            'unset it'
    return None


def device_info(device, profile):
    info = dict(device=device, profile=profile.name, torch=torch.__version__,
                cuda=torch.version.cuda, threads=torch.get_num_threads())
    if device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
        info['capability'] = '%d.%d' % torch.cuda.get_device_capability()
    for name in ('triton', 'timm', 'mmengine', 'mmcv'):
        if importlib.util.find_spec(name) is not None:
            info[name] = getattr(__import__(name), '__version__', '?')
    return info


def run_item(job):
    """``job()`` as a report entry: its result and seconds; an exception is
    a FAIL carrying the error (its traceback is printed)."""
    gc.collect()
    start = time.perf_counter()
    try:
        result = job()
    except Exception as error:  # noqa: BLE001  (one item must not stop all)
        traceback.print_exc()
        result = ItemResult('FAIL', f'{type(error).__name__}: {error}')
    return dict(status=result.status, summary=result.summary,
                seconds=time.perf_counter() - start, details=result.details)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog='python benchmarks/gpu_acceptance',
        description='GPU acceptance of the mmmamba kernels (items a-e).')
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda')
    parser.add_argument('--out', default='work_dirs/gpu_check')
    parser.add_argument('--items', default=ITEMS,
                        help=f'which of {ITEMS} to run (default all)')
    parser.add_argument('--small', action='store_true',
                        help='the small sizes of the CPU rehearsal')
    parser.add_argument('--prior', action='append', default=[],
                        metavar='KEY=JSON', help='an item run before this '
                        "program (e.g. the build): its report entry")
    args = parser.parse_args(argv)
    unknown = set(args.items) - set(ITEMS)
    if unknown:
        parser.error(f'unknown items {sorted(unknown)}; choose from {ITEMS}')
    return args


def main(argv=None):
    """Run the items; return 0 when none failed."""
    args = parse_args(argv)
    problem = check_device(args.device)
    if problem:
        raise SystemExit(f'[gpu_acceptance] {problem}')
    profile = profile_for(args.device, args.small)
    os.makedirs(args.out, exist_ok=True)
    jobs = {
        'a': lambda: check_ops(profile, args.device),
        'b': lambda: run_sanitizers(args.device, args.out),
        'c': lambda: check_backbone(profile, args.device),
        'd': lambda: run_timings(profile, args.device),
        'e': lambda: train_one_iteration(profile, args.out),
    }
    report = dict(info=device_info(args.device, profile), items={})
    for prior in args.prior:
        key, entry = prior.split('=', 1)
        report['items'][key] = json.loads(entry)
    for key in args.items:
        print(f'[gpu_acceptance] item {key} ...', flush=True)
        report['items'][key] = run_item(jobs[key])
        print(f'[gpu_acceptance] {summary_lines(report)[-1]}', flush=True)
        write_report(report, args.out)  # what ran survives a crash
    print('\n'.join(['', '== summary ==', *summary_lines(report)]))
    return int(any(item['status'] == 'FAIL'
                   for item in report['items'].values()))
