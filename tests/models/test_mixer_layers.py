"""Layer-level checks against independent formulas."""
import math

import torch
import torch.nn.functional as F

from mmmamba.models.layers.neighborhood import (neighborhood_softmax,
                                                pad_to_window, padding_mask,
                                                stage_dilation)
from mmmamba.models.layers.a2ssm import A2SSM
from mmmamba.models.layers.mixer import MASSMixer, resize_bias
from mmmamba.models.layers.rope import RoPE2d, apply_rope
from mmmamba.models.utils.memory_format import contiguous_output


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


def test_resize_bias_equals_bicubic_interpolate():
    bias = torch.randn(1, 4, 49, 49, dtype=torch.float64)
    for tokens in (256, 100, 25, 16, 1):  # up- and downsampling
        want = F.interpolate(bias, size=(tokens, tokens), mode='bicubic',
                             align_corners=False)
        torch.testing.assert_close(resize_bias(bias, tokens), want,
                                   rtol=1e-12, atol=1e-12)


def _global_mixer():
    torch.manual_seed(0)
    return MASSMixer(32, 4, 3, global_attn=True, global_tokens=16).eval()


def test_global_bias_cached_without_autograd_until_the_parameter_changes():
    mixer = _global_mixer()
    with torch.no_grad():
        first = mixer._resized_global_bias(36)
        assert mixer._resized_global_bias(36) is first  # reused
        torch.testing.assert_close(first, resize_bias(mixer.global_bias, 36))
        other = mixer._resized_global_bias(64)  # another size replaces it
        assert other.shape[-1] == 64
        assert mixer._resized_global_bias(36) is not first
        mixer.global_bias.add_(1.0)  # what an optimizer step does
        updated = mixer._resized_global_bias(36)
    torch.testing.assert_close(updated, resize_bias(mixer.global_bias, 36))
    state = {k: v + 1 for k, v in mixer.state_dict().items()}
    mixer.load_state_dict(state)
    with torch.no_grad():
        loaded = mixer._resized_global_bias(36)
    torch.testing.assert_close(loaded, resize_bias(mixer.global_bias, 36))


def test_global_bias_not_cached_while_autograd_records():
    mixer = _global_mixer().train()
    first = mixer._resized_global_bias(36)
    second = mixer._resized_global_bias(36)
    assert first is not second and first.requires_grad
    second.sum().backward()  # the gradient reaches the parameter
    want = torch.autograd.grad(resize_bias(mixer.global_bias, 36).sum(),
                               mixer.global_bias)[0]
    torch.testing.assert_close(mixer.global_bias.grad, want)


def test_contiguous_output_sends_channels_last_gradients_back():
    x = torch.randn(2, 8, 5, 6).contiguous(
        memory_format=torch.channels_last).requires_grad_()
    out = contiguous_output(x * 2)
    assert out.is_contiguous()
    grad = torch.randn(2, 8, 5, 6)  # what an NCHW head sends back
    out.backward(grad)
    torch.testing.assert_close(x.grad, 2 * grad)
    assert x.grad.is_contiguous(memory_format=torch.channels_last)


def test_mixer_is_layout_agnostic():
    """The mixer gives the same result for NCHW and channels-last inputs."""
    torch.manual_seed(0)
    mixer = MASSMixer(32, 4, 5).eval()
    sin, cos = RoPE2d(8)(12, 14)
    x = torch.randn(2, 32, 12, 14)
    with torch.no_grad():
        plain = mixer(x, sin, cos)
        last = mixer(x.contiguous(memory_format=torch.channels_last), sin,
                     cos)
    torch.testing.assert_close(last, plain, rtol=1e-5, atol=1e-5)


def test_resize_bias_stays_in_the_bias_dtype_under_autocast():
    bias = torch.randn(1, 2, 49, 49)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        got = resize_bias(bias, 64)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, resize_bias(bias, 64))
