"""tools/deploy/export_onnx.py: the graphs run in onnxruntime and give
PyTorch's outputs; bad arguments fail with a clear message."""
import copy

import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmmamba.deploy import (ExportMismatchError, adaptive_pool_matrix,
                            export_module, export_onnx, relative_error,
                            verify_onnx)
from mmmamba.deploy.adaptive_pool import (adaptive_avg_pool2d_matmul,
                                          adaptive_pool_decomposition)
from mmmamba.ops import BackendUnavailableError, na2d_qk, use_backend
from tools_helpers import (CONFIGS, QUICK_DET, QUICK_SEG, downstream_config,
                           load_tool)


@pytest.fixture(scope='module')
def tool():
    return load_tool('deploy/export_onnx')


@pytest.fixture(scope='module')
def models(tool, tmp_path_factory):
    """The test-arch UperNet, Semantic FPN + MASSFPN and Mask R-CNN, randomly
    initialised, each with its checkpoint written in the mmengine layout."""
    root = tmp_path_factory.mktemp('configs')
    semfpn = downstream_config(
        root, f'{CONFIGS}/semfpn_a2mamba_t_massfpn_ade20k.py', root)
    out = {}
    for name, config in (('seg', QUICK_SEG), ('semfpn', semfpn),
                         ('det', QUICK_DET)):
        torch.manual_seed(0)
        model, _ = tool.build_from_config(config)
        path = tmp_path_factory.mktemp(name) / 'model.pth'
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
        out[name] = (config, path, model.eval())
    return out


def run_onnx(path, image):
    """Every output of ``path`` for ``image``, in graph order, and the
    domains of its operators."""
    graph = onnx.load(str(path)).graph
    session = ort.InferenceSession(str(path),
                                   providers=['CPUExecutionProvider'])
    outputs = session.run(None, {'image': image.numpy()})
    return outputs, {n.domain for n in graph.node}


def assert_matches(outputs, expected):
    assert len(outputs) == len(expected)
    for actual, want in zip(outputs, expected):
        assert actual.shape == tuple(want.shape)
        assert relative_error(actual, want.numpy()) < 1e-4


def export(tool, tmp_path, config, checkpoint, shape, *extra):
    out = tmp_path / 'model.onnx'
    result = tool.main([str(config), str(checkpoint), '--shape', *map(
        str, shape), '--out', str(out), '--repeats', '1', *extra])
    assert result['max_error'] < 1e-4
    assert result['ort_seconds'] > 0 and result['torch_seconds'] > 0
    assert result['speedup'] == pytest.approx(result['torch_seconds'] /
                                              result['ort_seconds'])
    assert result['file_bytes'] == out.stat().st_size
    assert 0 < result['weight_bytes'] < result['file_bytes']
    return out


@pytest.mark.parametrize('name,shape', [('seg', (96, 160)),
                                        ('semfpn', (64, 96))])
def test_segmentor_logits_at_an_odd_size(tool, models, tmp_path, name,
                                         shape):
    config, checkpoint, model = models[name]
    path = export(tool, tmp_path, config, checkpoint, shape)
    image = torch.randn(1, 3, *shape)
    outputs, domains = run_onnx(path, image)
    assert domains <= {'', 'ai.onnx'}
    with torch.no_grad():
        logits = model.encode_decode(image, [dict(img_shape=shape)])
    assert logits.shape == (1, model.decode_head.num_classes, *shape)
    assert_matches(outputs, [logits])


def test_whole_detector_at_an_odd_size(tool, models, tmp_path):
    config, checkpoint, _ = models['det']
    out = tmp_path / 'model.onnx'
    result = tool.main([str(config), str(checkpoint), '--shape', '96', '160',
                        '--out', str(out), '--repeats', '1'])
    assert result['match']['unmatched'] == 0
    assert result['match']['count'] == 100  # the config's max_per_img
    outputs = [o.name for o in onnx.load(str(out)).graph.output]
    assert outputs == ['dets', 'labels', 'masks']


def test_detector_without_roi_head_exports_backbone_and_neck(models,
                                                             tmp_path):
    _, _, model = models['det']
    single_stage = copy.deepcopy(model)
    single_stage.roi_head = None  # what a one-stage detector has
    module, names = export_module(single_stage, (96, 160))
    assert names == [f'backbone_{i}' for i in range(4)] + [
        f'neck_{i}' for i in range(5)]  # four stages, five FPN levels
    path = tmp_path / 'model.onnx'
    export_onnx(module, names, (96, 160), str(path))
    image = torch.randn(1, 3, 96, 160)
    outputs, _ = run_onnx(path, image)
    with torch.no_grad():
        feats = model.backbone(image)
        expected = list(feats) + list(model.neck(feats))
    assert_matches(outputs, expected)


def test_backbone_only_with_maps_below_the_window(tool, models, tmp_path):
    # 32x48: every stage map (8x12 ... 1x2) is smaller than its window on
    # at least one axis, so every mixer pads and masks (the small-map rule)
    config, checkpoint, model = models['det']
    path = export(tool, tmp_path, config, checkpoint, (32, 48),
                  '--backbone-only')
    image = torch.randn(1, 3, 32, 48)
    outputs, _ = run_onnx(path, image)
    with torch.no_grad():
        assert_matches(outputs, model.backbone(image))


@pytest.mark.parametrize('size,oh,ow', [((16, 16), 3, 6), ((7, 11), 2, 4),
                                        ((5, 5), 1, 1)])
def test_adaptive_pool_matrices_pool_like_torch(size, oh, ow):
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    p_h = adaptive_pool_matrix(size[0], oh, torch.float64)
    p_w = adaptive_pool_matrix(size[1], ow, torch.float64)
    torch.testing.assert_close(p_h @ x @ p_w.T,
                               F.adaptive_avg_pool2d(x, (oh, ow)))


@pytest.mark.parametrize('size,out', [((16, 16), (3, 6)), ((7, 11), 2),
                                      ((9, 5), (None, 2))])
def test_adaptive_pool_runs_as_matmuls_while_exporting(size, out):
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    pool = nn.AdaptiveAvgPool2d(out)
    with adaptive_pool_decomposition():
        assert F.adaptive_avg_pool2d is adaptive_avg_pool2d_matmul
        pooled = pool(x)
    assert F.adaptive_avg_pool2d is not adaptive_avg_pool2d_matmul
    torch.testing.assert_close(pooled, pool(x))


def test_one_file_serves_batches_1_to_8_at_opset_20(tool, models, tmp_path):
    config, checkpoint, model = models['seg']
    path = export(tool, tmp_path, config, checkpoint, (64, 96), '--opset',
                  '20', '--batch', '3')
    assert onnx.load(str(path)).opset_import[0].version == 20
    for batch in (1, 8):
        image = torch.randn(batch, 3, 64, 96)
        outputs, _ = run_onnx(path, image)
        with torch.no_grad():
            logits = model.encode_decode(image, [dict(img_shape=(64, 96))])
        assert_matches(outputs, [logits])


class _Conv(nn.Module):
    def __init__(self, bias):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        nn.init.constant_(self.conv.bias, bias)

    def forward(self, image):
        return self.conv(image)


def test_a_graph_that_differs_from_pytorch_fails_the_check(tmp_path):
    path = str(tmp_path / 'conv.onnx')
    torch.manual_seed(0)
    exported = _Conv(0.0)
    other = _Conv(0.0)  # different random weights
    export_onnx(exported, ['out'], (8, 8), path)
    assert verify_onnx(path, exported, ['out'], (8, 8), 1)['max_error'] < 1e-6
    with pytest.raises(ExportMismatchError, match="output 'out'.*> 0.0001"):
        verify_onnx(path, other, ['out'], (8, 8), 1)


class _Attention(nn.Module):
    def forward(self, image):
        q = image.unsqueeze(-1)  # B, 3 heads, H, W, 1
        return na2d_qk(q, q, 3)


def test_a_forced_kernel_backend_cannot_be_exported(tmp_path):
    with use_backend('cpu'):
        with pytest.raises(BackendUnavailableError,
                           match='cannot be exported to ONNX'):
            export_onnx(_Attention(), ['out'], (8, 8),
                        str(tmp_path / 'a.onnx'))


@pytest.mark.parametrize('shape,message', [
    ((31, 64), 'at least 32×32'), ((64, 16), 'at least 32×32')])
def test_too_small_a_shape_is_refused(tool, models, tmp_path, shape,
                                      message):
    config, checkpoint, _ = models['seg']
    with pytest.raises(ValueError, match=message):
        export(tool, tmp_path, config, checkpoint, shape)


def test_missing_or_foreign_checkpoints_are_refused(tool, models, tmp_path):
    from _errors import ToolError
    config, checkpoint, _ = models['seg']
    with pytest.raises(ToolError, match='does not exist'):
        export(tool, tmp_path, config, tmp_path / 'missing.pth', (64, 64))
    det_checkpoint = models['det'][1]
    with pytest.raises(ToolError, match='does not hold the weights'):
        export(tool, tmp_path, config, det_checkpoint, (64, 64))
    bare = tmp_path / 'bare.pth'
    torch.save({'weights': {}}, bare)
    with pytest.raises(KeyError, match="no state dict under 'state_dict'"):
        export(tool, tmp_path, config, bare, (64, 64))


@pytest.mark.parametrize('out', ['missing_dir/model.onnx', '.'])
def test_a_bad_out_is_refused_before_tracing(tool, models, tmp_path, out,
                                             monkeypatch):
    """A missing directory or a directory as --out fails at once, in one
    line, without building the model."""
    from _errors import run_tool
    config, checkpoint, _ = models['seg']
    monkeypatch.setattr(tool, 'build_from_config', None)  # must not run
    monkeypatch.chdir(tmp_path)
    assert run_tool(tool.main, [config, str(checkpoint), '--shape', '64',
                                '64', '--out', out], tool='export') == 1


def test_an_unknown_opset_or_a_bad_batch_is_refused(tool, models, tmp_path):
    config, checkpoint, _ = models['seg']
    with pytest.raises(ValueError, match='opset must be in 14..20'):
        export(tool, tmp_path, config, checkpoint, (64, 64), '--opset', '9')
    from _errors import ToolError
    with pytest.raises(ToolError, match='--batch must be >= 1'):
        export(tool, tmp_path, config, checkpoint, (64, 64), '--batch', '0')
