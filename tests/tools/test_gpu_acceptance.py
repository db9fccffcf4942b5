"""benchmarks/gpu_acceptance.py on the CPU (--device cpu --quick): every job
runs, the report holds real numbers, a wrong kernel fails the agreement."""
import importlib.util
import json
import math
import os.path as osp

import pytest
import torch

from tools_helpers import ROOT

OPS = {'na2d_qk', 'na2d_av', 'selective_scan_states', 'a2ssm_aggregate'}


def _load():
    spec = importlib.util.spec_from_file_location(
        'gpu_acceptance', osp.join(ROOT, 'benchmarks', 'gpu_acceptance.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_acceptance = _load()


def _positive(value):
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_quick_cpu_run_reports_every_job(tmp_path, tiny_data):
    gpu_acceptance.main(['--device', 'cpu', '--quick', '--out',
                         str(tmp_path), '--data-root',
                         str(tiny_data / 'ade')])
    with open(tmp_path / 'report.json') as f:
        report = json.load(f)
    assert set(report['elapsed_s']) == {'agree', 'train', 'ops', 'backbone'}

    agree = report['agree']
    assert list(agree['max_rel_error']) == ['cpu']
    assert 0 <= agree['max_rel_error']['cpu'] <= agree['tolerance']
    assert set(agree['ops']['cpu'].values()) == {'cpu'}

    # tools/train.py trains on the GPU when there is one
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    assert [r['dtype'] for r in report['train']] == list(
        gpu_acceptance.amp_dtypes(device))
    for train in report['train']:
        assert train['device'] == device and train['iterations'] == 2
        assert len(train['losses']) == 2
        assert all(math.isfinite(v) and v > 0 for v in train['losses'])

    rows = report['ops']
    assert {row['op'] for row in rows} == OPS
    for row in rows:
        for backend in ('reference', 'cpu'):
            times = row['times'][backend]
            assert _positive(times['forward']), row
            assert _positive(times['forward_backward']), row

    backbone = {row['backend']: row for row in report['backbone']}
    assert set(backbone) == {'reference', 'cpu'}
    for row in backbone.values():
        assert _positive(row['forward_ms']) and _positive(
            row['train_step_ms'])
        assert row['train_step_peak_mib'] is None  # CUDA only
    assert set(backbone['cpu']['ops'].values()) == {'cpu'}
    assert set(backbone['reference']['ops'].values()) == {'reference'}

    markdown = (tmp_path / 'report.md').read_text()
    for title in ('## Backbone agreement', '## AMP training',
                  '## Operators', '## Backbone (A2Mamba-test'):
        assert title in markdown
    assert f'| cpu | {agree["max_rel_error"]["cpu"]:.2e} |' in markdown
    for op in OPS:
        assert f'| {op} | 1 |' in markdown  # a stage-1 row of every op


@pytest.mark.parametrize('error', ['1% off', 'NaN'])
def test_agreement_fails_when_a_kernel_is_wrong(monkeypatch, error):
    """A wrong na2d_av on the cpu backend: the check compares the real
    features, so it must fail."""
    from mmmamba.models.layers import mixer
    from mmmamba.ops import dispatch
    exact = mixer.na2d_av

    def off_on_cpu(*args):
        out = exact(*args)
        if dispatch.forced_backend()[0] != 'cpu':
            return out
        return out * 1.01 if error == '1% off' else out + float('nan')

    monkeypatch.setattr(mixer, 'na2d_av', off_on_cpu)
    with pytest.raises(gpu_acceptance.AcceptanceError,
                       match='differ from the reference'):
        gpu_acceptance.check_agreement(gpu_acceptance.QUICK, 'cpu')


@pytest.mark.parametrize('cuda, interpret, message', [
    (False, None, 'sees no CUDA GPU'),
    (True, '1', 'unset it'),
])
def test_cuda_run_refuses_what_cannot_be_checked(monkeypatch, cuda, interpret,
                                                  message):
    monkeypatch.setattr(gpu_acceptance.torch.cuda, 'is_available',
                        lambda: cuda)
    monkeypatch.setenv('TRITON_INTERPRET', interpret or '0')
    with pytest.raises(gpu_acceptance.AcceptanceError, match=message):
        gpu_acceptance.check_environment('cuda')


def test_unknown_job_is_refused():
    with pytest.raises(SystemExit):
        gpu_acceptance.parse_args(['--jobs', 'agree,speed'])
