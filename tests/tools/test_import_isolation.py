"""``import mmmamba`` registers its models into whichever of mmdet / mmseg is
installed, imports neither Triton nor Dynamo, and changes nothing else in
mmengine / mmcv / mmdet / mmseg; with none of OpenMMLab and no Triton the
operators run on their C++ kernels and the models say what to install
(each check in a fresh interpreter)."""
import json
import os
import subprocess
import sys

import pytest
from tools_helpers import ROOT

# Makes `import <any of blocked>` fail as for a package that is not
# installed.
BLOCKER = '''
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
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

# Every op on the C++ kernels (forced cpu backend) against the reference,
# output and input gradients; then what mmmamba and mmmamba.models do
# (BLOCKED: the names of BLOCKER).
TORCH_ONLY = '''
import json
import torch
from mmmamba import ops

def outputs_and_grads(backend, fn, tensors):
    inputs = [t.detach().clone().requires_grad_() for t in tensors]
    with ops.use_backend(backend):
        out = fn(*inputs)
    weight = torch.linspace(-1, 1, out.numel()).view(out.shape)
    return [out] + list(torch.autograd.grad((out * weight).sum(), inputs))

torch.manual_seed(0)
q, k, v = torch.randn(3, 1, 2, 9, 10, 4)
rpb = torch.randn(2, 5, 5)
attn = torch.randn(1, 2, 9, 10, 9).softmax(-1)
maps = torch.randn(2, 1, 1, 9, 10, 9).softmax(-1)
u, delta = torch.randn(2, 2, 3, 11)
A, B, bias = -torch.rand(3, 2) - 0.1, torch.randn(2, 2, 11), torch.randn(3)
cases = {
    'na2d_qk': (lambda q, k, rpb: ops.na2d_qk(q, k, 3, 2, rpb), (q, k, rpb)),
    'na2d_av': (lambda a, v: ops.na2d_av(a, v, 3, (2, 3)), (attn, v)),
    'selective_scan_states': (ops.selective_scan_states,
                              (u, delta, A, B, bias)),
    'a2ssm_aggregate': (lambda l, d, s: ops.a2ssm_aggregate(l, d, s, 3, 2),
                        (maps[0], maps[1], torch.randn(1, 2, 3, 9, 10))),
    'depthwise_conv2d': (lambda x, w, b: ops.depthwise_conv2d(x, w, b, True),
                         (torch.randn(2, 20, 9, 10).contiguous(
                              memory_format=torch.channels_last),
                          torch.randn(20, 1, 5, 5), torch.randn(20))),
}
errors = {}
for name, (fn, tensors) in cases.items():
    with ops.use_backend('cpu'):
        backend = ops.explain_backend(name, tensors[0]).backend
    got = outputs_and_grads('cpu', fn, tensors)
    want = outputs_and_grads('reference', fn, tensors)
    errors[name] = [backend] + [(g - w).abs().max().item() / max(
        1.0, w.abs().max().item()) for g, w in zip(got, want)]
import mmmamba
try:
    from mmmamba.models import A2Mamba  # noqa: F401
    models_error = None
except ImportError as error:
    models_error = str(error)
print(json.dumps(dict(
    errors=errors, version=mmmamba.__version__, models_error=models_error,
    imported=sorted({m.split('.')[0] for m in sys.modules} & set(BLOCKED)))))
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
    found = run_python(BLOCKER.format(blocked=(blocked, )) +
                       REGISTERED_INTO.format(blocked=blocked, other=other))
    assert found == dict(a2mamba='mmmamba.models.backbones.a2mamba',
                         massfpn='mmmamba.models.necks.mass_fpn',
                         blocked_imported=False)


def test_ops_run_with_torch_alone():
    """mmengine, mmcv, mmdet, mmseg and Triton not importable: ``from
    mmmamba import ops`` runs every op on the C++ kernels, forward and
    backward, as the reference; ``import mmmamba`` works and
    ``mmmamba.models`` says what to install."""
    blocked = ('mmengine', 'mmcv', 'mmdet', 'mmseg', 'triton')
    report = run_python(BLOCKER.format(blocked=blocked) +
                        f'BLOCKED = {blocked!r}\n' + TORCH_ONLY)
    assert sorted(report['errors']) == sorted(
        ['na2d_qk', 'na2d_av', 'selective_scan_states', 'a2ssm_aggregate',
         'depthwise_conv2d'])
    for name, (backend, *errors) in report['errors'].items():
        assert backend == 'cpu', name
        assert len(errors) >= 3 and max(errors) < 1e-4, (name, errors)
    assert report['version']
    assert report['imported'] == []
    message = report['models_error']
    assert message is not None, 'mmmamba.models imported without OpenMMLab'
    for needed in ('mmengine', 'mmcv', 'mmdet or mmseg', 'pip install',
                   'mmmamba.ops'):
        assert needed in message, (needed, message)


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
