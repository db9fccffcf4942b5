"""The two exported forms of the neighbourhood attention in onnxruntime, per
A2Mamba stage shape (not a test).

For each stage of A2Mamba-T (``--arch``) at the input sizes given, and for
its local (dilation 1) and dilated attention, exports ``na2d_av(softmax(
na2d_qk(q, k, rpb)), v)`` twice through the public ops: in the window form
(the one-hot picks; ``HALO_FORM_RATIO`` set to 0 while exporting) and as
the export chooses (``mmmamba/ops/neighborhood/onnx.py``: the halo form
wherever the halo has at most ``HALO_FORM_RATIO`` times the window's
places). Both files run with onnxruntime's CPU provider (torch's thread
count), medians of ``--reps`` runs taken in alternation; prints both times,
their ratio, the halo / window places ratio and the form chosen.

    .venv/bin/python benchmarks/bench_onnx_attention.py
        [--sizes 512:1 224:8] [--arch tiny] [--reps 15]
"""
import argparse
import io
import statistics
import time

import onnxruntime as ort
import torch

from mmmamba.models.backbones.stage_shapes import stage_shapes
from mmmamba.ops import na2d_av, na2d_qk
from mmmamba.ops.neighborhood import onnx as na_onnx


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', nargs='+', default=['512:1', '224:8'],
                        help='input side:batch pairs (default 512:1 224:8)')
    parser.add_argument('--arch', default='tiny')
    parser.add_argument('--reps', type=int, default=15)
    return parser.parse_args(argv)


class Attention(torch.nn.Module):
    """One neighbourhood attention: softmax(qk + rpb) · v."""

    def __init__(self, heads, kernel, dilation):
        super().__init__()
        self.kernel, self.dilation = kernel, dilation
        self.rpb = torch.nn.Parameter(
            torch.randn(heads, 2 * kernel - 1, 2 * kernel - 1) * 0.02)

    def forward(self, q, k, v):
        attn = na2d_qk(q, k, self.kernel, self.dilation, rpb=self.rpb)
        return na2d_av(attn.softmax(-1), v, self.kernel, self.dilation)


def session(module, inputs, ratio):
    """An onnxruntime session of ``module`` exported with
    ``HALO_FORM_RATIO = ratio``."""
    buffer = io.BytesIO()
    saved = na_onnx.HALO_FORM_RATIO
    na_onnx.HALO_FORM_RATIO = ratio
    try:
        torch.onnx.export(module, inputs, buffer, dynamo=False,
                          input_names=['q', 'k', 'v'],
                          do_constant_folding=False)
    finally:
        na_onnx.HALO_FORM_RATIO = saved
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(buffer.getvalue(), options,
                                providers=['CPUExecutionProvider'])


def compare(sessions, feeds, reps):
    """Median seconds of each session, runs taken in alternation."""
    times = [[] for _ in sessions]
    for s in sessions:  # warm-up
        s.run(None, feeds)
    for _ in range(reps):
        for s, t in zip(sessions, times):
            start = time.perf_counter()
            s.run(None, feeds)
            t.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(0)
    print(f'onnxruntime {ort.__version__}, {torch.get_num_threads()} threads,'
          f' A2Mamba-{args.arch}, medians of {args.reps} alternating runs')
    print(f'{"input":>9} {"map":>5} {"K":>3} {"dil":>4} {"halo/win":>8} '
          f'{"window ms":>10} {"halo ms":>8} {"speed-up":>8}  exported')
    for spec in args.sizes:
        image, batch = map(int, spec.split(':'))
        for s in stage_shapes(args.arch, image):
            if s.size < s.kernel:  # the mixer pads such maps to the window
                print(f'{image:>5}×{batch:<3} {s.size:>5} {s.kernel:>3}  '
                      f'(smaller than the window: padded, not timed)')
                continue
            heads, dim = s.heads // 2, s.channels // s.heads
            for dilation in sorted({1, s.dilation}):
                q, k, v = (torch.randn(batch, heads, s.size, s.size, dim)
                           for _ in range(3))
                module = Attention(heads, s.kernel, dilation).eval()
                pair = ((s.kernel, s.kernel), (dilation, dilation))
                places = na_onnx.tiled_shape(s.size, s.size, *pair)[3]
                window, halo = compare(
                    [session(module, (q, k, v), 0.0),
                     session(module, (q, k, v), float('inf'))],
                    dict(q=q.numpy(), k=k.numpy(), v=v.numpy()), args.reps)
                chosen = ('halo' if na_onnx.halo_form(s.size, s.size, *pair)
                          else 'window')
                print(f'{image:>5}×{batch:<3} {s.size:>5} {s.kernel:>3} '
                      f'{dilation:>4} {places / s.kernel**2:>8.2f} '
                      f'{window * 1e3:>10.2f} {halo * 1e3:>8.2f} '
                      f'{window / halo:>8.2f}  {chosen}')


if __name__ == '__main__':
    main()
