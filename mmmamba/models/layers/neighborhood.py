"""Neighborhood attention weights of the MASS mixer on maps of any size.

The released model needs every stage map to be at least one window (K) on
each side and crashes otherwise (below 193 px input). mmmamba's rule for a
map smaller than the window on an axis (n < K): zero-pad that axis to K and
mask the padded keys, so each query attends to every real position of the
axis with the relative-position bias of the true offsets -- the limit of
NATTEN's border rule. The dilation formula gives 0 there; 1 is used. Maps of
at least K on both axes are never padded, so results are identical to the
released model wherever it runs.
"""
import torch
import torch.nn.functional as F

from mmmamba.ops import na2d_qk


def stage_dilation(height, width, kernel_size):
    """δ = min(n // K, K) per axis, recomputed every forward (at least 1)."""
    return (max(1, min(height // kernel_size, kernel_size)),
            max(1, min(width // kernel_size, kernel_size)))


def pad_to_window(x, kernel_size):
    """Zero-pad a B×h×H×W×d map at the bottom/right to at least K×K."""
    height, width = x.shape[2:4]
    pad_h, pad_w = max(kernel_size - height, 0), max(kernel_size - width, 0)
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    return x


def padding_mask(height, width, kernel_size, dilation, like):
    """Additive logit mask (Hp, Wp, K*K): -inf where a neighbour is padding.

    Returns None when the map needs no padding. The mask is derived by the
    same ``na2d_qk`` that computes the logits (an all-ones query against a
    key that is 1 on real pixels), so it follows its window rule exactly and
    its layout (while exporting, the halo form where ``na2d_qk`` exports
    it: one mask per dilation).
    """
    padded_h, padded_w = max(height, kernel_size), max(width, kernel_size)
    if (padded_h, padded_w) == (height, width):
        return None
    real = like.new_zeros(1, 1, padded_h, padded_w, 1)
    real[:, :, :height, :width] = 1
    with torch.no_grad():
        hits = na2d_qk(torch.ones_like(real), real, kernel_size, dilation)
    mask = torch.zeros_like(hits[0, 0])  # Hp, Wp, K*K
    return mask.masked_fill(hits[0, 0] == 0, float('-inf'))


def neighborhood_softmax(query, key, rpb, kernel_size, dilation, mask):
    """softmax(qk + rpb [+ mask]) over the K*K neighbours, in q's dtype
    (autocast computes the softmax in fp32; ``na2d_av`` wants one dtype)."""
    logits = na2d_qk(query, key, kernel_size, dilation, rpb=rpb)
    if mask is not None:
        logits = logits + mask  # B, h, Hp, Wp, K*K
    return logits.softmax(dim=-1).to(query.dtype)
