"""GPU acceptance of the mmmamba kernels: agreement, AMP training, speed.

Run by ``bash tools/gpu_check.sh`` after it has built the CUDA extension
and passed ``tests/ops``. Jobs, in order (``--jobs`` picks some):

- ``agree``: the A2Mamba backbone (``arch='tiny'``, built from mmseg's
  registry; one set of weights, one 1×3×224×224 input, fp32 with TF32 off)
  gives the same features on every kernel backend as on the reference:
  fails when a feature's max |Δ| / max |reference| exceeds 1e-3.
- ``train``: 50 iterations of the quick-start segmentor through
  ``tools/train.py --amp`` (its config, the data of
  ``tools/make_tiny_dataset.py``) under fp16 and under bf16 (bf16 only
  on a machine without CUDA, as ``--amp`` does there), on the device
  tools/train.py picks and the default backends: fails on a non-finite
  loss.
- ``ops``: forward (no grad) and forward+backward time of each operator
  per backend at the A2Mamba-T stage shapes (512², batch 2): median of
  ``--reps`` after a warm-up, CUDA events on the GPU.
- ``backbone``: A2Mamba-T at 2×3×512×512 per backend: forward time,
  training-step time (forward, backward, AdamW step) and peak memory.

Writes ``report.md`` (tables, also printed) and ``report.json`` to ``--out``.
``--device cpu --quick`` runs the same jobs on the CPU backends (reference,
cpu) at small sizes, for development and the tests.

    python benchmarks/gpu_acceptance.py [--device cuda] [--quick]
        [--out work_dirs/gpu_check] [--data-root data/tiny/ade]
        [--jobs agree,train,ops,backbone] [--reps N]
"""
import argparse
import contextlib
import gc
import importlib.util
import json
import math
import os
import os.path as osp
import shutil
import statistics
import sys
import time
from typing import Callable, NamedTuple

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from acceptance_report import write_report  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
QUICK_CONFIG = osp.join(ROOT, 'configs', 'a2mamba', 'quickstart',
                        'upernet_a2mamba_test_tinyade.py')
JOBS = ('agree', 'train', 'ops', 'backbone')
OPS = ('na2d_qk', 'na2d_av', 'selective_scan_states', 'a2ssm_aggregate')
AGREEMENT_TOL = 1e-3  # max |Δ| / max |reference| per feature, fp32


class AcceptanceError(RuntimeError):
    """A check of the acceptance run failed."""


class Settings(NamedTuple):
    agree_arch: str  # backbone agreement: arch and square input side
    agree_size: int
    bench_arch: str  # ops / backbone timing: arch, input side, batch
    bench_size: int
    batch: int
    reps: int  # timed runs per measurement (median), after one warm-up
    train_iters: int


FULL = Settings('tiny', 224, 'tiny', 512, 2, 5, 50)
QUICK = Settings('test', 64, 'test', 64, 1, 1, 2)


def kernel_backends(device):
    """The kernel backends an acceptance run checks on ``device``."""
    return ('cuda', 'triton') if device == 'cuda' else ('cpu', )


def amp_dtypes(device):
    """AMP dtypes of the training job: ``tools/train.py --amp`` trains
    fp16 (with loss scaling) only on CUDA, bf16 on the CPU."""
    return ('float16', 'bfloat16') if device == 'cuda' else ('bfloat16', )


def check_environment(device):
    """Fail early, saying what to do, when ``device`` cannot be checked."""
    from mmmamba.ops import explain_backend, use_backend
    if device == 'cuda':
        if not torch.cuda.is_available():
            raise AcceptanceError(
                f'--device cuda, but torch {torch.__version__} sees no CUDA '
                f'GPU (torch.version.cuda={torch.version.cuda}); run on a '
                f'GPU machine with a CUDA build of torch, or use --device '
                f'cpu --quick')
        if os.environ.get('TRITON_INTERPRET', '0') == '1':
            raise AcceptanceError(
                'TRITON_INTERPRET=1 runs the Triton kernels in the '
                'interpreter, not on the GPU: unset it')
    probe = torch.empty(1, device=device)
    for backend in kernel_backends(device):
        with use_backend(backend):  # raises with the build command
            explain_backend('na2d_av', probe)


def device_info(device):
    """What ran the check (for the report)."""
    info = dict(device=device, torch=torch.__version__,
                cuda=torch.version.cuda, threads=torch.get_num_threads())
    if device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
        info['capability'] = '%d.%d' % torch.cuda.get_device_capability()
    if importlib.util.find_spec('triton') is not None:
        import triton
        info['triton'] = triton.__version__
    return info


def synchronize(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def median_ms(fn, reps, device):
    """Median time of ``fn()`` in ms over ``reps`` runs after one warm-up
    (CUDA events on the GPU, wall time on the CPU)."""
    fn()  # warm-up: Triton compiles, the allocator caches
    synchronize(device)
    times = []
    for _ in range(reps):
        if device == 'cuda':
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


@contextlib.contextmanager
def tf32_disabled():
    """Full fp32 convolutions and matmuls on the GPU (TF32 rounding would
    blur a comparison at 1e-3)."""
    saved = (torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        (torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = saved


def build_backbone(arch, device):
    """A2Mamba from mmseg's registry, its weights drawn from seed 0."""
    import mmmamba  # noqa: F401  (registers A2Mamba)
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(dict(type='A2Mamba', arch=arch))
    return model.to(device)


def dispatched_backends(backend, device):
    """Which backend each op runs when ``backend`` is forced (None: the
    default choice for ``device``)."""
    from mmmamba.ops import explain_backend, use_backend
    probe = torch.empty(1, device=device)
    with use_backend(backend) if backend else contextlib.nullcontext():
        return {op: explain_backend(op, probe).backend for op in OPS}


def relative_error(got, want):
    """max |got - want| / max |want| (NaN anywhere gives NaN)."""
    diff = (got.double() - want.double()).abs().max()
    return (diff / want.double().abs().max().clamp_min(1e-30)).item()


def features_error(got, want):
    """The largest :func:`relative_error` of the feature maps; NaN if any
    is NaN (Python's ``max`` would drop it, depending on the order)."""
    errors = [relative_error(g, w) for g, w in zip(got, want)]
    return math.nan if any(math.isnan(e) for e in errors) else max(errors)


def check_agreement(settings, device):
    """Backbone features of every kernel backend against the reference."""
    from mmmamba.ops import use_backend
    model = build_backbone(settings.agree_arch, device).eval()
    gen = torch.Generator().manual_seed(1)
    size = settings.agree_size
    x = torch.randn(1, 3, size, size, generator=gen).to(device)
    features = {}
    with tf32_disabled(), torch.no_grad():
        for backend in ('reference', ) + kernel_backends(device):
            with use_backend(backend):
                features[backend] = model(x)  # 4 × B, C, H, W
    errors = {backend: features_error(features[backend],
                                      features['reference'])
              for backend in kernel_backends(device)}
    result = dict(arch=settings.agree_arch, input=list(x.shape),
                  tolerance=AGREEMENT_TOL, max_rel_error=errors,
                  ops={b: dispatched_backends(b, device) for b in errors})
    failed = {b: e for b, e in errors.items() if not e <= AGREEMENT_TOL}
    if failed:
        raise AcceptanceError(
            f'A2Mamba-{settings.agree_arch} features differ from the '
            f'reference: max |Δ| / max |reference| = {failed} > '
            f'{AGREEMENT_TOL} (fp32)')
    return result


def load_train_tool():
    """tools/train.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        'mmmamba_train_tool', osp.join(ROOT, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def logged_losses(work_dir):
    """The per-iteration ``loss`` of the newest run in ``work_dir``."""
    runs = sorted(d for d in os.listdir(work_dir)
                  if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    path = osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r['loss'] for r in records if 'loss' in r]


def train_amp(settings, data_root, out_dir):
    """The quick-start segmentor under each AMP dtype: finite losses.

    Trains where tools/train.py trains: on the GPU when there is one.
    """
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if not osp.isdir(osp.join(data_root, 'images', 'training')):
        raise AcceptanceError(
            f'no training images under {data_root}/images/training; '
            f'generate them with `python tools/make_tiny_dataset.py --out '
            f'{osp.dirname(data_root) or "."} --only ade`')
    results = []
    for dtype in amp_dtypes(device):
        work_dir = osp.join(out_dir, f'train_{dtype}')
        shutil.rmtree(work_dir, ignore_errors=True)
        load_train_tool().main([
            QUICK_CONFIG, '--work-dir', work_dir, '--amp', '--cfg-options',
            f'optim_wrapper.dtype={dtype}',
            f'train_cfg.max_iters={settings.train_iters}',
            f'train_dataloader.dataset.data_root={data_root}',
            'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
            'default_hooks.logger.interval=1',  # every iteration's loss,
            'log_processor.window_size=1'])  # unsmoothed
        losses = logged_losses(work_dir)
        results.append(dict(device=device, dtype=dtype,
                            iterations=len(losses),
                            losses=losses,
                            ops=dispatched_backends(None, device)))
        if len(losses) != settings.train_iters or not all(
                math.isfinite(v) for v in losses):
            raise AcceptanceError(
                f'{dtype} AMP training: expected {settings.train_iters} '
                f'finite losses, got {losses}')
    return results


class OpCase(NamedTuple):
    op: str
    stage: int  # 1-4
    shape: str  # what the label column shows
    inputs: list  # leaf tensors, requires_grad
    call: Callable  # call(*inputs) -> output


def _leaf(*shape, gen, device, softmax=False, scale=1.0, shift=0.0):
    t = torch.randn(*shape, generator=gen) * scale + shift
    if softmax:
        t = t.softmax(-1)
    return t.to(device).requires_grad_()


def op_cases(arch, image_size, batch, device):
    """The operator calls of one forward of ``arch`` at ``image_size``²:
    local (dilation 1) and dilated attention per stage; scan and fused
    aggregation on the A2SSM stages."""
    from mmmamba.models.backbones.stage_shapes import stage_shapes
    from mmmamba.ops import (a2ssm_aggregate, na2d_av, na2d_qk,
                             selective_scan_states)
    gen = torch.Generator().manual_seed(0)
    cases = []
    for s in stage_shapes(arch, image_size):
        K, G, C, n = s.kernel, s.heads, s.channels, s.size
        g, d = G // 2, C // G
        side = max(n, K)  # maps smaller than the window are padded to K
        for dil in sorted({1, s.dilation}):
            tag = f'B{batch} {side}² h{g}×{d} K{K} δ{dil}'
            q, k = (_leaf(batch, g, side, side, d, gen=gen, device=device)
                    for _ in range(2))
            rpb = _leaf(g, 2 * K - 1, 2 * K - 1, gen=gen, device=device)
            cases.append(OpCase(
                'na2d_qk', s.stage + 1, tag, [q, k, rpb],
                lambda q, k, rpb, K=K, dil=dil: na2d_qk(q, k, K, dil, rpb)))
            attn = _leaf(batch, g, side, side, K * K, gen=gen, device=device,
                         softmax=True)
            v = _leaf(batch, g, side, side, d, gen=gen, device=device)
            cases.append(OpCase(
                'na2d_av', s.stage + 1, tag, [attn, v],
                lambda a, v, K=K, dil=dil: na2d_av(a, v, K, dil)))
        if not s.a2ssm:
            continue
        L = n * n
        u = _leaf(batch, C, L, gen=gen, device=device)
        delta = _leaf(batch, C, L, gen=gen, device=device, scale=0.5,
                      shift=-1.0)
        A = _leaf(C, 1, gen=gen, device=device, scale=0.1, shift=-0.5)
        B = _leaf(batch, 1, L, gen=gen, device=device)
        bias = _leaf(C, gen=gen, device=device, scale=0.5)
        cases.append(OpCase(
            'selective_scan_states', s.stage + 1, f'B{batch} D{C} L{L}',
            [u, delta, A, B, bias],
            lambda *t: selective_scan_states(*t, delta_softplus=True)))
        maps = [_leaf(batch, g, side, side, K * K, gen=gen, device=device,
                      softmax=True) for _ in range(2)]
        states = _leaf(batch, G, d, n, n, gen=gen, device=device)
        cases.append(OpCase(
            'a2ssm_aggregate', s.stage + 1,
            f'B{batch} {n}² G{G}×{d} K{K} δ{s.dilation}', maps + [states],
            lambda al, ad, st, K=K, dil=s.dilation: a2ssm_aggregate(
                al, ad, st, K, (dil, dil))))
    return cases


def time_case(case, backend, reps, device):
    """``{'forward', 'forward_backward'}`` ms of one call on ``backend``;
    None when the backend has no kernel for the op (it runs the
    reference)."""
    from mmmamba.ops import explain_backend, use_backend
    with use_backend(backend):
        if explain_backend(case.op, case.inputs[0]).backend != backend:
            return None
        out = case.call(*case.inputs)
        grad_out = torch.randn_like(out)

        def forward():
            with torch.no_grad():
                case.call(*case.inputs)

        def forward_backward():
            torch.autograd.grad(case.call(*case.inputs), case.inputs,
                                grad_out)

        return dict(forward=median_ms(forward, reps, device),
                    forward_backward=median_ms(forward_backward, reps,
                                               device))


def time_ops(settings, device):
    """Per-op times of every backend at the timing arch's stage shapes."""
    rows = []
    for case in op_cases(settings.bench_arch, settings.bench_size,
                         settings.batch, device):
        times = {backend: time_case(case, backend, settings.reps, device)
                 for backend in ('reference', ) + kernel_backends(device)}
        rows.append(dict(op=case.op, stage=case.stage, shape=case.shape,
                         times=times))
        print(f'[gpu_acceptance] {case.op} stage {case.stage} {case.shape}: '
              + ', '.join(f'{b} {t["forward"]:.3f}/{t["forward_backward"]:.3f}'
                          ' ms' if t else f'{b} -' for b, t in times.items()),
              flush=True)
    return rows


def peak_memory_mib(device):
    if device != 'cuda':
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def reset_peak_memory(device):
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()


def time_backbone(settings, device):
    """Backbone forward / training-step time and peak memory per backend."""
    from mmmamba.ops import use_backend
    model = build_backbone(settings.bench_arch, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    size = settings.bench_size
    x = torch.randn(settings.batch, 3, size, size, device=device)

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    def train_step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        sum(f.float().mean() for f in model(x)).backward()
        optimizer.step()

    rows = []
    for backend in ('reference', ) + kernel_backends(device):
        with use_backend(backend):
            reset_peak_memory(device)
            forward_ms = median_ms(forward, settings.reps, device)
            forward_mib = peak_memory_mib(device)
            reset_peak_memory(device)
            step_ms = median_ms(train_step, settings.reps, device)
            rows.append(dict(backend=backend, forward_ms=forward_ms,
                             train_step_ms=step_ms,
                             forward_peak_mib=forward_mib,
                             train_step_peak_mib=peak_memory_mib(device),
                             ops=dispatched_backends(backend, device)))
        print(f'[gpu_acceptance] backbone {backend}: forward '
              f'{forward_ms:.1f} ms, training step {step_ms:.1f} ms',
              flush=True)
    return rows


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda')
    parser.add_argument('--quick', action='store_true',
                        help='small sizes, few iterations (development)')
    parser.add_argument('--out', default='work_dirs/gpu_check',
                        help='report.md, report.json and training logs')
    parser.add_argument('--data-root', default='data/tiny/ade',
                        help='tools/make_tiny_dataset.py output (ade)')
    parser.add_argument('--jobs', default=','.join(JOBS),
                        help=f'comma-separated subset of {",".join(JOBS)}')
    parser.add_argument('--reps', type=int,
                        help='timed runs per measurement (default 5; 1 '
                        'with --quick)')
    args = parser.parse_args(argv)
    args.jobs = [j for j in args.jobs.split(',') if j]
    unknown = sorted(set(args.jobs) - set(JOBS))
    if unknown:
        parser.error(f'unknown jobs {unknown}; choose from {",".join(JOBS)}')
    return args


def main(argv=None):
    """Run the selected jobs; write the report; raise on a failed check."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.reps is not None:
        settings = settings._replace(reps=args.reps)
    check_environment(args.device)
    os.makedirs(args.out, exist_ok=True)
    report = dict(info=device_info(args.device), settings=settings._asdict(),
                  command=' '.join(['benchmarks/gpu_acceptance.py', *argv]),
                  elapsed_s={})
    jobs = {
        'agree': lambda: check_agreement(settings, args.device),
        'train': lambda: train_amp(settings, args.data_root, args.out),
        'ops': lambda: time_ops(settings, args.device),
        'backbone': lambda: time_backbone(settings, args.device),
    }
    for name in args.jobs:
        print(f'[gpu_acceptance] {name} ...', flush=True)
        gc.collect()  # the previous job's tensors are not in this one's peak
        start = time.perf_counter()
        try:
            report[name] = jobs[name]()
        except Exception as error:  # the report keeps what ran before
            report['failed'] = f'{name}: {type(error).__name__}: {error}'
            write_report(report, args.out)
            raise
        report['elapsed_s'][name] = time.perf_counter() - start
        print(f'[gpu_acceptance] {name} done in '
              f'{report["elapsed_s"][name]:.1f} s', flush=True)
    print(write_report(report, args.out))
    return report


if __name__ == '__main__':
    try:
        main()
    except AcceptanceError as error:
        sys.exit(f'[gpu_acceptance] FAILED: {error}')
