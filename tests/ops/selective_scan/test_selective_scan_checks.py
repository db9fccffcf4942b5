"""The argument errors of ``selective_scan_states``: the same message from
the reference and from the public op on the compiled kernels."""
import pytest
import torch

from mmmamba.ops import (selective_scan_states,
                         selective_scan_states_reference, use_backend)


def _forced_cpu(**args):
    with use_backend('cpu'):
        return selective_scan_states(**args)


@pytest.mark.parametrize('scan', [selective_scan_states_reference,
                                  _forced_cpu], ids=['reference', 'cpu'])
@pytest.mark.parametrize('change,match', [
    (dict(u=torch.zeros(2, 3)), r'u must be 3-D \(batch, D, L\), got shape '
     r'\(2, 3\)'),
    (dict(delta=torch.zeros(2, 3, 9)), r'delta must have the shape of u '
     r'\(2, 3, 10\), got \(2, 3, 9\)'),
    (dict(A=torch.zeros(4, 2)), r'A must be 2-D \(D, N\) with D = 3, got '
     r'shape \(4, 2\)'),
    (dict(A=torch.zeros(3)), r'A must be 2-D \(D, N\)'),
    (dict(A=torch.zeros(3, 0)), r'N >= 1'),
    (dict(B=torch.zeros(2, 3, 10)), r'B must be \(batch, N, L\) = '
     r'\(2, 2, 10\) .*got shape \(2, 3, 10\)'),
    (dict(B=torch.zeros(2, 2, 9)), r'got shape \(2, 2, 9\)'),
    (dict(B=torch.zeros(1, 2, 10)), r'got shape \(1, 2, 10\)'),
    (dict(B=torch.zeros(2, 2, 2, 10)), r'a 4-D B must be \(batch, 1, N, L\) '
     r'\(one group\)'),
    (dict(B=torch.zeros(2, 20)), r'B must be \(batch, N, L\) or '
     r'\(batch, 1, N, L\)'),
    (dict(delta_bias=torch.zeros(2)), r'delta_bias must have shape \(D,\) = '
     r'\(3,\), got \(2,\)'),
    (dict(u=torch.zeros(2, 3, 10, dtype=torch.long)),
     'u must be a floating-point tensor'),
    (dict(B=torch.zeros(2, 2, 10, device='meta')),
     'all inputs must be on one device; u is on cpu, B on meta'),
    (dict(A=[[0.0]]), 'A must be a torch.Tensor'),
])
def test_rejects_bad_arguments(scan, change, match):
    args = dict(u=torch.zeros(2, 3, 10), delta=torch.zeros(2, 3, 10),
                A=torch.zeros(3, 2), B=torch.zeros(2, 2, 10),
                delta_bias=torch.zeros(3))
    args.update(change)
    with pytest.raises(ValueError, match=match):
        scan(**args)
