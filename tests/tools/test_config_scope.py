"""mmmamba:: config prefix: resolution for source checkouts and wheels."""
import os.path as osp

import pytest
from mmengine.config import Config

from mmmamba.utils import config_scope


def test_resolves_against_checkout_configs():
    path = config_scope.resolve_config(
        'mmmamba::a2mamba/upernet_a2mamba_t_ade20k.py')
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    assert path == osp.join(root, 'configs', 'a2mamba',
                            'upernet_a2mamba_t_ade20k.py')
    with pytest.raises(FileNotFoundError, match='no such mmmamba config'):
        config_scope.resolve_config('mmmamba::a2mamba/nope.py')


def test_prefers_configs_shipped_in_the_package(tmp_path):
    shipped = tmp_path / 'mmmamba' / '.mim' / 'configs' / 'a2mamba'
    shipped.mkdir(parents=True)
    (shipped / 'x.py').write_text('a = 1\n')
    assert config_scope.resolve_config(
        'mmmamba::a2mamba/x.py', str(tmp_path / 'mmmamba')) == str(
            shipped / 'x.py')


def test_downstream_base_gets_no_foreign_scope(tmp_path):
    """Inherited dicts keep mmseg's scope, not an unknown 'mmmamba' one."""
    config_scope.register_config_scope()
    config_scope.register_config_scope()  # idempotent
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['mmmamba::a2mamba/upernet_a2mamba_t_ade20k.py"
                     "']\nmodel = dict(decode_head=dict(num_classes=19))\n")
    cfg = Config.fromfile(str(child))
    assert cfg.model.decode_head.num_classes == 19
    assert cfg.model.backbone.type == 'A2Mamba'
    assert cfg.default_scope == 'mmseg'
    assert 'mmmamba' not in {cfg.model.get('_scope_'),
                             cfg.optim_wrapper.get('_scope_')}
