"""mmmamba:: config prefix: resolution for source checkouts and wheels, and
in stock mmseg tools."""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config
from tools_helpers import ROOT, downstream_config, read_log

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


def test_stock_mmseg_train_resolves_mmmamba_bases(tiny_data, tmp_path):
    """An installed mmmamba (here: a regular install's files, made by
    setup.py's build_py) lets mmseg's own tools/train.py parse a downstream
    config whose base is ``mmmamba::...``: the .pth hook registers the
    prefix before the config is read, ``custom_imports`` then imports
    mmmamba. The configs come from the package's ``.mim`` copy."""
    lib = tmp_path / 'site'
    subprocess.run([sys.executable, 'setup.py', '-q', 'build_py',
                    '--build-lib', str(lib)], cwd=ROOT, check=True,
                   capture_output=True)
    assert (lib / 'mmmamba_config_hook.pth').is_file()
    assert (lib / 'mmmamba' / '.mim' / 'configs' / 'a2mamba').is_dir()
    for ext in glob.glob(osp.join(ROOT, 'mmmamba', '_C*.so')):
        shutil.copy(ext, lib / 'mmmamba')  # the C++ kernels: a faster run
    config = downstream_config(
        tmp_path, 'mmmamba::a2mamba/upernet_a2mamba_t_ade20k.py', tiny_data,
        extra="custom_imports = dict(imports=['mmmamba'], "
        "allow_failed_imports=False)")
    import mmseg
    train = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                     'train.py')
    run = ('import runpy, site, sys; site.addsitedir(sys.argv[1]); '
           'sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], '
           'run_name="__main__"); import mmmamba, mmmamba_config_hook; '
           'print(mmmamba.__file__, mmmamba_config_hook.config_root())')
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'TRITON_INTERPRET')}
    proc = subprocess.run(
        [sys.executable, '-c', run, str(lib), train, config, '--work-dir',
         str(tmp_path / 'work')], cwd=str(tmp_path), env=env,
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    package, configs = proc.stdout.split()[-2:]
    assert package == str(lib / 'mmmamba' / '__init__.py')
    assert configs == str(lib / 'mmmamba' / '.mim' / 'configs')
    assert 'mIoU' in read_log(tmp_path / 'work')


def test_editable_install_registers_the_prefix(tmp_path):
    """An editable install (PEP 660 wheel, as `pip install -e .` builds it;
    here without csrc/, so nothing compiles) ships the .pth hook next to
    setuptools' own finder, and `mmmamba::` resolves in a plain
    ``Config.fromfile`` against the checkout's configs/, without torch."""
    checkout = tmp_path / 'checkout'
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        '.git', 'csrc', 'data', 'work_dirs', 'build', '*.egg-info', '*.so',
        '__pycache__', '.venv'))
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    subprocess.run([sys.executable, '-c', 'import sys; from setuptools import '
                    'build_meta; build_meta.build_editable(sys.argv[1])',
                    str(wheels)], cwd=checkout, check=True,
                   capture_output=True)
    site_dir = tmp_path / 'site'
    import zipfile
    zipfile.ZipFile(next(wheels.glob('*.whl'))).extractall(site_dir)
    assert (site_dir / 'mmmamba_config_hook.pth').is_file()
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['mmmamba::a2mamba/upernet_a2mamba_t_ade20k.py"
                     "']\nmodel = dict(decode_head=dict(num_classes=19))\n")
    # -S: none of this environment's .pth files (its own mmmamba install)
    check = ('import site, sys; site.addsitedir(sys.argv[1]); '
             'sys.path.append(sys.argv[3]); '
             'from mmengine.config import Config; '
             'cfg = Config.fromfile(sys.argv[2]); '
             'import mmmamba_config_hook as hook; '
             'print(cfg.model.backbone.type, cfg.model.decode_head.num_classes,'
             ' hook.config_root(), "torch" in sys.modules)')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    import sysconfig
    proc = subprocess.run([sys.executable, '-S', '-c', check, str(site_dir),
                           str(child), sysconfig.get_paths()['purelib']],
                          cwd=str(tmp_path), env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['A2Mamba', '19', str(checkout / 'configs'),
                                   'False']
