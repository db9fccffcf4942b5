"""The operator calls of items a and d: every A2Mamba stage shape at one
input size, a long scan and a COCO stage-1 map."""
from typing import Callable, NamedTuple

import torch

from .common import leaf


class OpCase(NamedTuple):
    """One operator call: ``make(dtype)`` draws its leaf inputs (the same
    values for every call), ``call(fn, *inputs)`` applies the op ``fn``
    (dispatching or reference) to them."""
    op: str
    label: str
    make: Callable
    call: Callable


def _ops():
    from mmmamba import ops
    return ops


def op_function(op, reference=False):
    """The dispatching op ``op`` of mmmamba.ops, or its reference."""
    return getattr(_ops(), op + ('_reference' if reference else ''))


def na2d_cases(batch, heads, dim, height, width, kernel, dilation, device,
                seed):
    """na2d_qk and na2d_av on a height × width map."""
    side_h, side_w = max(height, kernel), max(width, kernel)  # pad to K
    tag = f'B{batch} {side_h}×{side_w} h{heads}×{dim} K{kernel} δ{dilation}'

    def qk_inputs(dtype):
        gen = torch.Generator().manual_seed(seed)
        q, k = (leaf(batch, heads, side_h, side_w, dim, gen=gen,
                     device=device, dtype=dtype) for _ in range(2))
        rpb = leaf(heads, 2 * kernel - 1, 2 * kernel - 1, gen=gen,
                   device=device, dtype=dtype)
        return [q, k, rpb]

    def av_inputs(dtype):
        gen = torch.Generator().manual_seed(seed + 1)
        attn = leaf(batch, heads, side_h, side_w, kernel * kernel, gen=gen,
                    device=device, dtype=dtype, softmax=True)
        v = leaf(batch, heads, side_h, side_w, dim, gen=gen, device=device,
                 dtype=dtype)
        return [attn, v]

    return [
        OpCase('na2d_qk', tag, qk_inputs,
               lambda fn, q, k, rpb: fn(q, k, kernel, dilation, rpb)),
        OpCase('na2d_av', tag, av_inputs,
               lambda fn, a, v: fn(a, v, kernel, dilation)),
    ]


def scan_case(batch, channels, length, device, seed):
    """selective_scan_states with softplus(delta + bias), N = 1."""
    def inputs(dtype):
        gen = torch.Generator().manual_seed(seed)
        return [leaf(batch, channels, length, gen=gen, device=device,
                     dtype=dtype),
                leaf(batch, channels, length, gen=gen, device=device,
                     dtype=dtype, scale=0.5, shift=-1.0),
                leaf(channels, 1, gen=gen, device=device, dtype=dtype,
                     scale=0.1, shift=-0.5),
                leaf(batch, 1, length, gen=gen, device=device, dtype=dtype),
                leaf(channels, gen=gen, device=device, dtype=dtype,
                     scale=0.5)]

    return OpCase('selective_scan_states', f'B{batch} D{channels} L{length}',
                  inputs, lambda fn, *t: fn(*t, delta_softplus=True))


def aggregate_case(batch, groups, dim, height, width, kernel, dilation,
                    device, seed):
    """a2ssm_aggregate: local and dilated maps over the states."""
    heads = groups // 2
    side_h, side_w = max(height, kernel), max(width, kernel)

    def inputs(dtype):
        gen = torch.Generator().manual_seed(seed)
        maps = [leaf(batch, heads, side_h, side_w, kernel * kernel, gen=gen,
                     device=device, dtype=dtype, softmax=True)
                for _ in range(2)]
        return maps + [leaf(batch, groups, dim, height, width, gen=gen,
                            device=device, dtype=dtype)]

    return OpCase('a2ssm_aggregate',
                  f'B{batch} {height}×{width} G{groups}×{dim} K{kernel} '
                  f'δ{dilation}', inputs,
                  lambda fn, al, ad, st: fn(al, ad, st, kernel, dilation))


def _stage_cases(stage, batch, height, width, device, seed):
    """Local and dilated attention of one stage on a height × width map;
    the scan and the aggregation where the stage has an A2SSM."""
    from mmmamba.models.layers.neighborhood import stage_dilation
    kernel, groups, channels = stage.kernel, stage.heads, stage.channels
    heads, dim = groups // 2, channels // groups
    dilation = stage_dilation(height, width, kernel)
    cases = []
    for dil in dict.fromkeys([(1, 1), dilation]):
        cases += na2d_cases(batch, heads, dim, height, width, kernel, dil,
                             device, seed + len(cases))
    if stage.a2ssm:
        cases.append(scan_case(batch, channels, height * width, device,
                                seed + 10))
        cases.append(aggregate_case(batch, groups, dim, height, width,
                                     kernel, dilation, device, seed + 20))
    return cases


def op_cases(profile, device):
    """Every :class:`OpCase` of ``profile``: the stage shapes of
    ``profile.arch`` at ``profile.image``², the long scan (stage-1
    channels) and stage 1 on the ``profile.coco`` map."""
    from mmmamba.models.backbones.stage_shapes import stage_shapes
    stages = stage_shapes(profile.arch, profile.image)
    cases = []
    for stage in stages:
        cases += _stage_cases(stage, profile.batch, stage.size, stage.size,
                              device, seed=100 * stage.stage)
    cases.append(scan_case(profile.batch, stages[0].channels,
                            profile.long_scan, device, seed=500))
    cases += _stage_cases(stages[0], 1, *profile.coco, device, seed=600)
    return cases
