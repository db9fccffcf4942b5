"""Every A2Mamba config parses, matches its backbone and builds its model."""
import glob
import os.path as osp
import re

import pytest
import yaml
from mmengine.config import Config
from mmengine.registry import HOOKS

import mmmamba  # noqa: F401
from mmmamba.models import A2Mamba
from mmmamba.utils import (SafeCheckpointHook, register_config_scope,
                           sync_bn_to_bn)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(ROOT, 'configs', 'a2mamba')
CONFIGS = sorted(
    osp.relpath(p, CONFIG_DIR)
    for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if '_base_' not in p)
# every config the issue names must exist
REQUIRED = (
    [f'upernet_a2mamba_{s}_ade20k.py' for s in 'ntsbl']
    + [f'mask_rcnn_a2mamba_{s}_fpn_{k}_coco.py' for s in 'tsb'
       for k in ('1x', '3x')]
    + [f'cascade_mask_rcnn_a2mamba_{s}_fpn_3x_coco.py' for s in 'tsb']
    + ['mask_rcnn_a2mamba_t_massfpn_1x_coco.py',
       'semfpn_a2mamba_t_massfpn_ade20k.py'])
SIZE = dict(n='nano', t='tiny', s='small', b='base', l='large')

register_config_scope()


def load(name):
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def test_required_configs_exist():
    missing = [c for c in REQUIRED if c not in CONFIGS]
    assert not missing


def test_metafile_lists_every_config():
    with open(osp.join(CONFIG_DIR, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    listed = {m['Config'] for m in meta['Models']}
    expected = {f'configs/a2mamba/{c}' for c in CONFIGS}
    assert listed == expected
    for path in listed:
        assert osp.isfile(osp.join(ROOT, path))


@pytest.mark.parametrize('name', CONFIGS)
def test_config_parses_and_matches_backbone(name):
    cfg = load(name)
    assert cfg.default_scope in ('mmdet', 'mmseg')
    backbone = cfg.model.backbone
    assert backbone.type == 'A2Mamba'
    dims = list(A2Mamba.arch_settings[backbone.arch]['embed_dims'])
    if cfg.model.get('neck'):
        assert list(cfg.model.neck.in_channels) == dims
    else:  # UperNet reads the backbone directly
        assert list(cfg.model.decode_head.in_channels) == dims
    if cfg.model.get('auxiliary_head'):
        assert cfg.model.auxiliary_head.in_channels == dims[2]
    # no torchvision:// or open-mmlab:// weights anywhere (CPU machine,
    # no torchvision); the backbone says where its weights come from
    assert '://' not in cfg.pretty_text
    assert cfg.model.get('pretrained') is None
    if name.startswith('quickstart/'):
        assert backbone.init_cfg is None
        return
    match = re.match(r'\w+?_a2mamba_([ntsbl])_', name)
    size = SIZE[match.group(1)]
    assert backbone.arch == size
    assert backbone.init_cfg == dict(
        type='Pretrained', checkpoint=f'checkpoints/a2mamba_{size}.pth')
    # docs/design.md § Dense-prediction recipes
    opt = cfg.optim_wrapper.optimizer
    assert opt.type == 'AdamW'
    if cfg.default_scope == 'mmseg':
        assert (opt.lr, opt.weight_decay) == (6e-5, 0.01)
        assert cfg.train_cfg.max_iters == 160000
        assert cfg.crop_size == (512, 512)
        assert cfg.model.data_preprocessor.size == (512, 512)
        assert cfg.param_scheduler[0].end == 1500
    else:
        assert (opt.lr, opt.weight_decay) == (1e-4, 0.05)
        assert cfg.train_cfg.max_epochs == (36 if '_3x_' in name else 12)
        if '_3x_' in name:
            pipeline = cfg.train_dataloader.dataset.pipeline
            assert any(t.type == 'RandomChoice' for t in pipeline)
    assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16


@pytest.mark.parametrize('name', CONFIGS)
def test_schedule_ends_with_training_and_checkpoints_are_safe(name):
    """The last scheduler ends where training does (our tools then move
    that end with --cfg-options train_cfg.max_iters / max_epochs), and
    checkpoints go through mmmamba's atomic hook."""
    cfg = load(name)
    length = cfg.train_cfg.get('max_iters') or cfg.train_cfg.max_epochs
    by_epoch = 'max_iters' not in cfg.train_cfg
    ends = [s.end for s in cfg.param_scheduler
            if s.get('by_epoch', True) == by_epoch]
    assert max(ends) == length
    assert HOOKS.get(cfg.default_hooks.checkpoint.type) is SafeCheckpointHook


def test_checkpoint_dir_is_set_in_one_place(tmp_path):
    """Editing _base_/a2mamba_pretrained.py moves every config's weights."""
    import shutil
    copy = tmp_path / 'a2mamba'
    shutil.copytree(CONFIG_DIR, copy)
    base = copy / '_base_' / 'a2mamba_pretrained.py'
    text = base.read_text()
    assert "a2mamba_checkpoint_dir = 'checkpoints'" in text
    base.write_text(text.replace("= 'checkpoints'", "= '/weights'"))
    for name in CONFIGS:
        if name.startswith('quickstart/'):
            continue
        cfg = Config.fromfile(str(copy / name))
        assert cfg.model.backbone.init_cfg.checkpoint.startswith(
            '/weights/a2mamba_'), name


def build_model(cfg):
    """Build (no init, no forward) with the framework's registry."""
    sync_bn_to_bn(cfg._cfg_dict)
    cfg.model.backbone.init_cfg = None
    if cfg.default_scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    else:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    return MODELS.build(cfg.model)


# one config per kind builds at full size; the rest as arch 'nano' (same
# code path, a tenth of the parameters) to keep the suite fast
FULL_SIZE = {'upernet_a2mamba_t_ade20k.py', 'mask_rcnn_a2mamba_t_fpn_1x_coco.py',
             'cascade_mask_rcnn_a2mamba_t_fpn_3x_coco.py'}


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_model(name):
    cfg = load(name)
    if name not in FULL_SIZE and not name.startswith('quickstart/'):
        dims = list(A2Mamba.arch_settings['nano']['embed_dims'])
        cfg.model.backbone.arch = 'nano'
        if cfg.model.get('neck'):
            cfg.model.neck.in_channels = dims
        else:
            cfg.model.decode_head.in_channels = dims
        if cfg.model.get('auxiliary_head'):
            cfg.model.auxiliary_head.in_channels = dims[2]
    model = build_model(cfg)
    assert isinstance(model.backbone, A2Mamba)
    if cfg.model.get('neck'):
        assert type(model.neck).__name__ == cfg.model.neck.type


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('name', ['A2Mamba', 'MASSFPN'])
def test_registry_lookup(scope, name):
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    assert MODELS.get(name) is getattr(mmmamba.models, name)
