"""What a deployed model needs besides its graph, kept in the ONNX file's
``metadata_props``: the task, the fixed input size, the data
preprocessor's normalisation and padding, the test pipeline's resize rule,
the class names and the palette.

``tools/deploy/export_onnx.py`` writes them (:func:`model_metadata`,
:func:`write_metadata`); ``tools/deploy/infer_onnx.py`` reads them
(:func:`read_metadata`) without torch or OpenMMLab, so this module imports
only the standard library at load time (onnx when writing, the config's
dataset registry when a config names its classes through its dataset).
"""
import json

PREFIX = 'mmmamba.'
TASKS = ('segmentation', 'detection', 'backbone')
# the score below which a drawing leaves a detection out (mmdet's
# DetLocalVisualizer default)
DRAW_SCORE_THR = 0.3
# keys whose values are JSON (the rest are plain strings)
JSON_KEYS = ('input_hw', 'mean', 'std', 'bgr_to_rgb', 'pad_value',
             'size_divisor', 'keep_ratio', 'align_corners', 'classes',
             'palette', 'score_thr', 'mask_thr')


def _dataset_metainfo(cfg, task):
    """``(classes, palette)`` of the config's test dataset: its ``metainfo``
    entry, else the dataset class's ``METAINFO``."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    while 'dataset' in dataset:  # wrappers (RepeatDataset, ...)
        dataset = dataset['dataset']
    info = dict(dataset.get('metainfo') or {})
    if 'classes' not in info and 'type' in dataset:
        if task == 'segmentation':
            from mmseg.registry import DATASETS
        else:
            from mmdet.registry import DATASETS
        cls = DATASETS.get(dataset['type'])
        info = {**getattr(cls, 'METAINFO', {}), **info}
    classes = [str(c) for c in info.get('classes', ())]
    palette = [[int(v) for v in color] for color in info.get('palette', ())]
    # a dataset without a full palette: distinct fixed colours (golden-ratio
    # hues), so that every class can be drawn
    for i in range(len(palette), len(classes)):
        h6 = (i * 0.618034) % 1.0 * 6
        rgb = (abs(h6 - 3) - 1, 2 - abs(h6 - 2), 2 - abs(h6 - 4))
        palette.append([int(255 * min(max(c, 0), 1)) for c in rgb])
    return classes, palette


def _keep_ratio(cfg):
    """Whether the test pipeline's Resize keeps the aspect ratio (true when
    it has no Resize: the image is then only padded)."""
    for step in cfg.get('test_pipeline', None) or []:
        if str(step.get('type', '')).endswith('Resize'):
            return bool(step.get('keep_ratio', False))
    return True


def _size_divisor(pre):
    """The data preprocessor's padding multiple (mmdet's
    ``pad_size_divisor``, mmseg's ``size_divisor`` or its test-time one), or
    None."""
    test_cfg = pre.get('test_cfg', None) or {}
    for value in (pre.get('pad_size_divisor', None),
                  pre.get('size_divisor', None),
                  test_cfg.get('size_divisor', None)):
        if value:
            return int(value)
    return None


def _align_corners(cfg):
    """The decode head's ``align_corners`` (mmseg resizes the logits to the
    original image with it)."""
    head = cfg.model.get('decode_head', None) or {}
    if isinstance(head, (list, tuple)):  # cascade heads: the last predicts
        head = head[-1]
    return bool(head.get('align_corners', False))


def model_metadata(cfg, task, shape):
    """The ``metadata_props`` of the export of ``cfg``'s model at the fixed
    input size ``shape`` (H, W), as ``{key: str}`` with :data:`PREFIX`.

    ``task``: one of :data:`TASKS`. mean / std are those the data
    preprocessor subtracts / divides by, in its channel order after its
    ``bgr_to_rgb`` swap (none: 0 / 1); ``pad_value`` is what the padded
    border holds after normalisation (mmdet's ``pad_value``, mmseg's
    ``pad_val``: both pad the normalised image). Detections also carry the
    drawing's score threshold and the mask head's binarisation threshold
    (``test_cfg.rcnn.mask_thr_binary``); segmentations the decode head's
    ``align_corners``. ``size_divisor`` is there when the preprocessor pads
    to a multiple (the graph's fixed size already is one).
    """
    if task not in TASKS:
        raise ValueError(f'task must be one of {TASKS}, got {task!r}')
    pre = cfg.model.get('data_preprocessor', None) or {}
    mean = [float(v) for v in pre.get('mean', None) or (0., 0., 0.)]
    std = [float(v) for v in pre.get('std', None) or (1., 1., 1.)]
    pad_value = float(pre.get('pad_value', pre.get('pad_val', 0)))
    values = dict(task=task, input_hw=[int(s) for s in shape], mean=mean,
                  std=std, bgr_to_rgb=bool(pre.get('bgr_to_rgb', False)),
                  pad_value=pad_value, keep_ratio=_keep_ratio(cfg))
    if _size_divisor(pre):
        values['size_divisor'] = _size_divisor(pre)
    if task != 'backbone':
        values['classes'], values['palette'] = _dataset_metainfo(cfg, task)
    if task == 'segmentation':
        values['align_corners'] = _align_corners(cfg)
    if task == 'detection':
        values['score_thr'] = DRAW_SCORE_THR
        rcnn = (cfg.model.get('test_cfg', None) or {}).get('rcnn', None) or {}
        values['mask_thr'] = float(rcnn.get('mask_thr_binary', 0.5))
    return {PREFIX + key: (json.dumps(value) if key in JSON_KEYS else value)
            for key, value in values.items()}


def write_metadata(path, props):
    """Store ``props`` (``{key: str}``) in the ``metadata_props`` of the ONNX
    file at ``path``, in place (other props are kept)."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    kept = {p.key: p.value for p in model.metadata_props
            if p.key not in props}
    onnx.helper.set_model_props(model, {**kept, **props})
    onnx.save(model, path)


def read_metadata(props):
    """The parsed mmmamba entries of ``props`` (``{key: str}``, e.g.
    onnxruntime's ``get_modelmeta().custom_metadata_map``), without the
    prefix; ``{}`` when the file has none."""
    values = {}
    for key, value in props.items():
        if key.startswith(PREFIX):
            name = key[len(PREFIX):]
            values[name] = json.loads(value) if name in JSON_KEYS else value
    return values
