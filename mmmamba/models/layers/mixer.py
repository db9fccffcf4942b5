"""Mixer (docs/design.md § MASS mixer): cascaded local and dilated neighborhood
attention, followed by A2SSM (stages 1-3) or global attention (stage 4)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model.weight_init import trunc_normal_

from mmmamba.ops import na2d_av
from mmmamba.ops.onnx_shapes import static_shape
from .a2ssm import A2SSM
from .depthwise_conv import DepthwiseConv2d
from .neighborhood import (neighborhood_softmax, pad_to_window, padding_mask,
                           stage_dilation)
from .norm import LayerNorm2d
from .precision import island_dtype
from .recompute import recompute
from .rope import apply_rope


class MASSMixer(nn.Module):
    """Multi-scale attention-augmented state-space mixer.

    Heads [0, G/2) run sliding local attention (dilation 1); heads [G/2, G)
    run dilated attention on the local output plus their values, with the
    dilation ``min(n // K, K)`` per axis. The two attention maps then
    aggregate the A2SSM hidden states (``global_attn=False``), or a global
    attention with a resized absolute bias follows (``global_attn=True``,
    stage 4).

    Args:
        channels (int): C.
        num_heads (int): G, even; C / G must be divisible by 4 (2-D RoPE).
        kernel_size (int): odd window size K.
        global_attn (bool): stage-4 mixer instead of A2SSM.
        global_tokens (int): side² of the map the global bias was trained
            on (49 = 7×7 at 224 px).
        norm_cfg (dict): norm of the gate branch.
    """

    def __init__(self, channels, num_heads, kernel_size, global_attn=False,
                 global_tokens=49, norm_cfg=dict(type='BN')):
        super().__init__()
        if num_heads % 2 or channels % num_heads:
            raise ValueError(
                f'MASSMixer needs an even number of heads dividing the '
                f'channels, got channels={channels}, num_heads={num_heads}')
        if kernel_size % 2 == 0 or kernel_size < 1:
            raise ValueError(f'kernel_size must be odd and positive, got '
                             f'{kernel_size}')
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.kernel_size = kernel_size
        self.scale = self.head_dim**-0.5
        self.gate = nn.Sequential(nn.Conv2d(channels, channels, 1),
                                  build_norm_layer(norm_cfg, channels)[1],
                                  nn.SiLU())
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.lepe = DepthwiseConv2d(channels, 5, kernel_without_grad=False)
        # one bias shared by the local and the dilated attention
        self.rpb = nn.Parameter(
            torch.zeros(num_heads // 2, 2 * kernel_size - 1,
                        2 * kernel_size - 1))
        trunc_normal_(self.rpb, std=0.02)
        if global_attn:
            self.global_bias = nn.Parameter(
                torch.zeros(1, num_heads, global_tokens, global_tokens))
            trunc_normal_(self.global_bias, std=0.02)
            self._bias_cache = (None, None)  # (key, resized bias)
            self.a2ssm = None
        else:
            self.global_bias = None
            self.a2ssm = A2SSM(channels, num_heads)
        self.norm = LayerNorm2d(channels)
        self.proj = nn.Sequential(LayerNorm2d(channels),
                                  nn.Conv2d(channels, channels, 1))

    def forward(self, x, sin, cos, norm=nn.Identity()):
        """Mixer of ``norm(x)``; x: B×C×H×W (fastest channels-last); sin,
        cos: H×W×d RoPE tables. Returns B×C×H×W, channels-last.

        The pre-norm is recomputed in backward (run once per consumer)
        rather than its output saved beside its input."""
        C, H, W = static_shape(x)  # ints: constants in an export's graph
        G, g, d, K = self.num_heads, self.num_heads // 2, self.head_dim, \
            self.kernel_size
        conv, gate_norm, _ = self.gate
        gate = gate_norm(recompute(lambda t: conv(norm(t)), x))  # B,C,H,W
        # q, k, v from the NHWC qkv output: backward then writes their
        # gradients straight into the conv's channels-last layout (a view
        # taken NCHW-first makes autograd transpose them twice). v is copied
        # out (lepe and the attention read it), so that once RoPE has copied
        # q and k nothing keeps the 3C-channel qkv alive for backward.
        # Split, not sliced: backward then concatenates the parts' gradients
        # once, where each slice would zero-fill a 3C-channel map of its own.
        qk, v_map = recompute(lambda t: self.qkv(norm(t)), x).permute(
            0, 2, 3, 1).split([2 * C, C], dim=3)  # B, H, W, 2C and C
        v_map = v_map.contiguous()  # B, H, W, C
        lepe = self.lepe(v_map.permute(0, 3, 1, 2))  # B, C, H, W
        q, k = qk.unflatten(3, (2, G, d)).permute(
            3, 0, 4, 1, 2, 5)  # each B, G, H, W, d
        v = v_map.unflatten(3, (G, d)).permute(0, 3, 1, 2, 4)
        q = apply_rope(q, sin, cos).mul_(self.scale)  # B, G, H, W, d
        k = apply_rope(k, sin, cos)  # B, G, H, W, d

        dilation = stage_dilation(H, W, K)
        # the local heads [0, g) and the dilated heads [g, G), each B, g,
        # Hp, Wp, d (split: one gradient concatenation, no zero-filled maps)
        (q_loc, q_dil), (k_loc, k_dil), (v_loc, v_dil) = (
            pad_to_window(t, K).split(g, dim=1) for t in (q, k, v))
        # a mask per attention, laid out as its logits (the exported logits'
        # layout depends on the dilation: ops/neighborhood/onnx.py); padded
        # axes have dilation 1, so without dilation one mask serves both
        mask = padding_mask(H, W, K, 1, q)  # Hp, Wp, K*K or None
        mask_dilated = mask if dilation == (1, 1) else padding_mask(
            H, W, K, dilation, q)
        attn_local = neighborhood_softmax(q_loc, k_loc, self.rpb, K, 1,
                                          mask)  # B, g, Hp, Wp, K*K
        out_local = na2d_av(attn_local, v_loc, K, 1)  # B, g, Hp, Wp, d
        attn_dilated = neighborhood_softmax(q_dil, k_dil, self.rpb, K,
                                            dilation, mask_dilated)
        out_dilated = na2d_av(attn_dilated, out_local + v_dil, K,
                              dilation)  # B, g, Hp, Wp, d
        if self.a2ssm is None:
            y = crop(torch.cat([out_local, out_dilated], dim=1), H, W)
            y = merge_heads([self._global_attention(q, k, y)], H, W)
        else:
            y = merge_heads([out_local, out_dilated], H, W)  # B, C, H, W
            y = self.a2ssm(y, attn_local, attn_dilated, K, dilation)

        z = lepe.add_(self.norm(y))  # into the fresh conv output
        return recompute(self._gated_proj, z, gate)

    def _gated_proj(self, z, gate):
        """``proj(z · SiLU(gate))``, the product in the fp32 island. Run as
        a recompute segment: backward keeps z and the pre-activation gate,
        not the SiLU output, the product and the proj norm's output."""
        gate = self.gate[2](gate)  # B, C, H, W
        dtype = self.qkv.weight.dtype  # the module's (a cast model's) dtype
        island = island_dtype(dtype)
        with torch.autocast(device_type=z.device.type, enabled=False):
            z = z.to(island) * gate.to(island)
        return self.proj(z.to(dtype))

    def _global_attention(self, q, k, v):
        """Attention over all pixels; q, k, v: B×G×H×W×d."""
        B, G, H, W, d = q.shape
        L = H * W
        bias = self._resized_global_bias(L)  # 1, G, L, L
        logits = q.reshape(B, G, L, d) @ k.reshape(B, G, L, d).transpose(
            -2, -1)  # B, G, L, L
        attn = (logits + bias).softmax(dim=-1)
        return (attn @ v.reshape(B, G, L, d)).view(B, G, H, W, d)

    def _resized_global_bias(self, tokens):
        """The global bias resized (bicubic) to ``tokens`` × ``tokens``.

        Without autograd (eval, inference) the resized bias of the last size
        is kept and reused while the parameter is unchanged (its version
        counter, which in-place updates such as optimizer steps and
        ``load_state_dict`` bump); a training forward resizes every time.
        """
        bias = self.global_bias  # 1, G, L0, L0
        if bias.shape[-1] == tokens:
            return bias
        cacheable = not (torch.is_grad_enabled() and bias.requires_grad) \
            and not torch.compiler.is_compiling() \
            and not torch.jit.is_tracing() \
            and not torch.onnx.is_in_onnx_export()
        if not cacheable:
            return resize_bias(bias, tokens)
        key = (tokens, bias.dtype, bias.device, bias.data_ptr(),
               bias._version)
        if self._bias_cache[0] != key:
            self._bias_cache = (key, resize_bias(bias, tokens))
        return self._bias_cache[1]


def resize_bias(bias, tokens):
    """1×G×L0×L0 → 1×G×L×L, bicubic (align_corners=False), as the released
    model resizes it.

    The 2-D bicubic resize is separable: it equals R·B·Rᵀ with R (L×L0)
    the 1-D resize of the identity, taken with the same kernel. Two small
    matmuls replace the 2-D pass, whose backward takes 13 ms per call on
    CPU at a 512² input (49² → 256² tokens).
    """
    size = bias.shape[-1]
    eye = torch.eye(size, dtype=bias.dtype, device=bias.device)
    resize = F.interpolate(eye.view(1, size, size, 1), size=(tokens, 1),
                           mode='bicubic', align_corners=False)
    resize = resize.view(size, tokens).t()  # L, L0
    # in the bias's dtype, as the interpolation was (autocast would take
    # the matmuls to half precision)
    with torch.autocast(device_type=bias.device.type, enabled=False):
        return resize @ bias @ resize.t()  # 1, G, L, L


def merge_heads(parts, height, width):
    """Head groups B×h×Hp×Wp×d (cropped to H×W) → one B×C×H×W map laid out
    channels-last (one copy, which ``cat`` makes)."""
    nhwc = torch.cat([crop(p, height, width).permute(0, 2, 3, 1, 4)
                      for p in parts], dim=3)  # B, H, W, G, d
    return nhwc.flatten(3).permute(0, 3, 1, 2)  # B, C, H, W


def crop(x, height, width):
    """B×h×Hp×Wp×d → B×h×H×W×d; x itself when unpadded (a no-op slice
    would still cost a zero-filled map and a copy in backward)."""
    if x.shape[2:4] == (height, width):
        return x
    return x[:, :, :height, :width]
