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
