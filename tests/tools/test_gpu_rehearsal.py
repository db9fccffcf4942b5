"""The GPU check's rehearsal, as the lent GPU machine runs it but on this
CPU: tools/gpu_bundle.sh for this Python, then tools/gpu_check.sh --cpu in
a fresh venv holding torch, pytest, the image's packages and the bundle.

It proves that nothing else is needed: the extension builds there with
``pip install -e . --no-build-isolation --no-deps``, ``from mmmamba import
ops`` runs every op on the C++ kernels with torch alone, and items a-e run
(a, c, d at small sizes on the cpu and cuda_host backends)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from tools_helpers import ROOT

STATUS = {'build': 'PASS', 'torch_only': 'PASS', 'a': 'PASS', 'b': 'SKIP',
          'c': 'PASS', 'd': 'FIGURE', 'e': 'SKIP'}
OPS = {'na2d_qk', 'na2d_av', 'selective_scan_states', 'a2ssm_aggregate'}


@pytest.fixture(scope='module')
def rehearsal(tmp_path_factory):
    """The report and the output of one rehearsal."""
    out = tmp_path_factory.mktemp('gpu_check')
    version = '%d.%d' % sys.version_info[:2]
    subprocess.run(['bash', osp.join(ROOT, 'tools', 'gpu_bundle.sh'),
                    '--python', version], check=True, timeout=300)
    env = dict(os.environ, PYTHON=sys.executable)
    env.pop('PYTHONPATH', None)
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'gpu_check.sh'), '--cpu', '--out',
         str(out)], env=env, capture_output=True, text=True, timeout=1700,
        check=False)
    with open(out / 'report.json') as f:
        return proc, json.load(f), (out / 'report.md').read_text()


@pytest.mark.timeout(1800)
def test_every_item_passes_in_a_torch_only_venv(rehearsal):
    proc, report, _ = rehearsal
    items = report['items']
    got = {key: item['status'] for key, item in items.items()}
    assert got == STATUS, '\n'.join(f'{k}: {v["summary"]}'
                                    for k, v in items.items())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'torch' in report['info'] and 'triton' not in report['info']


@pytest.mark.timeout(1800)
def test_summary_comes_last_one_line_per_item(rehearsal):
    proc, report, markdown = rehearsal
    lines = proc.stdout.strip().splitlines()[-len(STATUS):]
    titles = ('build:', 'torch-only ops:', 'a ops vs reference:',
              'b compute-sanitizer:', 'c backbone:', 'd timings:',
              'e tools/train.py:')
    assert len(lines) == len(titles), lines
    assert all(line.startswith(t) for line, t in zip(lines, titles)), lines
    assert '## Summary' in markdown and all(line in markdown
                                           for line in lines)


@pytest.mark.timeout(1800)
def test_items_hold_real_figures(rehearsal):
    _, report, _ = rehearsal
    rows = report['items']['a']['details']['rows']
    assert {row['op'] for row in rows} == OPS
    for backend in ('cpu', 'cuda_host'):
        assert all(row['errors'][backend] is not None for row in rows)
    backbone = report['items']['c']['details']
    assert set(backbone['agreement']) == {'cpu', 'cuda_host'}
    assert len(backbone['losses']) == 2  # fp16 and bf16 on the cpu backend
    assert all(len(v) == 6 for v in backbone['losses'].values())
    timings = report['items']['d']['details']
    for row in timings['ops']:
        assert row['times']['cpu']['forward'] > 0, row
        assert row['times']['reference']['forward_backward'] > 0, row
    a2mamba = [r for r in timings['backbones'] if r['model'] != 'Swin-T']
    assert a2mamba and all(r['forward_ms'] > 0 and r['train_step_ms'] > 0
                           for r in a2mamba)
