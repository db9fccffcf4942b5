"""Item d: timings in one run. Every op per backend that runs models
(:func:`~.common.model_backends`; forward without grad, forward + backward;
fp32) and the reference, and the backbone's forward and training step
with peak memory beside timm's Swin-T on the same device."""
import importlib.util

import torch

from mmmamba.devtools import median_seconds

from .cases import op_cases, op_function
from .common import ItemResult, model_backends, runs_on
from .item_backbone import build_backbone

SWIN = 'swin_tiny_patch4_window7_224'


def _ms(fn, profile, device):
    return 1e3 * median_seconds(fn, profile.reps, device=device)


def time_op(case, backend, profile, device):
    """``{'forward', 'forward_backward'}`` ms of one case on ``backend``;
    None when the backend has no kernel for it."""
    from mmmamba.ops import use_backend
    inputs = case.make(torch.float32)
    if not runs_on(backend, case.op, inputs[0]):
        return None
    fn = op_function(case.op)
    with use_backend(backend):
        grad = torch.randn_like(case.call(fn, *inputs))

        def forward():
            with torch.no_grad():
                case.call(fn, *inputs)

        def forward_backward():
            torch.autograd.grad(case.call(fn, *inputs), inputs, grad)

        return dict(forward=_ms(forward, profile, device),
                    forward_backward=_ms(forward_backward, profile, device))


def swin_tiny(image):
    """timm's Swin-T (random weights) for ``image``² inputs, or the reason
    there is none."""
    if importlib.util.find_spec('timm') is None:
        return None, 'timm is not installed'
    import timm
    try:
        return timm.create_model(SWIN, pretrained=False, num_classes=0,
                                 img_size=image), None
    except Exception as error:  # noqa: BLE001  (reported, not fatal)
        return None, f'{type(error).__name__}: {error}'


def _peak_mib(device):
    return (torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda'
            else None)


def time_model(features, model, x, profile, device):
    """Forward (eval, no grad) and training step (forward, backward of the
    summed feature means, AdamW step): ms and peak MiB of each."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def forward():
        model.eval()
        with torch.no_grad():
            features(model, x)

    def train_step():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        sum(f.float().mean() for f in features(model, x)).backward()
        optimizer.step()

    row = {}
    for name, fn in (('forward', forward), ('train_step', train_step)):
        if device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        row[name + '_ms'] = _ms(fn, profile, device)
        row[name + '_peak_mib'] = _peak_mib(device)
    optimizer.zero_grad(set_to_none=True)
    return row


def time_backbones(profile, device):
    """A2Mamba-T on each kernel backend and Swin-T at each timing shape."""
    from mmmamba.ops import use_backend
    rows = []
    for image, batch in profile.timing_shapes:
        x = torch.randn(batch, 3, image, image, device=device)
        model = build_backbone(profile.arch, device)
        for backend in model_backends(device):
            with use_backend(backend):
                row = time_model(lambda m, t: m(t), model, x, profile, device)
            rows.append(dict(row, model=f'A2Mamba-{profile.arch}',
                             backend=backend, image=image, batch=batch))
        del model
        swin, why = swin_tiny(image)
        if swin is None:
            rows.append(dict(model='Swin-T', image=image, batch=batch,
                             missing=why))
            continue
        row = time_model(lambda m, t: [m.forward_features(t)],
                         swin.to(device), x, profile, device)
        rows.append(dict(row, model='Swin-T', backend='timm', image=image,
                         batch=batch))
        del swin
        if device == 'cuda':
            torch.cuda.empty_cache()
    return rows


def ratio_text(rows):
    """'512² b1: forward 12.3 ms vs Swin-T 10.1 (×1.22), ...' for the
    first kernel backend."""
    parts = []
    for image, batch in dict.fromkeys((r['image'], r['batch'])
                                      for r in rows):
        shape = [r for r in rows if (r['image'], r['batch']) == (image,
                                                                   batch)]
        ours, swin = shape[0], shape[-1]
        if 'missing' in swin:
            parts.append(f'{image}² b{batch}: forward {ours["forward_ms"]:.1f}'
                         f' ms, step {ours["train_step_ms"]:.1f} ms (Swin-T: '
                         f'{swin["missing"]})')
            continue
        parts.append(
            f'{image}² b{batch}: forward {ours["forward_ms"]:.1f} ms vs '
            f'Swin-T {swin["forward_ms"]:.1f} '
            f'(×{ours["forward_ms"] / swin["forward_ms"]:.2f}), step '
            f'{ours["train_step_ms"]:.1f} vs {swin["train_step_ms"]:.1f} '
            f'(×{ours["train_step_ms"] / swin["train_step_ms"]:.2f})')
    return '; '.join(parts)


def run_timings(profile, device):
    """Item d: its figures (never a FAIL by itself: a failing measurement
    raises)."""
    ops = []
    for case in op_cases(profile, device):
        ops.append(dict(op=case.op, shape=case.label, times={
            b: time_op(case, b, profile, device)
            for b in ('reference', ) + model_backends(device)}))
    backbones = time_backbones(profile, device)
    return ItemResult('FIGURE', f'{model_backends(device)[0]} kernels: '
                      + ratio_text(backbones),
                      dict(ops=ops, backbones=backbones))
