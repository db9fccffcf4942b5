"""A2Mamba-T against mmseg's Swin-T on this machine, in one run (not a test).

Both backbones are built from the registries with their published settings
(A2Mamba-T from ``configs/a2mamba/upernet_a2mamba_t_ade20k.py``, Swin-T from
mmseg's ``swin-tiny-patch4-window7-in1k-pre_upernet`` config), random
weights. Each measurement runs in a fresh child process:

* backbone forward (eval, no grad) and training step (train mode, forward +
  backward of the summed outputs), at 512² batch 1 and 224² batch 8. Both
  models live in one process and are timed in alternation, rep by rep,
  after two warm-up runs each, so that a change in the machine's speed
  during the run hits both; printed are the medians and the median of the
  per-rep ratios;
* the peak resident memory one training step adds to the built model, one
  process per model (ru_maxrss, with glibc's mmap threshold pinned so that
  freed tensors leave the process; this slows the step, so it is not timed);
* the whole UperNet segmentor (mmseg's UperNet config with either backbone)
  in inference at 512² batch 1, timed the same way;
* A2Mamba-T's forward under ``torch.compile(fullgraph=True)`` (inductor) at
  512² beside the eager forward, and the largest difference of the outputs;
* A2Mamba-T's forward on mmmamba's pure-PyTorch reference operators (no
  compiled kernels): the kernels' speed-up over them, and the outputs'
  difference, so that a fast wrong kernel does not pass unnoticed.

Ratios are A2Mamba / Swin-T (below 1: A2Mamba is faster).

    .venv/bin/python benchmarks/bench_backbone.py [--reps 7]
        [--skip compile,upernet,reference] [--quick]

``--quick`` (a smoke run, tested in CI) measures 64² inputs, one rep.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import torch

from mmmamba.devtools import time_reps

ROOT = Path(__file__).resolve().parents[1]
A2MAMBA_CONFIG = ROOT / 'configs' / 'a2mamba' / 'upernet_a2mamba_t_ade20k.py'
SWIN_CONFIG = ('mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_'
               '8xb2-160k_ade20k-512x512.py')
MODELS = ('a2mamba', 'swin')
SHAPES = ((512, 1), (224, 8))
QUICK_SHAPES = ((64, 1), (64, 2))
# A2Mamba-T's forward variants timed beside the eager one: (job kind and
# --skip name, the line's middle); ratio = variant / eager
FORWARD_VARIANTS = (
    ('compile', ', torch.compile(fullgraph=True): {variant:.3f} s against '
                'eager {eager:.3f} s (x{speedup:.2f}; compiling took '
                '{compile_s:.0f} s'),
    ('reference', ' on the pure-PyTorch reference operators: {variant:.3f} s '
                  'against {eager:.3f} s with the kernels (x{ratio:.2f}'),
)
WARMUP = 2


def segmentor_cfg(model):
    """The UperNet config of ``model`` ('a2mamba' or 'swin'), CPU-ready:
    no checkpoint loading, BN instead of SyncBN."""
    from mmengine.config import Config
    from mmengine.hub import get_config
    cfg = (Config.fromfile(str(A2MAMBA_CONFIG)) if model == 'a2mamba' else
           get_config(SWIN_CONFIG)).model
    cfg.pretrained = None
    cfg.backbone.init_cfg = None
    for part in (cfg.backbone, cfg.decode_head, cfg.auxiliary_head):
        if part.get('norm_cfg', {}).get('type') == 'SyncBN':
            part.norm_cfg = dict(type='BN', requires_grad=True)
    return cfg


def build(model, whole):
    import mmmamba  # noqa: F401  (registers A2Mamba into mmseg's scope)
    from mmseg.registry import MODELS as REGISTRY
    from mmseg.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    cfg = segmentor_cfg(model)
    return REGISTRY.build(cfg if whole else cfg.backbone)


def step_fn(model, x, kind):
    """The callable one rep runs: forward, training step or inference."""
    if kind in ('train', 'memory'):
        model.train()

        def train_step():
            model.zero_grad(set_to_none=True)
            sum(f.mean() for f in model(x)).backward()
        return train_step
    model.eval()
    if kind == 'upernet':
        return torch.no_grad()(lambda: model(x, mode='tensor'))
    return torch.no_grad()(lambda: model(x))


def alternate(fns, reps):
    """Median seconds of each callable and of their per-rep ratio (first /
    second), timed in alternation."""
    times = time_reps(fns, reps, warmup=WARMUP)
    ratios = [a / b for a, b in zip(*times)]
    return dict(seconds=[statistics.median(t) for t in times],
                ratio=statistics.median(ratios))


def rss_mib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def max_rel_diff(got, want):
    return max(((a - b).abs().max() / b.abs().max()).item()
               for a, b in zip(got, want))


def measure(job):
    """One measurement in this (child) process; returns a dict."""
    kind = job['kind']
    x = torch.randn(job['batch'], 3, job['size'], job['size'])
    if kind == 'memory':
        step = step_fn(build(job['model'], False), x, kind)
        before = rss_mib()
        step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return dict(peak_mib=peak - before)
    if kind in ('forward', 'train', 'upernet'):
        fns = [step_fn(build(m, kind == 'upernet'), x, kind) for m in MODELS]
        return alternate(fns, job['reps'])
    model = build('a2mamba', False).eval()
    eager = torch.no_grad()(lambda: model(x))
    want = eager()
    if kind == 'reference':
        from mmmamba.ops import use_backend

        def reference():
            with use_backend('reference'):
                return eager()
        got = alternate([reference, eager], job['reps'])
        return dict(got, max_rel_diff=max_rel_diff(want, reference()))
    compiled = torch.compile(model, fullgraph=True)  # kind 'compile'
    with torch.no_grad():
        [[compile_s]] = time_reps([lambda: compiled(x)], 1, warmup=0)
        out = compiled(x)
    got = alternate([torch.no_grad()(lambda: compiled(x)), eager],
                    job['reps'])
    return dict(got, compile_s=compile_s, max_rel_diff=max_rel_diff(out, want))


def run_child(job):
    env = dict(os.environ)
    if job['kind'] == 'memory':  # every tensor its own mapping: RSS = live
        env['MALLOC_MMAP_THRESHOLD_'] = '65536'  # bytes
    proc = subprocess.run(
        [sys.executable, __file__, '--child', json.dumps(job)], env=env,
        capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f'measurement {job} failed:\n{proc.stderr}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), or the platform's processor."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or 'unknown CPU'


def row(label, a, s, unit='s', ratio=None):
    fmt = '9.3f' if unit == 's' else '7.0f'
    ratio = a / s if ratio is None else ratio
    return f'{label:<28}{a:{fmt}} {unit:<3}{s:{fmt}} {unit:<3}{ratio:7.2f}'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--reps', type=int, default=7)
    parser.add_argument('--skip', default='',
                        help='comma-separated: compile, upernet, reference')
    parser.add_argument('--quick', action='store_true',
                        help='64² inputs and one rep: a smoke run')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return
    skip = set(filter(None, args.skip.split(',')))
    print(f'{cpu_model()}; torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, '
          f'CPU capability {torch.backends.cpu.get_cpu_capability()}; '
          f'medians of {args.reps} alternating reps after {WARMUP} warm-ups',
          flush=True)
    print(f'{"":28}{"A2Mamba-T":>13}{"Swin-T":>13}{"ratio":>7}')

    def paired(label, **job):
        got = run_child(dict(job, reps=args.reps))
        print(row(label, *got['seconds'], ratio=got['ratio']), flush=True)

    shapes, big = (QUICK_SHAPES, 64) if args.quick else (SHAPES, 512)
    if args.quick:
        args.reps = 1
    for size, batch in shapes:
        shape = dict(size=size, batch=batch)
        paired(f'backbone forward {size}² b{batch}', kind='forward', **shape)
        paired(f'training step {size}² b{batch}', kind='train', **shape)
        peaks = [run_child(dict(shape, kind='memory', model=m))['peak_mib']
                 for m in MODELS]
        print(row('  its peak memory', *peaks, unit='MiB'), flush=True)
    if 'upernet' not in skip:
        paired(f'UperNet inference {big}² b1', kind='upernet', size=big,
               batch=1)
    job = dict(size=big, batch=1, reps=args.reps)
    for kind, text in FORWARD_VARIANTS:
        if kind in skip:
            continue
        got = run_child(dict(job, kind=kind))
        (variant, eager), ratio = got['seconds'], got['ratio']
        fields = dict(got, variant=variant, eager=eager, speedup=1 / ratio)
        print(f'A2Mamba-T forward {big}² b1' + text.format(**fields) +
            f'; largest relative difference of the outputs '
            f'{got["max_rel_diff"]:.1e})', flush=True)

if __name__ == '__main__':
    main()
