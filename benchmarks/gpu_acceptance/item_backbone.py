"""Item c: the A2Mamba backbone on each kernel backend against the
reference (features and input gradient, fp32, TF32 off), and short training
runs with a small head under fp16 and bf16 autocast."""
import contextlib
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import (ItemResult, kernel_backends, model_backends,
                     outputs_and_grads, relative_error, worst)

AGREEMENT_TOL = 1e-3  # max |Δ| / max |reference|, each feature and d/dx
AMP_DTYPES = (torch.float16, torch.bfloat16)
CLASSES = 8


def build_backbone(arch, device):
    """A2Mamba with weights drawn from seed 0 (no registry needed)."""
    from mmmamba.models.backbones.a2mamba import A2Mamba
    torch.manual_seed(0)
    return A2Mamba(arch=arch).to(device)


@contextlib.contextmanager
def tf32_disabled():
    """Full fp32 convolutions and matmuls (TF32 would blur 1e-3)."""
    saved = (torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        (torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = saved


def agreement(model, image, device):
    """``{backend: worst error}`` of the four features and the input
    gradient against the reference backend."""
    from mmmamba.ops import use_backend
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 3, image, image, generator=gen).to(device)
    x.requires_grad_()

    def features(t):
        return torch.cat([f.flatten() for f in model(t)])  # all 4 maps

    results = {}
    with tf32_disabled():
        for backend in ('reference', ) + kernel_backends(device):
            with use_backend(backend):
                results[backend] = outputs_and_grads(features, [x])
    return {b: worst(relative_error(g, w) for g, w in
                     zip(results[b], results['reference']))
            for b in kernel_backends(device)}


class SmallHead(nn.Module):
    """Per-pixel logits at stride 4: each feature map through a 1×1 conv,
    upsampled and summed."""

    def __init__(self, channels):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(c, CLASSES, 1) for c in channels)

    def forward(self, features):
        size = features[0].shape[-2:]
        return sum(F.interpolate(conv(f), size, mode='bilinear')
                   for conv, f in zip(self.convs, features))


def train_losses(arch, profile, device, backend, dtype):
    """The losses of ``profile.train_steps`` AdamW steps on one fixed batch
    (random images, random per-pixel labels) under ``dtype`` autocast,
    with loss scaling for fp16."""
    from mmmamba.ops import use_backend
    model = build_backbone(arch, device).train()
    head = SmallHead(model.arch_settings[arch]['embed_dims']).to(device)
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    # a modest first scale: few steps are skipped while it settles
    scaler = torch.amp.GradScaler(device, init_scale=2.0**10,
                                  enabled=dtype == torch.float16)
    gen = torch.Generator().manual_seed(2)
    size = profile.train_image
    x = torch.randn(profile.train_batch, 3, size, size, generator=gen)
    labels = torch.randint(CLASSES, (profile.train_batch, size // 4,
                                     size // 4), generator=gen)
    x, labels = x.to(device), labels.to(device)
    losses = []
    with use_backend(backend):
        for _ in range(profile.train_steps):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device, dtype=dtype):
                loss = F.cross_entropy(head(model(x)).float(), labels)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(loss.item())
    return losses


def decreasing(losses):
    """Finite, and the last third's mean below the first third's."""
    third = max(1, len(losses) // 3)
    return (all(math.isfinite(v) for v in losses)
            and sum(losses[-third:]) < sum(losses[:third]))


def check_backbone(profile, device):
    """Item c: agreement at ``profile.agree_image``², then the AMP runs."""
    model = build_backbone(profile.arch, device).eval()
    errors = agreement(model, profile.agree_image, device)
    del model
    runs = {}
    for backend in model_backends(device):
        for dtype in AMP_DTYPES:
            name = f'{backend} {str(dtype).replace("torch.", "")}'
            runs[name] = train_losses(profile.arch, profile, device, backend,
                                      dtype)
    details = dict(agreement=errors, tolerance=AGREEMENT_TOL, losses=runs)
    failures = [f'{b} differs by {e:.2e}' for b, e in errors.items()
                if not e <= AGREEMENT_TOL]
    failures += [f'{name} loss not finite and decreasing: '
                 f'{losses[0]:.3f} → {losses[-1]:.3f}'
                 for name, losses in runs.items() if not decreasing(losses)]
    figures = (', '.join(f'{b} {e:.1e}' for b, e in errors.items())
               + f' vs reference at {profile.agree_image}²; '
               + ', '.join(f'{n} {v[0]:.2f}→{v[-1]:.2f}'
                           for n, v in runs.items()))
    if failures:
        return ItemResult('FAIL', '; '.join(failures) + f' ({figures})',
                          details)
    return ItemResult('PASS', figures, details)
