"""Export an mmseg/mmdet model with an A2Mamba backbone to ONNX, and check it.

What is exported (one input ``image``, a normalised ``N × 3 × H × W`` batch,
i.e. after the data preprocessor's mean/std and channel order; the batch
axis ``N`` is dynamic: one file serves any batch size):

- a segmentor (mmseg ``EncoderDecoder``): ``seg_logits``, its
  ``encode_decode`` at the input size (``N × classes × H × W``);
- a two-stage detector (Mask R-CNN, Cascade Mask R-CNN): ``dets``,
  ``labels`` and ``masks``, the whole detector (:mod:`.detector`);
- another detector, or any model with ``backbone_only``: the backbone's
  maps ``backbone_<i>``, then (unless ``backbone_only``) the neck's
  ``neck_<i>``.

The graph is fixed to H × W: the dilation of the dilated attention
(``min(n // K, K)``) and the small-map padding depend on each stage's map
size, so a model is exported once per input size. The mmmamba operators run
their ONNX formulations while exporting (``mmmamba/ops/<op>/onnx.py``: row
gathers and matrix products, a chunked scan) and adaptive pooling runs as
matmuls (:mod:`.adaptive_pool`), so the graph holds standard ONNX operators
only. Constants are not folded at export (onnxruntime folds them when it
loads the file), so the file holds the weights and small index tables,
not the expanded bias and one-hot tables.
"""
import contextlib
import os.path as osp
import statistics
import time
import warnings

import torch
import torch.nn as nn

from ..devtools import time_blocks
from .adaptive_pool import adaptive_pool_decomposition

DEFAULT_OPSET = 17  # LayerNormalization is a single operator from 17 on
OPSETS = range(14, 21)  # 14: Trilu; 20: the TorchScript exporter's newest
MIN_SIZE = 32  # the backbone's total stride
TOLERANCE = 1e-4  # max relative error allowed between onnxruntime and torch
STANDARD_DOMAINS = ('', 'ai.onnx')
DEPLOY_HINT = 'pip install -r requirements/deploy.txt'


class ExportMismatchError(RuntimeError):
    """onnxruntime's outputs differ from PyTorch's beyond the tolerance, or
    the graph holds a non-standard operator."""


class SegLogits(nn.Module):
    """``encode_decode`` of an mmseg segmentor for a batch of H × W
    images."""

    def __init__(self, segmentor, shape):
        super().__init__()
        self.segmentor = segmentor
        height, width = shape
        self.img_metas = [dict(img_shape=(height, width),
                               pad_shape=(height, width),
                               ori_shape=(height, width))]

    def forward(self, image):
        return self.segmentor.encode_decode(image, self.img_metas)

    def exported_parameters(self):
        """The parameters the graph holds (not the auxiliary heads', which
        ``encode_decode`` does not run)."""
        for name, param in self.segmentor.named_parameters():
            if not name.startswith('auxiliary_head.'):
                yield param


class FeatureMaps(nn.Module):
    """The backbone's maps, then the neck's (``with_neck``), as one tuple."""

    def __init__(self, model, with_neck):
        super().__init__()
        self.backbone = model.backbone
        self.neck = model.neck if with_neck else None

    def forward(self, image):
        feats = tuple(self.backbone(image))
        if self.neck is None:
            return feats
        return feats + tuple(self.neck(feats))


def export_module(model, shape, backbone_only=False):
    """``(module, output_names)``: what :func:`export_onnx` exports."""
    if not backbone_only and hasattr(model, 'encode_decode'):
        return SegLogits(model, shape).eval(), ['seg_logits']
    if not backbone_only and getattr(model, 'roi_head', None) is not None:
        from .detector import DetectorOutputs
        module = DetectorOutputs(model, shape).eval()
        return module, module.output_names
    if not hasattr(model, 'backbone'):
        raise ValueError(f'{type(model).__name__} has no backbone: export '
                         f'an mmseg segmentor or an mmdet detector.')
    with_neck = not backbone_only and getattr(model, 'neck', None) is not None
    module = FeatureMaps(model, with_neck).eval()
    with torch.no_grad():  # the number of outputs, on a dry run
        probe = torch.zeros(1, 3, *shape)
        num_backbone = len(module.backbone(probe))
        num_neck = len(module(probe)) - num_backbone if with_neck else 0
    names = ([f'backbone_{i}' for i in range(num_backbone)] +
             [f'neck_{i}' for i in range(num_neck)])
    return module, names


def weight_bytes(module):
    """fp32 bytes of the parameters an export of ``module`` (from
    :func:`export_module`) holds."""
    params = getattr(module, 'exported_parameters', module.parameters)()
    return sum(p.numel() * 4 for p in params)


def check_shape(shape):
    """``(H, W)`` ints of at least :data:`MIN_SIZE`; ValueError otherwise."""
    if len(shape) != 2 or any(int(s) != s for s in shape):
        raise ValueError(f'the input size must be two ints H W, got {shape}')
    height, width = (int(s) for s in shape)
    if min(height, width) < MIN_SIZE:
        raise ValueError(
            f'the input size must be at least {MIN_SIZE}×{MIN_SIZE} (the '
            f'backbone has stride {MIN_SIZE}), got {height}×{width}; export '
            f'at the size you will run, padded to at least {MIN_SIZE}.')
    return height, width


@contextlib.contextmanager
def _quiet_tracer():
    """The tracer warns about every shape it freezes into the graph: that is
    the fixed-size export we want. The exporter also reports the strided
    slices (RoPE) it leaves to onnxruntime to fold. Neither asks for action."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', 'You are using the legacy '
                                'TorchScript-based ONNX export')
        warnings.filterwarnings('ignore', 'Constant folding - Only steps=1')
        yield


def check_opset(opset):
    """ValueError unless the exporter and our operators support ``opset``."""
    if opset not in OPSETS:
        raise ValueError(f'opset must be in {OPSETS.start}..{OPSETS.stop - 1}'
                         f', got {opset}')


SHARED_CONSTANT_BYTES = 64  # Constant tensors from this size on are shared


def share_constants(model, min_bytes=SHARED_CONSTANT_BYTES):
    """Replace the ``Constant`` nodes of ``model`` (an ``onnx.ModelProto``,
    changed in place) that hold at least ``min_bytes`` by initializers, one
    per distinct tensor: the tracer writes a table once per use (every
    block's neighbourhood tables, masks and index vectors), a shared
    initializer holds it once. Returns the number of nodes removed."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    shared, renamed, kept = {}, {}, []
    for node in graph.node:
        tensor = node.attribute[0].t if (
            node.op_type == 'Constant' and len(node.attribute) == 1 and
            node.attribute[0].name == 'value') else None
        if (tensor is None or node.output[0] in outputs or
                len(tensor.raw_data) < min_bytes):
            kept.append(node)
            continue
        key = (tensor.data_type, tuple(tensor.dims), tensor.raw_data)
        if key not in shared:
            shared[key] = f'shared_constant_{len(shared)}'
            initializer = graph.initializer.add()
            initializer.CopyFrom(tensor)
            initializer.name = shared[key]
        renamed[node.output[0]] = shared[key]
    for node in kept:
        for i, name in enumerate(node.input):
            if name in renamed:
                node.input[i] = renamed[name]
    removed = len(graph.node) - len(kept)
    del graph.node[:]
    graph.node.extend(kept)
    return removed


def export_onnx(module, output_names, shape, path, opset=DEFAULT_OPSET):
    """Write ``module`` (from :func:`export_module`) to ``path`` for an
    ``N × 3 × H × W`` input (``N`` dynamic), with the TorchScript exporter,
    its repeated constants shared (:func:`share_constants`); returns the
    seconds the export took."""
    check_opset(opset)
    minimum = getattr(module, 'min_opset', OPSETS.start)
    if opset < minimum:
        raise ValueError(f'{type(module).__name__} needs opset >= {minimum}'
                         f', got {opset}')
    if hasattr(module, 'example_inputs'):  # more inputs than the image
        inputs = module.example_inputs()
    else:
        inputs = (torch.zeros(1, 3, *shape), )
    input_names = list(getattr(module, 'input_names', ['image']))
    batch_axis = {0: 'batch'}
    dynamic = {name: batch_axis for name in (*input_names, *output_names)}
    start = time.perf_counter()
    with torch.no_grad(), _quiet_tracer(), adaptive_pool_decomposition():
        torch.onnx.export(module, inputs, path, dynamo=False,
                          opset_version=opset, input_names=input_names,
                          output_names=list(output_names),
                          dynamic_axes=dynamic, do_constant_folding=False)
    onnx, _ = _import_runtime()
    model = onnx.load(path)
    share_constants(model)
    onnx.save(model, path)
    return time.perf_counter() - start


def _import_runtime():
    try:
        import onnx
        import onnxruntime
    except ImportError as error:
        raise ImportError(f'checking an ONNX export needs onnx and '
                          f'onnxruntime ({error}); {DEPLOY_HINT}') from None
    return onnx, onnxruntime


def check_operators(path):
    """ExportMismatchError if the graph uses an operator outside the
    standard ONNX domains (a custom op that slipped into the export)."""
    onnx, _ = _import_runtime()
    graph = onnx.load(path, load_external_data=False).graph
    custom = sorted({f'{n.domain}::{n.op_type}' for n in graph.node
                     if n.domain not in STANDARD_DOMAINS})
    if custom:
        raise ExportMismatchError(
            f'{path} uses non-standard operators {custom}; the export must '
            f'use standard ONNX operators only.')


def relative_error(actual, expected):
    """``max |actual - expected| / max |expected|`` (numpy arrays)."""
    scale = float(abs(expected).max())
    return float(abs(actual - expected).max()) / max(scale, 1e-12)


def ort_session(path):
    """An onnxruntime CPU session on ``path`` with torch's thread count (so
    that latencies compare like with like) and every graph optimisation."""
    _, ort = _import_runtime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    return ort.InferenceSession(path, options,
                                providers=['CPUExecutionProvider'])


def verify_onnx(path, module, output_names, shape, repeats=3, seed=0,
                tolerance=TOLERANCE, batch=1):
    """Run ``path`` with onnxruntime and ``module`` with PyTorch on one
    random ``batch × 3 × H × W`` input; return ``dict(errors, max_error,
    ort_seconds, torch_seconds)``.

    ``errors`` maps each output to its relative error
    (:func:`relative_error`); the latencies are medians of ``repeats`` runs,
    onnxruntime (with torch's thread count) and PyTorch each timed in
    blocks after a warm-up (:func:`~mmmamba.devtools.time_blocks`);
    ``ort_times`` and ``torch_times`` list every run. Raises
    ExportMismatchError if an output differs by more than ``tolerance``.
    """
    check_operators(path)
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, *shape, generator=gen)
    session = ort_session(path)
    feeds = {'image': image.numpy()}
    actual = session.run(list(output_names), feeds)
    with torch.no_grad():
        expected = module(image)
    if isinstance(expected, torch.Tensor):
        expected = (expected, )
    errors = {name: relative_error(a, e.numpy())
              for name, a, e in zip(output_names, actual, expected)}
    worst = max(errors, key=errors.get)
    result = dict(errors=errors, max_error=errors[worst])
    if errors[worst] > tolerance:
        raise ExportMismatchError(
            f'{osp.basename(path)}: onnxruntime and PyTorch differ on output '
            f'{worst!r} by a relative error of {errors[worst]:.3g} (> '
            f'{tolerance:g}); the export is not faithful, do not deploy it.')
    with torch.no_grad():
        ort_times, torch_times = time_blocks(
            [lambda: session.run(None, feeds), lambda: module(image)],
            repeats)
    result.update(ort_seconds=statistics.median(ort_times),
                  torch_seconds=statistics.median(torch_times),
                  ort_times=ort_times, torch_times=torch_times)
    return result
