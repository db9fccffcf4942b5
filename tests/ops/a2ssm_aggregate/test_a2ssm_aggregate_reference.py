"""The A2SSM aggregation reference against two explicit neighborhood
attention calls written out with the brute-force loops of oracles.py."""
import torch
import torch.nn.functional as F
from op_testing import aggregate_inputs
from oracles import brute_av

from mmmamba.ops import a2ssm_aggregate_reference


def test_reference_is_two_na2d_av_calls():
    """Local heads with dilation 1, dilated heads with (3, 2), on the states
    as values zero-padded to the maps, cropped back."""
    attn_l, attn_d, states = aggregate_inputs(2, 4, 3, 9, 10, 9, 11, 3,
                                              torch.float64)
    values = F.pad(states.permute(0, 1, 3, 4, 2), (0, 0, 0, 1))  # B,G,9,11,d
    local = brute_av(attn_l, values[:, :2], 3, 1)
    dilated = brute_av(attn_d, values[:, 2:], 3, (3, 2))
    want = torch.cat([local, dilated], 1)[:, :, :, :10].permute(0, 1, 4, 2, 3)
    got = a2ssm_aggregate_reference(attn_l, attn_d, states, 3, (3, 2))
    assert got.shape == states.shape and got.is_contiguous()
    torch.testing.assert_close(got, want)


def test_maps_are_cast_to_the_states_dtype():
    """bf16 maps (autocast) with fp32 states: fp32 out, the maps' values."""
    attn_l, attn_d, states = aggregate_inputs(1, 2, 2, 7, 7, 7, 7, 3, seed=2)
    low = [a.bfloat16() for a in (attn_l, attn_d)]
    got = a2ssm_aggregate_reference(*low, states, 3, 2)
    assert got.dtype == torch.float32
    torch.testing.assert_close(
        got, a2ssm_aggregate_reference(*(a.float() for a in low), states, 3,
                                       2))
