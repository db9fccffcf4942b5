"""The matmul formulation of the scan (what ONNX exports) against the
float64 sequential loop and the chunked reference."""
import pytest
import torch
from op_testing import gen_for, scan_inputs
from oracles import brute_scan, sequential_linear_scan

from mmmamba.ops.selective_scan.matmul_scan import (
    chunk_decay, linear_scan_matmul, selective_scan_states_matmul)
from mmmamba.ops.selective_scan.reference import linear_scan


@pytest.mark.parametrize('length', [1, 7, 16, 17, 33, 300, 1100])
def test_matches_sequential_loop(length):
    u, delta, A, B, bias = scan_inputs(2, 3, 2, length, seed=length)
    h = selective_scan_states_matmul(u, delta, A, B, bias)
    assert h.shape == (2, 3, 2, length) and h.dtype == torch.float32
    torch.testing.assert_close(h.double(), brute_scan(u, delta, A, B, bias),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('chunk', [2, 3, 5])
def test_any_chunk_matches_the_sequential_loop(chunk):
    gen = gen_for(chunk)
    log_a = -torch.rand(2, 4, 59, generator=gen, dtype=torch.float64) * 2
    x = torch.randn(2, 4, 59, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(linear_scan_matmul(log_a, x, chunk),
                               sequential_linear_scan(log_a, x))


def test_strong_decay_stays_finite():
    # steps that decay by e^-80 next to steps that barely decay: a ratio of
    # cumulative decays would overflow, the segment sums do not
    log_a = torch.tensor([-80.0, -0.01] * 40).view(1, 80)
    x = torch.ones(1, 80)
    h = linear_scan_matmul(log_a, x)
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h, linear_scan(log_a, x))
    torch.testing.assert_close(h.double(),
                               sequential_linear_scan(log_a.double(),
                                                      x.double()))


def test_chunk_decay_is_the_product_of_the_steps_between():
    log_a = torch.tensor([-0.5, -1.0, -2.0])
    expected = torch.tensor([[1.0, 0.0, 0.0],
                             [torch.e**-1.0, 1.0, 0.0],
                             [torch.e**-3.0, torch.e**-2.0, 1.0]])
    torch.testing.assert_close(chunk_decay(log_a), expected)
