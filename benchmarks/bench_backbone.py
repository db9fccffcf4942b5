"""A2Mamba-T against mmseg's Swin-T on this machine, in one run (not a test).

Both backbones are built from the registries with their published settings
(A2Mamba-T from ``configs/a2mamba/upernet_a2mamba_t_ade20k.py``, Swin-T from
mmseg's ``swin-tiny-patch4-window7-in1k-pre_upernet`` config), random
weights. Every measurement runs in a fresh child process so that timings
and memory do not leak into each other:

* backbone forward (eval, no grad) and training step (train mode, forward +
  backward of the summed outputs), at 512² batch 1 and 224² batch 8: median
  wall time of ``--reps`` runs after one warm-up run, and (in a process of
  its own, as it slows the run) the peak resident memory one training step
  adds to the built model (ru_maxrss, with glibc's mmap threshold pinned so
  that freed tensors leave the process);
* the whole UperNet segmentor (mmseg's UperNet config with either backbone)
  in inference at 512² batch 1;
* A2Mamba-T's forward under ``torch.compile(fullgraph=True)`` (inductor) at
  512² beside the eager forward, and the compiled output's largest
  difference from the eager one;
* A2Mamba-T's forward on mmmamba's pure-PyTorch reference operators (no
  compiled kernels), the kernels' speed-up over them.

Ratios are A2Mamba / Swin-T (below 1: A2Mamba is faster).

    .venv/bin/python benchmarks/bench_backbone.py [--reps 5]
        [--skip compile,upernet,reference]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
A2MAMBA_CONFIG = ROOT / 'configs' / 'a2mamba' / 'upernet_a2mamba_t_ade20k.py'
SWIN_CONFIG = ('mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_'
               '8xb2-160k_ade20k-512x512.py')
SHAPES = ((512, 1), (224, 8))


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
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules()
    cfg = segmentor_cfg(model)
    return MODELS.build(cfg if whole else cfg.backbone)


def median_time(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rss_mib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def measure(job):
    """One measurement in this (child) process; returns a dict."""
    torch.manual_seed(0)
    model = build(job['model'], job['kind'] == 'upernet')
    x = torch.randn(job['batch'], 3, job['size'], job['size'])
    if job['kind'] in ('train', 'memory'):
        model.train()

        def step():
            model.zero_grad(set_to_none=True)
            sum(f.mean() for f in model(x)).backward()
        if job['kind'] == 'train':
            return dict(seconds=median_time(step, job['reps']))
        before = rss_mib()
        step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return dict(peak_mib=peak - before)
    model.eval()
    if job['kind'] == 'upernet':
        def forward():
            with torch.no_grad():
                return model(x, mode='tensor')
        return dict(seconds=median_time(forward, job['reps']))
    from mmmamba.ops import use_backend
    with torch.no_grad():
        if job['kind'] == 'reference':
            with use_backend('reference'):
                return dict(seconds=median_time(lambda: model(x),
                                                job['reps']))
        if job['kind'] == 'compiled':
            eager = model(x)
            compiled = torch.compile(model, fullgraph=True)
            start = time.perf_counter()
            out = compiled(x)
            compile_s = time.perf_counter() - start
            diff = max(((a - b).abs().max() / b.abs().max()).item()
                       for a, b in zip(out, eager))
            return dict(seconds=median_time(lambda: compiled(x), job['reps']),
                        compile_s=compile_s, max_rel_diff=diff)
        return dict(seconds=median_time(lambda: model(x), job['reps']))


def run_child(job):
    env = dict(os.environ)
    if job['kind'] == 'memory':  # every tensor its own mapping: RSS = live
        env['MALLOC_MMAP_THRESHOLD_'] = '65536'  # bytes (slow to run)
    proc = subprocess.run(
        [sys.executable, __file__, '--child', json.dumps(job)], env=env,
        capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.exit(f'measurement {job} failed:\n{proc.stderr}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--skip', default='',
                        help='comma-separated: compile, upernet, reference')
    parser.add_argument('--child', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(json.loads(args.child))))
        return
    skip = set(filter(None, args.skip.split(',')))
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'CPU capability {torch.backends.cpu.get_cpu_capability()}; '
          f'median of {args.reps} runs after a warm-up, each measurement in '
          f'its own process', flush=True)

    def both(**job):
        got = {m: run_child(dict(job, model=m, reps=args.reps))
               for m in ('a2mamba', 'swin')}
        return got['a2mamba'], got['swin']

    print(f'{"":28}{"A2Mamba-T":>11}{"Swin-T":>10}{"ratio":>8}')
    for size, batch in SHAPES:
        a, s = both(kind='forward', size=size, batch=batch)
        label = f'backbone forward {size}² b{batch}'
        print(f'{label:<28}{a["seconds"]:9.3f} s{s["seconds"]:8.3f} s'
              f'{a["seconds"] / s["seconds"]:8.2f}', flush=True)
        a, s = both(kind='train', size=size, batch=batch)
        label = f'training step {size}² b{batch}'
        print(f'{label:<28}{a["seconds"]:9.3f} s{s["seconds"]:8.3f} s'
              f'{a["seconds"] / s["seconds"]:8.2f}', flush=True)
        a, s = both(kind='memory', size=size, batch=batch)
        label = '  its peak memory'
        print(f'{label:<28}{a["peak_mib"]:7.0f} MiB{s["peak_mib"]:6.0f} MiB'
              f'{a["peak_mib"] / s["peak_mib"]:8.2f}', flush=True)
    if 'upernet' not in skip:
        a, s = both(kind='upernet', size=512, batch=1)
        print(f'{"UperNet inference 512² b1":<28}{a["seconds"]:9.3f} s'
              f'{s["seconds"]:8.3f} s{a["seconds"] / s["seconds"]:8.2f}',
              flush=True)
    job = dict(model='a2mamba', size=512, batch=1, reps=args.reps)
    eager = run_child(dict(job, kind='forward'))['seconds']
    print(f'A2Mamba-T forward 512² b1: eager {eager:.3f} s', flush=True)
    if 'compile' not in skip:
        got = run_child(dict(job, kind='compiled'))
        print(f'  torch.compile(fullgraph=True): {got["seconds"]:.3f} s '
              f'(x{eager / got["seconds"]:.2f} vs eager; compiling took '
              f'{got["compile_s"]:.0f} s; largest relative difference to '
              f'eager {got["max_rel_diff"]:.1e})', flush=True)
    if 'reference' not in skip:
        ref = run_child(dict(job, kind='reference'))['seconds']
        print(f'  pure-PyTorch reference operators: {ref:.3f} s (the '
              f'kernels are x{ref / eager:.2f} faster)', flush=True)


if __name__ == '__main__':
    main()
