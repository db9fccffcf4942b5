"""Recompute segments: same numbers as the plain composition, fewer saved
tensors (docs/design.md § CPU execution)."""
import torch
import torch.nn.functional as F

from mmmamba.models.layers.ffn import ConvFFN
from mmmamba.models.layers.norm import LayerNorm2d


def saved_bytes(fn):
    """Bytes of the distinct non-parameter storages fn's graph saves."""
    seen = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, seen


def test_ffn_keeps_input_and_fc1_output_only_and_matches_the_formula():
    torch.manual_seed(0)
    ffn, norm = ConvFFN(8, 32), LayerNorm2d(8)
    x = torch.randn(2, 8, 9, 11, requires_grad=True)
    params = list(ffn.parameters()) + list(norm.parameters())
    ptrs = {p.untyped_storage().data_ptr() for p in params}
    out, seen = saved_bytes(lambda: ffn(x, norm))
    kept = {k: v for k, v in seen.items() if k not in ptrs}
    assert sorted(kept.values()) == [x.nbytes, 4 * x.nbytes]  # x, fc1 out
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, [x] + params, grad)

    n = F.layer_norm(x.permute(0, 2, 3, 1), (8,), norm.weight, norm.bias,
                     1e-6).permute(0, 3, 1, 2)
    h = F.gelu(F.conv2d(n, ffn.fc1.weight, ffn.fc1.bias))
    h = h + F.conv2d(h, ffn.dwconv.weight, ffn.dwconv.bias, padding=1,
                     groups=32)
    want_out = F.conv2d(h, ffn.fc2.weight, ffn.fc2.bias)
    want = torch.autograd.grad(want_out, [x] + params, grad)
    torch.testing.assert_close(out, want_out, rtol=1e-5, atol=1e-6)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-6)
