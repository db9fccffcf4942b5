"""tools/deploy/infer_onnx.py: an exported segmentor runs with onnxruntime,
numpy and OpenCV alone (a venv of requirements/onnx_runtime.txt, without
torch) and predicts what mmseg's own inference predicts on the same image;
its preprocessing, resize rule and mask pasting match OpenMMLab's."""
import copy
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from tools_helpers import (INFER, QUICK_SEG, export_seeded_model, load_tool,
                           run_in_venv)

SHAPE = (128, 128)  # the graph's input size (H, W)


@pytest.fixture(scope='module')
def image(tmp_path_factory):
    """A 72×96 picture of coloured shapes (not the graph's aspect ratio, so
    the input is resized and padded)."""
    rng = np.random.default_rng(0)
    picture = np.full((72, 96, 3), 40, np.uint8)
    for _ in range(6):
        x, y = rng.integers(0, 80), rng.integers(0, 60)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(picture, (x, y), (x + 20, y + 14), color, -1)
    path = tmp_path_factory.mktemp('image') / 'shapes.png'
    cv2.imwrite(str(path), picture)
    return path


@pytest.fixture(scope='module')
def segmentor(tmp_path_factory):
    """The quick-start UperNet (test arch, random weights), exported at
    SHAPE: ``(onnx path, model, cfg)``."""
    return export_seeded_model(QUICK_SEG, SHAPE,
                               tmp_path_factory.mktemp('seg_export'))


def mmseg_prediction(model, cfg, image):
    """mmseg's own inference of ``image`` with the test pipeline resizing
    into SHAPE and the data preprocessor padding to SHAPE, as the graph's
    input is: ``(labels, top-1 minus top-2 logit)``."""
    from mmseg.apis import inference_model
    cfg = copy.deepcopy(cfg)
    cfg.test_pipeline[1] = dict(type='Resize', scale=SHAPE[::-1],
                                keep_ratio=True)
    model.cfg = cfg
    model.data_preprocessor.test_cfg = dict(size=SHAPE)
    with torch.no_grad():
        result = inference_model(model, str(image))
    logits = result.seg_logits.data  # C, H0, W0
    top2 = logits.topk(2, dim=0).values
    return (result.pred_sem_seg.data[0].numpy(),
            (top2[0] - top2[1]).numpy())


def test_the_runtime_venv_has_no_torch_and_no_openmmlab(runtime_venv):
    for module in ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmseg'):
        proc = run_in_venv(runtime_venv, '-c', f'import {module}')
        assert proc.returncode != 0, f'{module} imports in the runtime venv'
    assert run_in_venv(runtime_venv, '-c',
                       'import onnxruntime, numpy, cv2').returncode == 0


def test_segmentor_runs_without_torch_and_draws(runtime_venv, segmentor,
                                                image, tmp_path):
    out = tmp_path / 'seg.png'
    proc = run_in_venv(runtime_venv, INFER, str(segmentor[0]), str(image),
                       '--out', str(out), '--threads', '1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'classes' in proc.stdout and 'ms at 128x128' in proc.stdout
    picture = cv2.imread(str(out))
    # input | prediction, each enlarged to >= 512 px on its long side
    assert picture.shape[1] >= 2 * 512 and picture.shape[0] >= 384


def test_segmentation_equals_mmseg_inference(segmentor, image, tmp_path):
    path, model, cfg = segmentor
    labels = load_tool('deploy/infer_onnx').main(
        [str(path), str(image), '--out', str(tmp_path / 'seg.png')])
    expected, margin = mmseg_prediction(model, cfg, image)
    assert labels.shape == expected.shape == (72, 96)
    clear = margin > 1e-3  # pixels whose arg-max no rounding can flip
    assert (labels[clear] == expected[clear]).all()
    assert (labels == expected).mean() >= 0.999


def test_metadata_holds_what_the_config_says(segmentor):
    import onnx
    from mmmamba.deploy.metadata import read_metadata
    path, _, cfg = segmentor
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    meta = read_metadata(props)
    pre = cfg.model.data_preprocessor
    assert meta['task'] == 'segmentation'
    assert meta['input_hw'] == list(SHAPE)
    assert meta['mean'] == list(pre.mean) and meta['std'] == list(pre.std)
    assert meta['bgr_to_rgb'] is True and meta['pad_value'] == pre.pad_val
    info = cfg.test_dataloader.dataset.metainfo
    assert meta['classes'] == list(info.classes)
    assert meta['palette'] == [list(c) for c in info.palette]


def test_resize_fits_the_graph_rounded_as_mmcv_rounds():
    """An image is scaled by the largest factor that fits it into the
    graph's input, and its new size rounded as mmcv rounds, for shapes
    wider, taller, smaller than and equal to the input."""
    import mmcv
    infer = load_tool('deploy/infer_onnx')
    meta = dict(input_hw=[128, 160], keep_ratio=True)
    for shape in ((72, 96), (300, 100), (50, 400), (128, 160), (33, 47)):
        factor = min(128 / shape[0], 160 / shape[1])
        want_w, want_h = mmcv.rescale_size(shape[::-1], factor)
        got = infer.fit_size(*shape, meta)
        assert got == (want_h, want_w), shape
        assert got[0] <= 128 and got[1] <= 160 and (got[0] == 128
                                                     or got[1] == 160)
    assert infer.fit_size(72, 96, dict(meta, keep_ratio=False)) == (128, 160)


def test_mask_paste_matches_mmdet():
    """Pasting an M×M mask into a box gives mmdet's _do_paste_mask result
    (grid_sample, pixel centres): the same pixels but where the two float
    paths round a value next to the threshold differently."""
    from mmdet.models.roi_heads.mask_heads.fcn_mask_head import \
        _do_paste_mask
    infer = load_tool('deploy/infer_onnx')
    rng = np.random.default_rng(1)
    for box in ((10.3, 5.7, 60.2, 41.9), (0.0, 0.0, 95.0, 71.0),
                (70.5, 50.2, 120.0, 90.0)):
        mask = rng.random((28, 28)).astype(np.float32)
        mask = cv2.GaussianBlur(mask, (5, 5), 2)  # blobs, not noise
        got = infer.paste_mask(mask, box, (72, 96), 0.5)
        want, _ = _do_paste_mask(torch.from_numpy(mask)[None, None],
                                 torch.tensor([box]), 72, 96,
                                 skip_empty=False)
        want = want[0].numpy() >= 0.5
        union = (got | want).sum()
        assert union > 0 and (got & want).sum() / union >= 0.995, box


def test_clear_errors(segmentor, image, tmp_path):
    tool = [sys.executable, INFER]
    out = str(tmp_path / 'x.png')
    cases = [
        ([str(tmp_path / 'missing.onnx'), str(image)], 'does not exist'),
        ([str(segmentor[0]), str(tmp_path / 'missing.png')],
         'missing.png does not exist'),
        ([str(segmentor[0]), str(segmentor[0])],
         'is not an image OpenCV can read'),
    ]
    plain = tmp_path / 'plain.onnx'  # a valid ONNX file without metadata
    import onnx
    model = onnx.load(str(segmentor[0]))
    del model.metadata_props[:]
    onnx.save(model, str(plain))
    cases.append(([str(plain), str(image)], 'no mmmamba metadata'))
    for args, message in cases:
        proc = subprocess.run(tool + args + ['--out', out],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.startswith('infer_onnx.py: error: ') and \
            message in proc.stderr, proc.stderr
        assert 'Traceback' not in proc.stderr
