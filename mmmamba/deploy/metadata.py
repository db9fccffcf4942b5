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
             'keep_ratio', 'classes', 'palette', 'score_thr')


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
    return classes, palette


def _keep_ratio(cfg):
    """Whether the test pipeline's Resize keeps the aspect ratio (true when
    it has no Resize: the image is then only padded)."""
    for step in cfg.get('test_pipeline', None) or []:
        if str(step.get('type', '')).endswith('Resize'):
            return bool(step.get('keep_ratio', False))
    return True


def model_metadata(cfg, task, shape):
    """The ``metadata_props`` of the export of ``cfg``'s model at the fixed
    input size ``shape`` (H, W), as ``{key: str}`` with :data:`PREFIX`.

    ``task``: one of :data:`TASKS`. mean / std are those the data
    preprocessor subtracts / divides by, in its channel order after its
    ``bgr_to_rgb`` swap (none: 0 / 1); ``pad_value`` is what the padded
    border holds after normalisation (mmdet's ``pad_value``, mmseg's
    ``pad_val``: both pad the normalised image).
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
    if task != 'backbone':
        values['classes'], values['palette'] = _dataset_metainfo(cfg, task)
    if task == 'detection':
        values['score_thr'] = DRAW_SCORE_THR
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
