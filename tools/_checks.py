"""Checks our tools make before the long work starts, each failing with one
line that says what is wrong and what to do (:class:`ToolError`)."""
import difflib
import os
import os.path as osp

from _errors import ToolError

# where to get the datasets our configs name, by dataset type
DOWNLOAD_PAGES = {
    'ADE20KDataset': 'http://sceneparsing.csail.mit.edu/ (mmseg: '
                     'docs/en/user_guides/2_dataset_prepare.md#ade20k)',
    'CocoDataset': 'https://cocodataset.org/#download (train2017, val2017 '
                   'and annotations_trainval2017)',
}
# the splits each tool reads, in this order
TRAIN_SPLITS = ('train_dataloader', 'val_dataloader')
TEST_SPLITS = ('test_dataloader', )


def check_config_path(path):
    """A config file that exists (``mmmamba::`` names are resolved later)."""
    if path.startswith('mmmamba::') or osp.isfile(path):
        return
    hint = ' (a directory, not a file)' if osp.isdir(path) else ''
    raise ToolError(
        f'config {path} does not exist{hint}; give a .py config such as '
        f'configs/a2mamba/upernet_a2mamba_t_ade20k.py, or '
        f'mmmamba::a2mamba/<name>.py')


def _closest(key, choices):
    found = difflib.get_close_matches(key, [str(c) for c in choices], n=1,
                                      cutoff=0.6)
    return found[0] if found else None


def unknown_option_keys(cfg, options):
    """``(key, closest existing key or None)`` for each ``--cfg-options``
    key that names nothing in ``cfg``.

    A missing last component is only reported when an existing key is close
    to it (a typo): a new argument of a typed dict, such as
    ``default_hooks.checkpoint.max_keep_ckpts``, is a normal override.
    """
    unknown = []
    for key in options:
        node, path = cfg, []
        parts = key.split('.')
        for depth, part in enumerate(parts):
            if isinstance(node, (list, tuple)):
                if not (part.isdigit() and int(part) < len(node)):
                    unknown.append((key, None))
                    break
                node, path = node[int(part)], path + [part]
            elif not isinstance(node, dict):
                break  # below a value, which the option replaces
            elif part in node:
                node, path = node[part], path + [part]
            else:
                closest = _closest(part, node.keys())
                if depth < len(parts) - 1 or closest:
                    unknown.append((key, '.'.join(path + [closest])
                                    if closest else None))
                break
    return unknown


def warn_unknown_options(cfg, options, warn):
    """``warn`` one line per ``--cfg-options`` key that matches nothing."""
    for key, closest in unknown_option_keys(cfg, options or {}):
        hint = f'; did you mean {closest}?' if closest else ''
        warn(f'--cfg-options {key}: the config has no such key{hint} '
             f'(set as a new key)')


def loop_length(cfg):
    """``(length, by_epoch, key)`` of the training loop, or None."""
    train_cfg = cfg.get('train_cfg') or {}
    if train_cfg.get('max_iters') is not None:
        return train_cfg['max_iters'], False, 'train_cfg.max_iters'
    if train_cfg.get('max_epochs') is not None:
        return train_cfg['max_epochs'], True, 'train_cfg.max_epochs'
    return None


def follow_training_length(cfg, before, options, log):
    """Move the ``end`` of the schedulers that ended with training (at
    ``before``, the loop length of the config file) to the loop length that
    ``options`` (``--cfg-options``) set, unless they set that end too."""
    after = loop_length(cfg)
    if before is None or after is None or before[1:] != after[1:] \
            or before[0] == after[0]:
        return
    for index, scheduler in enumerate(cfg.get('param_scheduler') or []):
        if scheduler.get('by_epoch', True) == after[1] \
                and scheduler.get('end') == before[0] \
                and f'param_scheduler.{index}.end' not in options:
            scheduler['end'] = after[0]
            log(f'param_scheduler.{index}.end follows {after[2]}: '
                f'{before[0]} -> {after[0]}')


def check_schedule(cfg, log):
    """Refuse a ``param_scheduler`` that ends before training does; drop
    (and ``log``) the schedulers that would start after it ends.

    Only schedulers of the loop's unit (iterations or epochs) are compared;
    one without ``end`` lasts as long as training (mmengine's default).
    """
    loop = loop_length(cfg)
    schedulers = cfg.get('param_scheduler')
    if loop is None or not isinstance(schedulers, (list, tuple)):
        return
    length, by_epoch, key = loop
    unit = 'epoch' if by_epoch else 'iteration'
    kept, ends = [], []
    for index, scheduler in enumerate(schedulers):
        if scheduler.get('by_epoch', True) != by_epoch:
            kept.append(scheduler)
            continue
        if scheduler.get('begin', 0) >= length:
            log(f'param_scheduler.{index} ({scheduler.get("type")}) begins '
                f'at {unit} {scheduler["begin"]}, after training ends '
                f'({key}={length}): not used')
            continue
        kept.append(scheduler)
        ends.append((scheduler.get('end', length), index))
    cfg.param_scheduler = kept
    if ends and max(ends)[0] < length:
        end, index = max(ends)
        raise ToolError(
            f'param_scheduler ends at {unit} {end} but training runs to '
            f'{length} ({key}): the learning rate would stay at its last '
            f'value from there. Set --cfg-options param_scheduler.{index}.'
            f'end={length}, or remove its end to follow {key}')


def _dataset_paths(dataset):
    """``(what, path)`` of the files a dataset config reads."""
    root = dataset.get('data_root') or ''
    paths = []
    ann = dataset.get('ann_file')
    if ann:
        paths.append(('ann_file', osp.join(root, ann)))
    for name, prefix in (dataset.get('data_prefix') or {}).items():
        if prefix:
            paths.append((f'data_prefix.{name}', osp.join(root, prefix)))
    if not paths and root:
        paths.append(('data_root', root))
    return paths


def check_datasets(cfg, splits):
    """Fail, naming the directory, the config key to set and the download
    page, when a dataset of ``splits`` is not on disk."""
    for split in splits:
        loader = cfg.get(split)
        if not isinstance(loader, dict) or not loader.get('dataset'):
            continue
        dataset, key = loader['dataset'], f'{split}.dataset'
        while isinstance(dataset.get('dataset'), dict):  # wrappers
            dataset, key = dataset['dataset'], key + '.dataset'
        for what, path in _dataset_paths(dataset):
            if osp.exists(path):
                continue
            root = dataset.get('data_root') or ''
            if osp.normpath(root).startswith(osp.join('data', 'tiny')):
                get = (f'Generate it with python tools/make_tiny_dataset.py '
                       f'--out {osp.dirname(osp.normpath(root))}')
            else:
                page = DOWNLOAD_PAGES.get(dataset.get('type'),
                                          "the dataset's download page")
                get = f'Download it from {page} to {root}'
            raise ToolError(
                f'dataset not found: {path} ({key}.{what}) does not exist. '
                f'{get}, or point the config at your copy with '
                f'--cfg-options {key}.data_root=DIR')
    for name in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(name)
        ann = evaluator.get('ann_file') if isinstance(evaluator, dict) \
            else None
        split = name.replace('evaluator', 'dataloader')
        if ann and split in splits and not osp.exists(ann):
            raise ToolError(
                f'dataset not found: {ann} ({name}.ann_file) does not exist; '
                f'download the annotations, or set --cfg-options '
                f'{name}.ann_file=FILE')


def check_checkpoint_path(path):
    """A local checkpoint file that exists (URLs are fetched later)."""
    if path.startswith(('http://', 'https://')) or osp.isfile(path):
        return
    raise ToolError(
        f'checkpoint {path} does not exist; give the .pth file a training '
        f'run wrote (work_dirs/<config>/iter_N.pth or epoch_N.pth) or the '
        f'http(s) address of a released one')


def check_output_file(path, option='--out'):
    """``path`` can be written: its directory exists and it is no
    directory itself."""
    if osp.isdir(path):
        raise ToolError(f'{option} {path} is a directory; give a file name')
    directory = osp.dirname(osp.abspath(path))
    if not osp.isdir(directory):
        raise ToolError(f'{option} {path}: directory {directory} does not '
                        f'exist; create it first')
    if not os.access(directory, os.W_OK):
        raise ToolError(f'{option} {path}: directory {directory} is not '
                        f'writable')
