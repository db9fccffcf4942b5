"""benchmarks/gpu_acceptance piece by piece on the CPU: each check fails on a
wrong kernel, a report from a failing tool or a missing tool, and the
report carries every item. (The whole run: test_gpu_rehearsal.py.)"""
import json
import math
import os.path as osp
import sys

import pytest
import torch.nn as nn

from mmmamba.devtools import (load_script, median_seconds, time_blocks,
                               time_reps)
from tools_helpers import ROOT

sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
from gpu_acceptance import (item_backbone, item_ops, item_sanitizer,  # noqa
                            item_timings, item_train_tool, report, run,
                            versions)
from gpu_acceptance.launches import small_cases  # noqa: E402
from gpu_acceptance.profiles import CPU  # noqa: E402

TINY = CPU._replace(image=32, agree_image=32, timing_shapes=((32, 2), ),
                    reps=1, train_steps=3)


def test_time_reps_warms_up_then_alternates():
    calls = []
    times = time_reps([lambda: calls.append('a'), lambda: calls.append('b')],
                      reps=3, warmup=2)
    assert calls == ['a', 'a', 'b', 'b'] + ['a', 'b'] * 3
    assert [len(t) for t in times] == [3, 3]
    assert all(t >= 0 for ts in times for t in ts)
    assert median_seconds(lambda: sum(range(10**5)), reps=3) > 0


def test_time_blocks_warms_up_then_times_each_in_a_row():
    calls = []
    times = time_blocks([lambda: calls.append('a'),
                         lambda: calls.append('b')], reps=5, warmup=1)
    # round 1: a, b (3 timed each after a warm-up); round 2 reversed (2)
    assert calls == ['a'] * 4 + ['b'] * 4 + ['b'] * 3 + ['a'] * 3
    assert [len(t) for t in times] == [5, 5]
    assert all(t >= 0 for ts in times for t in ts)
    calls.clear()
    assert [len(t) for t in time_blocks([lambda: calls.append('a')],
                                        reps=1)] == [1]
    assert calls == ['a', 'a']  # one warm-up, one timed; no empty round


def test_load_script_runs_the_file_as_a_module(tmp_path):
    path = tmp_path / 'script.py'
    path.write_text('VALUE = 6 * 7\n')
    module = load_script(str(path), 'some_script')
    assert module.VALUE == 42 and module.__name__ == 'some_script'
    assert 'some_script' not in sys.modules


def _off(fn, error):
    """``fn`` with its output wrong by ``error`` ('5%' or 'nan')."""
    def wrong(*args, **kwargs):
        out = fn(*args, **kwargs)
        return out * 1.05 if error == '5%' else out + float('nan')
    return wrong


@pytest.mark.parametrize('error', ['5%', 'nan'])
def test_ops_check_fails_on_a_wrong_kernel(monkeypatch, error):
    cases = [c for c in small_cases('cpu') if c.op == 'na2d_av']
    monkeypatch.setattr(item_ops, 'op_cases', lambda profile, device: cases)
    assert item_ops.check_ops(TINY, 'cpu').status == 'PASS'
    exact = item_ops.op_function

    def wrong_kernel(op, reference=False):
        fn = exact(op, reference)
        return fn if reference else _off(fn, error)

    monkeypatch.setattr(item_ops, 'op_function', wrong_kernel)
    result = item_ops.check_ops(TINY, 'cpu')
    assert result.status == 'FAIL' and 'na2d_av' in result.summary
    assert len(result.details['failures']) == 2 * 3  # 2 backends × 3 dtypes


def test_ops_check_fails_when_a_backend_ran_nothing(monkeypatch):
    cases = [c for c in small_cases('cpu') if c.op == 'na2d_qk']
    monkeypatch.setattr(item_ops, 'op_cases', lambda profile, device: cases)
    monkeypatch.setattr(item_ops, 'runs_on',
                        lambda backend, op, t: backend == 'cpu')
    result = item_ops.check_ops(TINY, 'cpu')
    assert result.status == 'FAIL'
    assert 'cuda_host ran none of the calls' in result.summary


def test_backbone_agreement_sees_a_wrong_kernel(monkeypatch):
    from mmmamba.models.layers import mixer
    from mmmamba.ops import explain_backend
    model = item_backbone.build_backbone('test', 'cpu').eval()
    errors = item_backbone.agreement(model, 32, 'cpu')
    assert all(e <= item_backbone.AGREEMENT_TOL for e in errors.values())
    exact = mixer.na2d_av
    for error in ('5%', 'nan'):
        def off_on_kernels(attn, value, *args, error=error):
            out = exact(attn, value, *args)
            if explain_backend('na2d_av', value).backend == 'reference':
                return out
            return _off(lambda: out, error)()

        monkeypatch.setattr(mixer, 'na2d_av', off_on_kernels)
        errors = item_backbone.agreement(model, 32, 'cpu')
        assert all(not e <= item_backbone.AGREEMENT_TOL
                   for e in errors.values()), (error, errors)


def test_loss_must_be_finite_and_decreasing():
    assert item_backbone.decreasing([3.0, 2.5, 2.0, 1.0, 0.5, 0.4])
    assert not item_backbone.decreasing([1.0, 1.0, 1.0])
    assert not item_backbone.decreasing([3.0, 2.0, math.nan])
    assert not item_backbone.decreasing([1.0, 2.0, 3.0])


def _fake_sanitizer(tmp_path, errors, code):
    path = tmp_path / 'compute-sanitizer'
    path.write_text(f'#!/bin/sh\necho "========= ERROR SUMMARY: {errors} '
                    f'errors"\nexit {code}\n')
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize('errors, code, status', [
    (0, 0, 'PASS'), (3, 99, 'FAIL'), (0, 1, 'FAIL')])
def test_sanitizer_reports_decide(monkeypatch, tmp_path, errors, code,
                                  status):
    monkeypatch.setattr(item_sanitizer, 'find_sanitizer',
                        lambda: _fake_sanitizer(tmp_path, errors, code))
    result = item_sanitizer.run_sanitizers('cuda', str(tmp_path))
    assert result.status == status
    assert set(result.details) == set(item_sanitizer.TOOLS)
    assert all(r['errors'] == errors for r in result.details.values())
    assert (tmp_path / 'sanitizer_racecheck.log').exists()


def test_missing_sanitizer_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(item_sanitizer, 'find_sanitizer', lambda: None)
    result = item_sanitizer.run_sanitizers('cuda', str(tmp_path))
    assert result.status == 'FAIL' and 'not found' in result.summary


class _StandIn(nn.Module):
    """A small model in Swin-T's place (timm is not installed here)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, 4)

    def forward_features(self, x):
        return self.conv(x)


def test_timings_put_the_comparison_model_beside(monkeypatch):
    monkeypatch.setattr(item_timings, 'swin_tiny',
                        lambda image: (_StandIn(), None))
    rows = item_timings.time_backbones(TINY, 'cpu')
    assert [r['model'] for r in rows] == ['A2Mamba-test', 'Swin-T']
    for row in rows:
        assert row['forward_ms'] > 0 and row['train_step_ms'] > 0
        assert row['train_step_peak_mib'] is None  # CUDA only
    text = item_timings.ratio_text(rows)
    ratio = rows[0]['forward_ms'] / rows[1]['forward_ms']
    assert f'(×{ratio:.2f})' in text and text.startswith('32² b2: forward')


def test_train_tool_item_runs_one_iteration(tmp_path):
    result = item_train_tool.train_one_iteration(CPU, str(tmp_path))
    assert result.status == 'PASS', result.summary
    assert len(result.details['losses']) == 1


def test_train_tool_item_says_why_it_cannot_run(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, 'mmseg.models', None)  # import fails
    result = item_train_tool.train_one_iteration(CPU, str(tmp_path))
    assert result.status == 'SKIP' and 'mmseg.models' in result.summary


def test_run_reports_every_item_and_exits_1_on_a_failure(tmp_path):
    failed = json.dumps(dict(status='FAIL', summary='did not build',
                             seconds=3.0, details=None))
    code = run.main(['--device', 'cpu', '--out', str(tmp_path), '--items',
                     'b', '--prior', f'build={failed}'])
    assert code == 1
    saved = json.loads((tmp_path / 'report.json').read_text())
    assert list(saved['items']) == ['build', 'b']
    assert saved['items']['b']['status'] == 'SKIP'
    markdown = (tmp_path / 'report.md').read_text()
    assert 'build: FAIL (3 s) did not build' in markdown
    assert report.summary_lines(saved)[1].startswith(
        'b compute-sanitizer: SKIP')


def test_cuda_run_refuses_what_cannot_be_checked(monkeypatch):
    monkeypatch.setattr(run.torch.cuda, 'is_available', lambda: False)
    assert 'sees no GPU' in run.check_device('cuda')
    monkeypatch.setattr(run.torch.cuda, 'is_available', lambda: True)
    monkeypatch.setenv('TRITON_INTERPRET', '1')
    assert 'unset it' in run.check_device('cuda')


def test_unknown_item_is_refused():
    with pytest.raises(SystemExit):
        run.parse_args(['--items', 'az'])


def test_versions_below_the_minimum_are_refused(monkeypatch):
    minimum = versions.minimum_versions()
    assert set(minimum) >= {'torch', 'triton'}
    installed = {'torch': '2.13.0+cpu', 'triton': '3.7.1'}
    monkeypatch.setattr(versions.importlib.metadata, 'version',
                        lambda name: installed[name])
    assert versions.too_old(('torch', 'triton')) == []
    installed['torch'] = '2.10.1+cu128'
    [line] = versions.too_old(('torch', 'triton'))
    assert line == (f'torch 2.10.1+cu128 is older than the tested minimum '
                    f'{minimum["torch"]}: install torch>={minimum["torch"]}')
