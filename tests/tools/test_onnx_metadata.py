"""mmmamba/deploy/metadata.py: what an export stores about its model equals
what mmdet's / mmseg's own data preprocessors and heads, built from the
config, do; it is written into a saved ONNX file without losing its other
props or its external data, and onnxruntime reads it back."""
import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from onnx import TensorProto, helper, numpy_helper

from mmmamba.deploy.metadata import (DRAW_SCORE_THR, PREFIX, model_metadata,
                                     read_metadata, write_metadata)
from tools_helpers import CONFIGS, QUICK_DET, QUICK_SEG


def parsed(cfg, task, shape=(96, 128)):
    meta = read_metadata(model_metadata(cfg, task, shape))
    assert meta['task'] == task and meta['input_hw'] == list(shape)
    return meta


def assert_normalisation(meta, pre, channel_conversion):
    """mean / std / channel swap as the built preprocessor applies them."""
    assert np.allclose(meta['mean'], pre.mean.flatten().numpy())
    assert np.allclose(meta['std'], pre.std.flatten().numpy())
    assert meta['bgr_to_rgb'] is channel_conversion


def test_detector_metadata_is_what_mmdet_does():
    from mmdet.models.data_preprocessors import DetDataPreprocessor
    cfg = Config.fromfile(QUICK_DET)
    pre = DetDataPreprocessor(
        **{k: v for k, v in cfg.model.data_preprocessor.items()
           if k != 'type'})
    meta = parsed(cfg, 'detection')
    assert_normalisation(meta, pre, pre._channel_conversion)
    assert meta['pad_value'] == pre.pad_value  # mmdet's default: 0
    assert meta['size_divisor'] == pre.pad_size_divisor == 32
    assert meta['keep_ratio'] is True  # the test pipeline's Resize
    assert meta['mask_thr'] == cfg.model.test_cfg.rcnn.mask_thr_binary
    assert meta['score_thr'] == DRAW_SCORE_THR
    info = cfg.test_dataloader.dataset.metainfo
    assert meta['classes'] == list(info.classes)
    assert meta['palette'] == [list(c) for c in info.palette]
    assert 'align_corners' not in meta


def test_segmentor_metadata_is_what_mmseg_does():
    """The released ADE20K recipe: classes and palette from the dataset
    class (the config names none), align_corners from the built head."""
    from mmseg.datasets import ADE20KDataset
    from mmseg.models.data_preprocessor import SegDataPreProcessor
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(f'{CONFIGS}/upernet_a2mamba_t_ade20k.py')
    pre = SegDataPreProcessor(
        **{k: v for k, v in cfg.model.data_preprocessor.items()
           if k != 'type'})
    meta = parsed(cfg, 'segmentation', (512, 512))
    assert_normalisation(meta, pre, pre.channel_conversion)
    assert meta['pad_value'] == pre.pad_val
    assert 'size_divisor' not in meta and pre.size_divisor is None
    # in mmseg's scope whatever an earlier test left as the default scope
    with DefaultScope.overwrite_default_scope('mmseg'):
        head = MODELS.build(copy.deepcopy(cfg.model.decode_head))
    assert meta['align_corners'] is head.align_corners
    assert meta['classes'] == list(ADE20KDataset.METAINFO['classes'])
    assert meta['palette'] == [list(c)
                               for c in ADE20KDataset.METAINFO['palette']]
    assert 'score_thr' not in meta and 'mask_thr' not in meta


def test_classes_without_a_palette_get_distinct_colours():
    cfg = Config.fromfile(QUICK_SEG)
    names = [f'class{i}' for i in range(40)]
    cfg.test_dataloader.dataset.metainfo = dict(classes=names)
    meta = parsed(cfg, 'segmentation')
    assert meta['classes'] == names
    assert len({tuple(c) for c in meta['palette']}) == len(names)
    assert all(0 <= v <= 255 for c in meta['palette'] for v in c)


def test_backbone_metadata_has_no_classes_and_tasks_are_checked():
    cfg = Config.fromfile(QUICK_DET)
    meta = parsed(cfg, 'backbone')
    assert 'classes' not in meta and 'score_thr' not in meta
    with pytest.raises(ValueError, match='task must be one of'):
        model_metadata(cfg, 'classification', (96, 128))
    assert read_metadata({'producer': 'x'}) == {}


def test_written_into_a_file_with_external_data(tmp_path):
    """Other props stay, the weights stored beside the file still load and
    onnxruntime's custom_metadata_map gives the same values back."""
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['x', 'w'], ['y'])], 'g',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(weight, 'w')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('',
                                                                        17)])
    helper.set_model_props(model, {'author': 'someone'})
    path = str(tmp_path / 'model.onnx')
    onnx.save(model, path, save_as_external_data=True,
              all_tensors_to_one_file=True, location='model.data',
              size_threshold=0)
    props = model_metadata(Config.fromfile(QUICK_DET), 'detection', (96, 128))
    write_metadata(path, props)
    write_metadata(path, props)  # again: replaced, not duplicated
    saved = onnx.load(path)
    keys = [p.key for p in saved.metadata_props]
    assert sorted(keys) == sorted(['author', *props])
    assert all(k.startswith(PREFIX) for k in props)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    x = np.ones((1, 2), np.float32)
    assert np.allclose(session.run(None, {'x': x})[0], x @ weight)
    stored = session.get_modelmeta().custom_metadata_map
    assert stored['author'] == 'someone'
    assert read_metadata(stored) == read_metadata(props)
