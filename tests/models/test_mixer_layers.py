"""Layer-level checks against independent formulas."""
import math

import torch
import torch.nn.functional as F

from mmmamba.models.layers.neighborhood import (neighborhood_softmax,
                                                pad_to_window, padding_mask,
                                                stage_dilation)
from mmmamba.models.layers.rope import RoPE2d, apply_rope
from mmmamba.models.layers.a2ssm import A2SSM


def test_rope_matches_formula():
    d, H, W = 8, 3, 5
    rope = RoPE2d(d)
    sin, cos = rope(H, W)
    x = torch.randn(H, W, d, dtype=torch.float64)
    out = apply_rope(x, sin.double(), cos.double())
    freqs = [10000**(-t) for t in torch.linspace(0, 1, d // 4).tolist()]
    for i in range(H):
        for j in range(W):
            for p in range(d // 2):  # pair p: dims (2p, 2p+1)
                pos = i if 2 * p < d // 2 else j
                theta = pos * freqs[(p % (d // 4))]
                x0, x1 = x[i, j, 2 * p], x[i, j, 2 * p + 1]
                expect0 = x0 * math.cos(theta) - x1 * math.sin(theta)
                expect1 = x1 * math.cos(theta) + x0 * math.sin(theta)
                assert abs(out[i, j, 2 * p] - expect0) < 1e-5
                assert abs(out[i, j, 2 * p + 1] - expect1) < 1e-5


def test_stage_dilation_formula():
    assert stage_dilation(56, 56, 11) == (5, 5)
    assert stage_dilation(128, 30, 11) == (11, 2)
    assert stage_dilation(4, 200, 7) == (1, 7)


def test_small_map_attends_to_all_real_positions():
    """A map smaller than the window: each query sees every real pixel with
    the bias of the true offset (the documented small-map rule)."""
    torch.manual_seed(0)
    K, H, W, d = 7, 3, 5, 4
    q = torch.randn(1, 2, H, W, d, dtype=torch.float64)
    k = torch.randn(1, 2, H, W, d, dtype=torch.float64)
    rpb = torch.randn(2, 2 * K - 1, 2 * K - 1, dtype=torch.float64)
    mask = padding_mask(H, W, K, 1, q)
    attn = neighborhood_softmax(pad_to_window(q, K), pad_to_window(k, K), rpb,
                                K, 1, mask)[:, :, :H, :W]  # B,h,H,W,K*K
    for h in range(2):
        for i in range(H):
            for j in range(W):
                logits = torch.tensor([
                    float(q[0, h, i, j] @ k[0, h, r, c] +
                          rpb[h, K - 1 + r - i, K - 1 + c - j])
                    for r in range(H) for c in range(W)
                ], dtype=torch.float64)
                expect = logits.softmax(0)
                got = attn[0, h, i, j]
                nonzero = got[got > 0]
                assert nonzero.numel() == H * W
                torch.testing.assert_close(nonzero.sort().values,
                                           expect.sort().values)


def test_a2ssm_matches_explicit_recurrence():
    """A2SSM on a map whose windows cover it: aggregation = attention over
    the sequential-loop hidden states, then head mix, ⊙C and +D·x."""
    torch.manual_seed(0)
    C, G, K, H, W = 8, 2, 3, 3, 3
    ssm = A2SSM(C, G).double()
    torch.nn.init.normal_(ssm.A_log, std=0.5)
    y = torch.randn(1, C, H, W, dtype=torch.float64)
    attn = torch.rand(1, G // 2, H, W, K * K, dtype=torch.float64)
    attn = attn / attn.sum(-1, keepdim=True)
    out = ssm(y, attn, attn, K, (1, 1))

    xs = F.silu(ssm.conv(y)).flatten(2)[0]  # C, L
    dbl = ssm.x_proj.weight @ xs
    dt = ssm.dt_proj.weight @ dbl[:ssm.dt_rank] + ssm.dt_proj.bias[:, None]
    delta = F.softplus(dt)
    A = -ssm.A_log.exp()[:, 0]
    b, c = dbl[ssm.dt_rank], dbl[ssm.dt_rank + 1]
    h = torch.zeros(C, dtype=torch.float64)
    states = []
    for t in range(H * W):
        h = torch.exp(delta[:, t] * A) * h + delta[:, t] * b[t] * xs[:, t]
        states.append(h)
    states = torch.stack(states, 1).view(G, C // G, H, W)  # G, d, H, W
    # K = 3 = H = W: every query's window is the whole 3×3 map, row-major
    agg = torch.einsum('gijn,gdn->gdij', attn[0].repeat(G, 1, 1, 1),
                       states.flatten(2))
    mixed = torch.einsum('og,gdij->odij', ssm.head_mix.weight[:, :, 0, 0],
                         agg) + ssm.head_mix.bias[:, None, None, None]
    expect = mixed.reshape(C, H * W) * c + ssm.D[:, None] * xs
    torch.testing.assert_close(out[0].reshape(C, -1), expect)
