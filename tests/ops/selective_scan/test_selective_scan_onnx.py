"""The exported formulation of the scan (``selective_scan_states_onnx``)
against the float64 sequential loop and the chunked reference, and the
public op exporting it."""
import pytest
import torch
import torch.nn.functional as F
from onnx_testing import assert_relative, assert_same_grads, run_exported
from op_testing import gen_for, scan_inputs
from oracles import brute_scan, sequential_linear_scan

from mmmamba.ops import selective_scan_states, selective_scan_states_reference
from mmmamba.ops.selective_scan.onnx import (chunk_for, linear_scan_onnx,
                                             selective_scan_states_onnx,
                                             softplus_onnx)


@pytest.mark.parametrize('length', [1, 7, 16, 17, 196, 300, 331, 1100])
def test_matches_the_sequential_loop(length):
    u, delta, A, B, bias = scan_inputs(2, 3, 2, length, seed=length)
    h = selective_scan_states_onnx(u, delta, A, B, bias)
    assert h.shape == (2, 3, 2, length) and h.dtype == torch.float32
    torch.testing.assert_close(h.double(), brute_scan(u, delta, A, B, bias),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('chunk', [2, 3, 5])
def test_any_chunk_matches_the_sequential_loop(chunk):
    gen = gen_for(chunk)
    log_a = -torch.rand(2, 4, 59, generator=gen, dtype=torch.float64) * 2
    x = torch.randn(2, 4, 59, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(linear_scan_onnx(log_a, x, chunk),
                               sequential_linear_scan(log_a, x))


@pytest.mark.parametrize('length,chunk', [
    (196, 14),  # 14×14, stage 3 at 224²
    (3136, 16),  # 56×56
    (252, 14),  # 14×18: 14 and 18 tie, the shorter wins
    (1100, 20),
    (20, 20),  # one chunk
    (331, 16),  # prime: padded to 21 chunks of 16
    (7, 16),
])
def test_the_chunk_divides_the_length_where_it_can(length, chunk):
    assert chunk_for(length) == chunk


@pytest.mark.parametrize('length,pads', [(196, 1), (197, 3)])
def test_only_a_length_without_a_divisor_is_padded(length, pads):
    # one Pad shifts the chunk end states into entry states; a prime
    # length pads both terms as well
    inputs = scan_inputs(1, 4, 1, length, seed=2)
    (h, ), ops = run_exported(selective_scan_states, inputs, 17)
    assert_relative(h, selective_scan_states_reference(*inputs))
    assert ops['Pad'] == pads


def test_softplus_matches_torch_on_both_sides_of_the_threshold():
    x = torch.cat([torch.linspace(-30, 40, 7001),
                   torch.tensor([19.999, 20., 20.001, 1e4, -1e4])])
    got = softplus_onnx(x)
    torch.testing.assert_close(got, F.softplus(x), rtol=2e-7, atol=0)
    assert torch.equal(got[x > 20], x[x > 20])


@pytest.mark.parametrize('length,group_dim', [(40, False), (300, True)])
def test_outputs_and_grads_match_the_reference(length, group_dim):
    inputs = scan_inputs(2, 3, 1, length, seed=length, group_dim=group_dim)
    assert_same_grads(selective_scan_states_onnx,
                      selective_scan_states_reference, inputs)


@pytest.mark.parametrize('opset', [17, 20])
def test_the_public_op_exports_the_chunked_scan(opset):
    inputs = scan_inputs(1, 4, 1, 333, seed=1)
    (h, ), ops = run_exported(selective_scan_states, inputs, opset)
    assert_relative(h, selective_scan_states_reference(*inputs))
    assert 'CumSum' in ops and 'MatMul' not in ops  # not the T×T matmuls
