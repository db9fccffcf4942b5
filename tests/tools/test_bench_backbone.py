"""benchmarks/bench_backbone.py --quick: every comparison runs in its child
process and prints real numbers; the kernels agree with the reference."""
import os.path as osp
import re
import subprocess
import sys

from tools_helpers import ROOT

NUMBER = r'([0-9.]+(?:e[-+][0-9]+)?)'


def test_quick_run_prints_every_comparison():
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'benchmarks', 'bench_backbone.py'),
         '--quick', '--skip', 'compile'], capture_output=True, text=True,
        timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for label in ('backbone forward 64² b1', 'training step 64² b1',
                  'backbone forward 64² b2', 'training step 64² b2',
                  'UperNet inference 64² b1'):
        line = next(line for line in out.splitlines() if line.startswith(label))
        a, s, ratio = map(float, re.findall(rf'{NUMBER} s', line) +
                          [line.split()[-1]])
        assert a > 0 and s > 0 and abs(ratio - a / s) < 0.5 * a / s
    peaks = re.findall(rf'its peak memory +{NUMBER} MiB +{NUMBER} MiB', out)
    assert len(peaks) == 2 and all(float(v) > 0 for p in peaks for v in p)
    diff = re.search(rf'largest relative difference of the outputs {NUMBER}',
                     out)
    assert diff and float(diff.group(1)) < 1e-4, out


def test_profile_step_groups_the_whole_step():
    """benchmarks/profile_step.py at 64²: every part's time is a number, the
    parts add up to the printed total and the compiled kernels show up in
    their own parts (an op that fell into 'other' would hide them)."""
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'benchmarks', 'profile_step.py'),
         '--size', '64'], capture_output=True, text=True, timeout=600,
        check=False)
    assert proc.returncode == 0, proc.stderr
    total = float(re.search(rf'{NUMBER} ms of self CPU time',
                            proc.stdout).group(1))
    parts = dict((name, float(ms)) for name, ms in re.findall(
        rf'^\| ([^|]+) \| {NUMBER} \| [0-9]+% \|$', proc.stdout, re.M))
    assert abs(sum(parts.values()) - total) <= 0.01 * total + len(parts)
    for part in ('neighbourhood attention + aggregation kernels',
                 'selective scan kernel',
                 'depthwise convolutions (mmmamba kernel), fwd + bwd'):
        assert parts[part] > 0, proc.stdout
