"""``import mmmamba`` registers its models into whichever of mmdet / mmseg is
installed, imports neither Triton nor Dynamo, and changes nothing else in
mmengine / mmcv / mmdet / mmseg (each check in a fresh interpreter)."""
import json
import os
import subprocess
import sys

import pytest
from tools_helpers import ROOT

# Makes `import <blocked>` fail as for a package that is not installed.
BLOCKER = '''
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == {blocked!r}:
            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)
        return None
sys.meta_path.insert(0, Block())
'''

REGISTERED_INTO = '''
import importlib, json
import mmmamba
other = {other!r}
models = importlib.import_module(other + '.registry').MODELS
print(json.dumps(dict(
    a2mamba=models.get('A2Mamba').__module__,
    massfpn=models.get('MASSFPN').__module__,
    blocked_imported={blocked!r} in sys.modules)))
'''

# Everything mmmamba could have patched or registered, before and after.
UNCHANGED = '''
import json, sys
import mmmamba_config_hook
mmmamba_config_hook.install()  # what the .pth of an installed mmmamba does
import torch
from mmcv.ops.nms import NMSop
from mmcv.ops.roi_align import RoIAlign
from mmengine.config import Config
from mmengine.logging.history_buffer import HistoryBuffer
import mmengine.registry as root
from mmdet.registry import MODELS as DET
from mmseg.registry import MODELS as SEG

def snapshot():
    registries = {name: dict(getattr(root, name).module_dict)
                  for name in ('MODELS', 'OPTIM_WRAPPERS', 'MODEL_WRAPPERS',
                               'HOOKS', 'TRANSFORMS')}
    registries.update(det=dict(DET.module_dict), seg=dict(SEG.module_dict))
    return dict(
        functions=[Config.__dict__['_get_cfg_path'],
                   HistoryBuffer.__dict__.get('__getstate__'),
                   NMSop.__dict__['forward'], RoIAlign.__dict__['forward']],
        registries=registries,
        safe_globals=list(map(str, torch.serialization.get_safe_globals())))

before = snapshot()
import mmmamba
after = snapshot()
changed = [i for i, (a, b) in enumerate(zip(before['functions'],
                                            after['functions'])) if a is not b]
registry_changes = {}
for name, entries in after['registries'].items():
    old = before['registries'][name]
    replaced = [k for k in old if entries.get(k) is not old[k]]
    added = sorted(set(entries) - set(old))
    if replaced or added:
        registry_changes[name] = dict(replaced=replaced, added=added)
print(json.dumps(dict(
    changed_functions=changed, registry_changes=registry_changes,
    safe_globals_changed=before['safe_globals'] != after['safe_globals'],
    heavy=[m for m in ('triton', 'torch._dynamo') if m in sys.modules])))
'''


def run_python(code):
    """Run ``code`` in a fresh interpreter (this checkout first on the path);
    return what it printed last, parsed as JSON."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [ROOT] + [p for p in os.environ.get('PYTHONPATH', '').split(
            os.pathsep) if p]))
    env.pop('TRITON_INTERPRET', None)
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize('blocked, other', [('mmdet', 'mmseg'),
                                            ('mmseg', 'mmdet')])
def test_works_with_one_framework_only(blocked, other):
    found = run_python(BLOCKER.format(blocked=blocked) +
                       REGISTERED_INTO.format(blocked=blocked, other=other))
    assert found == dict(a2mamba='mmmamba.models.backbones.a2mamba',
                         massfpn='mmmamba.models.necks.mass_fpn',
                         blocked_imported=False)


def test_import_changes_nothing_but_our_registrations():
    report = run_python(UNCHANGED)
    assert report['heavy'] == []
    assert report['changed_functions'] == []
    assert not report['safe_globals_changed']
    assert report['registry_changes'] == {
        'det': dict(replaced=[], added=['A2Mamba', 'MASSFPN']),
        'seg': dict(replaced=[], added=['A2Mamba', 'MASSFPN'])}


def test_neither_framework_says_what_to_install(monkeypatch):
    import importlib

    import mmmamba.registry as registry
    real_import = importlib.import_module

    def import_module(name, *args):
        if name.split('.')[0] in registry.FRAMEWORKS:
            raise ModuleNotFoundError(f'No module named {name!r}')
        return real_import(name, *args)

    monkeypatch.setattr(registry.importlib, 'import_module', import_module)
    monkeypatch.setattr(registry, '_registries', {})
    with pytest.raises(ImportError, match=r'neither imports.*pip install'):
        registry.framework_registries()
