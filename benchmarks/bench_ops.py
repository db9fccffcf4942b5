"""Reference vs C++ CPU kernels for the mmmamba operators (not a test).

Median wall times, forward and forward+backward, at the stage shapes of
A2Mamba-T on a 512² input (batch 1), printed as ratios measured in one run
(neighborhood attention, the scan of stages 1-3, the fused A2SSM
aggregation, and the fused aggregation against two na2d_av calls);
plus the selective scan's achieved memory bandwidth next to a plain tensor
copy of the same bytes, and the scan against a sequential PyTorch loop at
B=2, D=96, L=4096.

    .venv/bin/python benchmarks/bench_ops.py [--reps 5] [--batch 1]
"""
import argparse

import torch
import torch.nn.functional as F

from mmmamba.devtools import median_seconds as timeit
from mmmamba.ops import (a2ssm_aggregate, explain_backend, na2d_av,
                         na2d_qk, selective_scan_states, use_backend)

# A2Mamba-T at 512²: (name, H=W, channels, heads G, kernel K); SLA/DLA use
# G/2 heads each, dilation min(H // K, K).
STAGES = [('stage1', 128, 48, 2, 11), ('stage2', 64, 96, 4, 9),
          ('stage3', 32, 256, 8, 7), ('stage4', 16, 448, 16, 7)]


def compare(label, make_fn, reps):
    """Median times of one workload on the reference and the cpu backend."""
    results = {}
    for backend in ('reference', 'cpu'):
        with use_backend(backend):
            results[backend] = timeit(make_fn(), reps)
    ref, cpu = results['reference'], results['cpu']
    print(f'{label:<34} ref {ref * 1e3:9.2f} ms   cpu {cpu * 1e3:8.2f} ms   '
          f'x{ref / cpu:7.1f}')
    return ref, cpu


def neighborhood(batch, size, channels, heads, kernel, reps):
    g, d = heads // 2, channels // heads
    dil = min(size // kernel, kernel)
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=gen).requires_grad_()

    q, k, v = (rand(batch, g, size, size, d) for _ in range(3))
    rpb = rand(g, 2 * kernel - 1, 2 * kernel - 1)
    attn = rand(batch, g, size, size, kernel * kernel).softmax(-1).detach()
    attn.requires_grad_()
    tag = f'K{kernel} d{dil} {size}x{size} h{g}x{d}'

    def qk_fwd():
        return lambda: na2d_qk(q, k, kernel, dil, rpb=rpb)

    def qk_bwd():
        return lambda: na2d_qk(q, k, kernel, dil, rpb=rpb).sum().backward()

    def av_fwd():
        return lambda: na2d_av(attn, v, kernel, dil)

    def av_bwd():
        return lambda: na2d_av(attn, v, kernel, dil).sum().backward()

    def full(backward):
        def run():
            for dl in (1, dil):  # SLA and DLA of one MASS mixer
                out = na2d_av(na2d_qk(q, k, kernel, dl, rpb=rpb).softmax(-1),
                              v, kernel, dl)
                if backward:
                    out.sum().backward()
        return lambda: run()

    totals = {}
    totals['qk fwd'] = compare(f'  na2d_qk fwd       {tag}', qk_fwd, reps)
    totals['qk f+b'] = compare(f'  na2d_qk fwd+bwd   {tag}', qk_bwd, reps)
    totals['av fwd'] = compare(f'  na2d_av fwd       {tag}', av_fwd, reps)
    totals['av f+b'] = compare(f'  na2d_av fwd+bwd   {tag}', av_bwd, reps)
    totals['sla+dla fwd'] = compare('  SLA+DLA qk/softmax/av fwd', lambda:
                                    full(False), reps)
    totals['sla+dla f+b'] = compare('  SLA+DLA qk/softmax/av fwd+bwd', lambda:
                                    full(True), reps)
    return totals


def unfused_aggregate(attn_local, attn_dilated, states, kernel, dil):
    """The A2SSM aggregation as two dispatched na2d_av calls (pre-fusion)."""
    g = attn_local.shape[1]
    height, width = states.shape[-2:]
    values = states.permute(0, 1, 3, 4, 2)  # B, G, H, W, d
    local = na2d_av(attn_local, values[:, :g], kernel, 1)
    dilated = na2d_av(attn_dilated, values[:, g:], kernel, dil)
    out = torch.cat([local, dilated], 1)[:, :, :height, :width]
    return out.permute(0, 1, 4, 2, 3).contiguous()  # B, G, d, H, W


def aggregate(batch, size, channels, heads, kernel, reps):
    """Fused A2SSM aggregation: reference vs cpu, and fused vs unfused."""
    g, d = heads // 2, channels // heads
    dil = min(size // kernel, kernel)
    gen = torch.Generator().manual_seed(1)
    maps = [torch.randn(batch, g, size, size, kernel * kernel,
                        generator=gen).softmax(-1).requires_grad_()
            for _ in range(2)]
    states = torch.randn(batch, heads, d, size, size,
                         generator=gen).requires_grad_()

    def run(fn, backward):
        def step():
            out = fn(*maps, states, kernel, dil)
            if backward:
                out.sum().backward()
        return lambda: step

    tag = f'K{kernel} d{dil} {size}x{size} G{heads}x{d}'
    totals = {
        'aggregate fwd': compare(f'  a2ssm_aggregate fwd     {tag}',
                                 run(a2ssm_aggregate, False), reps),
        'aggregate f+b': compare(f'  a2ssm_aggregate fwd+bwd {tag}',
                                 run(a2ssm_aggregate, True), reps),
    }
    with use_backend('cpu'):
        for label, backward in (('fwd', False), ('fwd+bwd', True)):
            unfused = timeit(run(unfused_aggregate, backward)(), reps)
            fused = timeit(run(a2ssm_aggregate, backward)(), reps)
            print(f'  cpu fused vs 2x na2d_av {label:<8} unfused '
                  f'{unfused * 1e3:8.2f} ms   fused {fused * 1e3:8.2f} ms   '
                  f'x{unfused / fused:5.2f}')
    return totals


def scan_inputs(batch, channels, length, state=1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, channels, length, generator=gen)
    delta = torch.randn(batch, channels, length, generator=gen) * 0.5 - 1
    A = -torch.rand(channels, state, generator=gen) - 0.1
    B = torch.randn(batch, 1, state, length, generator=gen)
    bias = torch.randn(channels, generator=gen) * 0.5
    tensors = [u, delta, A, B, bias]
    return [t.requires_grad_() for t in tensors]


def scan(batch, channels, length, reps):
    u, delta, A, B, bias = scan_inputs(batch, channels, length)

    def fwd():
        return lambda: selective_scan_states(u, delta, A, B, bias)

    def fwd_bwd():
        return lambda: selective_scan_states(u, delta, A, B, bias).sum(
        ).backward()

    tag = f'D{channels} L{length}'
    return (compare(f'  scan fwd          {tag}', fwd, reps),
            compare(f'  scan fwd+bwd      {tag}', fwd_bwd, reps))


def scan_bandwidth(batch, channels, length, reps):
    u, delta, A, B, bias = (t.detach() for t in scan_inputs(
        batch, channels, length))
    with use_backend('cpu'):
        seconds = timeit(lambda: selective_scan_states(u, delta, A, B, bias),
                         reps)
    # reads u, delta, B; writes h (fp32, N = 1)
    nbytes = 4 * (3 * batch * channels * length + batch * length)
    src = torch.randn(nbytes // 8)  # a copy reads and writes half each
    dst = torch.empty_like(src)
    copy = timeit(lambda: dst.copy_(src), reps)
    print(f'  scan D{channels} L{length}: {nbytes / seconds / 1e9:6.2f} GB/s'
          f'   tensor copy of the same bytes: {nbytes / copy / 1e9:6.2f} '
          f'GB/s   (scan / copy time x{seconds / copy:.1f})')


def sequential_loop_scan(u, delta, A, B, bias):
    """The plain PyTorch loop over time (the naive baseline)."""
    dt = F.softplus(delta + bias[:, None])  # b, D, L
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    states = []
    for t in range(u.shape[-1]):
        h = torch.exp(dt[:, :, t, None] * A) * h + (
            dt[:, :, t, None] * B[:, 0, None, :, t] * u[:, :, t, None])
        states.append(h)
    return torch.stack(states, -1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--reps', type=int, default=5)
    parser.add_argument('--batch', type=int, default=1)
    args = parser.parse_args()
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; '
          f'cpu backend: {explain_backend("na2d_qk", torch.empty(1))}')
    print('ratio = reference time / cpu-kernel time (median of '
          f'{args.reps}), A2Mamba-T at 512², batch {args.batch}')
    sums = {}
    for name, size, channels, heads, kernel in STAGES:
        print(f'{name}: {size}x{size}, C={channels}, G={heads}, K={kernel}')
        results = neighborhood(args.batch, size, channels, heads, kernel,
                               args.reps)
        if name != 'stage4':  # stage 4 mixes with global attention, no A2SSM
            results.update(zip(('scan fwd', 'scan f+b'), scan(
                args.batch, channels, size * size, args.reps)))
            results.update(aggregate(args.batch, size, channels, heads,
                                     kernel, args.reps))
        for key, (ref, cpu) in results.items():
            r, c = sums.get(key, (0.0, 0.0))
            sums[key] = (r + ref, c + cpu)
    print('all four stages (sum of medians):')
    for key, (ref, cpu) in sums.items():
        print(f'  {key:<14} ref {ref * 1e3:9.1f} ms  cpu {cpu * 1e3:8.1f} ms'
              f'  x{ref / cpu:6.1f}')
    print('scan bandwidth (cpu kernel, forward):')
    scan_bandwidth(args.batch, 48, 128 * 128, args.reps)
    scan_bandwidth(2, 96, 4096, args.reps)
    print('scan fwd+bwd vs a sequential PyTorch loop, B=2, D=96, L=4096:')
    inputs = scan_inputs(2, 96, 4096)
    loop = timeit(lambda: sequential_loop_scan(*inputs).sum().backward(), 1)
    with use_backend('cpu'):
        kern = timeit(lambda: selective_scan_states(*inputs).sum().backward(),
                      args.reps)
    print(f'  loop {loop * 1e3:.1f} ms   cpu kernel {kern * 1e3:.2f} ms   '
          f'x{loop / kern:.0f}')


if __name__ == '__main__':
    main()
