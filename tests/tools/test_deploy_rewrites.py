"""The detector export's rewrites (mmmamba/deploy/boxes, nms, roi): run by
onnxruntime, they give mmdet's / mmcv's results on random inputs."""
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn

from mmmamba.deploy.boxes import box_limits, decode_deltas, delta_decoder
from mmmamba.deploy.nms import batched_nms
from mmmamba.deploy.roi import MultiLevelRoiAlign


def run_in_ort(module, inputs, path, opset):
    """``module`` exported with the TorchScript exporter and run by
    onnxruntime on ``inputs``."""
    names = [f'in{i}' for i in range(len(inputs))]
    with torch.no_grad():
        torch.onnx.export(module, tuple(inputs), str(path), dynamo=False,
                          opset_version=opset, input_names=names)
    session = ort.InferenceSession(str(path),
                                   providers=['CPUExecutionProvider'])
    return session.run(None, {n: t.numpy() for n, t in zip(names, inputs)})


def random_boxes(gen, shape, low=5.0, high=40.0, span=60.0):
    corner = torch.rand(*shape, 2, generator=gen) * span
    size = low + torch.rand(*shape, 2, generator=gen) * (high - low)
    return torch.cat([corner, corner + size], -1)


def test_deltas_decode_as_mmdet_delta2bbox():
    from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import (
        DeltaXYWHBBoxCoder, delta2bbox)
    gen = torch.Generator().manual_seed(0)
    priors = random_boxes(gen, (500, ))
    deltas = torch.randn(500, 4, generator=gen)
    deltas[::7, 2:] *= 8  # beyond log(1000 / 16): the ratio clip
    coder = DeltaXYWHBBoxCoder(target_means=[0.1, -0.1, 0.0, 0.2],
                               target_stds=[0.1, 0.1, 0.2, 0.2])
    limits = box_limits(torch.tensor([[70, 90]]))  # H 70, W 90
    ours = decode_deltas(priors, deltas, limits, **delta_decoder(coder))
    ref = delta2bbox(priors, deltas, coder.means, coder.stds,
                     max_shape=(70, 90), clip_border=True)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-5)
    assert (ours[:, 2] == 90).any() and (ours[:, 0] == 0).any()  # clipped
    with pytest.raises(ValueError, match='add_ctr_clamp'):
        delta_decoder(DeltaXYWHBBoxCoder(add_ctr_clamp=True))


class _Nms(nn.Module):
    def forward(self, boxes, scores, groups, valid):
        return batched_nms(boxes, scores, groups, valid > 0, 0.5, 0.05, 30)


@pytest.mark.parametrize('opset', [17, 20])
def test_batched_nms_in_onnxruntime_keeps_what_mmcv_keeps(opset, tmp_path):
    from mmcv.ops import batched_nms as mmcv_batched_nms
    gen = torch.Generator().manual_seed(opset)
    boxes = random_boxes(gen, (2, 300))
    scores = torch.rand(2, 300, generator=gen)
    groups = torch.randint(0, 3, (2, 300), generator=gen)
    valid = (torch.rand(2, 300, generator=gen) < 0.9).float()
    top, index, kept = run_in_ort(_Nms(), [boxes, scores, groups, valid],
                                  tmp_path / 'nms.onnx', opset)
    for i in range(2):
        candidates = ((valid[i] > 0) & (scores[i] > 0.05)).nonzero()[:, 0]
        _, keep = mmcv_batched_nms(boxes[i, candidates], scores[i,
                                                                candidates],
                                   groups[i, candidates],
                                   dict(type='nms', iou_threshold=0.5))
        expected = candidates[keep[:30]]
        assert 10 < len(expected) <= 30  # NMS removed boxes, and kept some
        assert index[i][kept[i]].tolist() == expected.tolist()
        torch.testing.assert_close(torch.from_numpy(top[i][kept[i]]),
                                   scores[i, expected])


class _Pool(nn.Module):
    def __init__(self, extractor):
        super().__init__()
        self.pool = MultiLevelRoiAlign(extractor)

    def forward(self, f0, f1, f2, f3, boxes, batch):
        return self.pool([f0, f1, f2, f3], boxes, batch)


# (sampling_ratio, aligned, opset, largest box side): boxes of every level;
# boxes of the two finest levels only (the coarse levels pool no RoI)
@pytest.mark.parametrize('sampling_ratio,aligned,opset,high',
                         [(0, True, 17, 500.0), (2, False, 20, 500.0),
                          (0, True, 17, 220.0)])
def test_multi_level_roi_align_in_onnxruntime_as_mmdet(
        sampling_ratio, aligned, opset, high, tmp_path):
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
    extractor = SingleRoIExtractor(
        roi_layer=dict(type='RoIAlign', output_size=7,
                       sampling_ratio=sampling_ratio, aligned=aligned),
        out_channels=8, featmap_strides=[4, 8, 16, 32])
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 8, 128 // s, 128 // s, generator=gen)
             for s in (1, 2, 4, 8)]  # a 512 x 512 input
    boxes = random_boxes(gen, (200, ), low=4.0, high=high, span=300.0)
    batch = torch.randint(0, 2, (200, ), generator=gen)
    levels = set(MultiLevelRoiAlign(extractor).levels(boxes).tolist())
    assert levels == ({0, 1, 2, 3} if high > 300 else {0, 1})
    pooled, = run_in_ort(_Pool(extractor), [*feats, boxes, batch],
                         tmp_path / 'roi.onnx', opset)
    with torch.no_grad():
        ref = extractor(feats, torch.cat([batch[:, None].float(), boxes], 1))
    torch.testing.assert_close(torch.from_numpy(pooled), ref, rtol=1e-4,
                               atol=1e-5)


def test_stable_nms_is_mmcv_nms_with_ties_in_index_order():
    from mmcv.ops import nms

    from mmmamba.deploy.det_reference import stable_nms
    gen = torch.Generator().manual_seed(0)
    boxes = random_boxes(gen, (400, ))
    scores = torch.rand(400, generator=gen)
    dets, keep = stable_nms(boxes, scores, 0.5)
    ref_dets, ref_keep = nms(boxes, scores, 0.5)
    assert keep.tolist() == ref_keep.tolist() and 20 < len(keep) < 400
    torch.testing.assert_close(dets, ref_dets)
    same = torch.tensor([[0., 0., 10., 10.], [1., 0., 11., 10.]] * 2)
    _, keep = stable_nms(same, torch.ones(4), 0.5)  # all tied: index order
    assert keep.tolist() == [0]
