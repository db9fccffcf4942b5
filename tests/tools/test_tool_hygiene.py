"""Our tools: known third-party deprecation warnings filtered (others kept),
Slurm launch scripts in mmdet's form, the converter's errors without
tracebacks."""
import logging
import os
import os.path as osp
import stat
import subprocess
import sys
import warnings

import pytest
from tools_helpers import QUICK_SEG, ROOT, TOOLS, load_tool


def test_only_known_third_party_deprecations_are_filtered():
    common = load_tool('_common')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        common.quiet_third_party_warnings()
        warnings.warn('pkg_resources is deprecated as an API. See ...',
                      UserWarning)
        warnings.warn('`torch.jit.script` is deprecated. Please ...',
                      DeprecationWarning)
        warnings.warn('``build_loss`` would be deprecated soon, please ...')
        warnings.warn('the input looks odd', UserWarning)
        warnings.warn('`foo` is deprecated', DeprecationWarning)
    assert [str(w.message) for w in caught] == ['the input looks odd',
                                                '`foo` is deprecated']
    logger = logging.getLogger('mmmamba-test-filter')
    logger.addFilter(common.drop_third_party_deprecations)
    records = []
    logger.addHandler(type('Keep', (logging.Handler, ), dict(
        emit=lambda self, record: records.append(record.getMessage())))())
    logger.warning('"FileClient" will be deprecated in future. Please use')
    logger.warning('The prefix is not set in metric class IoUMetric.')
    assert records == ['The prefix is not set in metric class IoUMetric.']


@pytest.mark.parametrize('script, args, expect', [
    ('slurm_train.sh', ['part', 'job', QUICK_SEG, 'work', '--amp'],
     ['train.py', QUICK_SEG, '--work-dir=work', '--amp', '--launcher=slurm']),
    ('slurm_test.sh', ['part', 'job', QUICK_SEG, 'c.pth', '--out', 'o d'],
     ['test.py', QUICK_SEG, 'c.pth', '--out', 'o d', '--launcher=slurm']),
])
def test_slurm_scripts_start_our_tools_through_srun(script, args, expect,
                                                    tmp_path):
    """A stand-in ``srun`` records its arguments (no cluster needed)."""
    srun = tmp_path / 'srun'
    srun.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SRUN_LOG"\n')
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f'{tmp_path}:{os.environ["PATH"]}',
               SRUN_LOG=str(tmp_path / 'argv'), GPUS='16')
    subprocess.run(['bash', osp.join(TOOLS, script), *args], check=True,
                   env=env, cwd=tmp_path, capture_output=True)
    argv = (tmp_path / 'argv').read_text().splitlines()
    assert argv[:2] == ['-p', 'part'] and '--job-name=job' in argv
    assert '--ntasks=16' in argv and '--ntasks-per-node=8' in argv
    tool = argv.index('-u') + 1
    assert argv[tool].endswith(osp.join('tools', expect[0]))
    assert argv[tool + 1:] == expect[1:]


def test_convert_tool_reports_errors_without_traceback(tmp_path):
    src = tmp_path / 'in.pth'
    src.write_bytes(b'not a checkpoint')
    proc = subprocess.run(
        [sys.executable, osp.join(TOOLS, 'convert_official_ckpt.py'),
         str(src), str(tmp_path / 'out.pth')], cwd=ROOT,
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stderr
    assert 'convert_official_ckpt.py: error' in proc.stderr
    assert 'is not a PyTorch checkpoint' in proc.stderr
    assert not (tmp_path / 'out.pth').exists()
