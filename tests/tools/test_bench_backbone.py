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


def test_bench_onnx_attention_times_both_forms():
    """benchmarks/bench_onnx_attention.py at 96² (maps 24 and 12 of the test
    arch, local and dilated): both forms timed, the speed-up is their
    ratio."""
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'benchmarks',
                                  'bench_onnx_attention.py'),
         '--arch', 'test', '--sizes', '96:1', '--reps', '2'],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()
            if line.strip().startswith('96×1') and 'not timed' not in line]
    assert [(r[1], r[3]) for r in rows] == [('24', '1'), ('24', '2'),
                                            ('12', '1')]
    for row in rows:
        window, halo, speedup = map(float, row[5:8])  # 2 decimals each
        assert window > 0 and halo > 0
        assert (window - 0.005) / (halo + 0.005) - 0.005 <= speedup <= \
            (window + 0.005) / (halo - 0.005) + 0.005
        assert row[8] in ('halo', 'window')


def test_profile_onnx_tables_and_wall_time(tmp_path):
    """benchmarks/profile_onnx.py on a conv + ReLU graph (onnxruntime fuses
    them): the op table holds the conv with its time and share; --wall
    prints the time alone."""
    import torch
    path = str(tmp_path / 'tiny.onnx')
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    torch.onnx.export(module, (torch.randn(1, 3, 16, 16), ), path,
                      dynamo=False, input_names=['image'],
                      dynamic_axes={'image': {0: 'batch'}})
    script = osp.join(ROOT, 'benchmarks', 'profile_onnx.py')
    out = subprocess.run([sys.executable, script, path, '--batch', '2'],
                         capture_output=True, text=True, timeout=300,
                         check=True).stdout
    ops = dict(re.findall(r'^\| (\w+) +\| +[0-9.]+ \| +([0-9.]+)%', out,
                          re.M))
    assert 'Conv' in ops, out
    assert 99 <= sum(map(float, ops.values())) <= 101  # the shares add up
    wall = subprocess.run([sys.executable, script, path, '--wall'],
                          capture_output=True, text=True, timeout=300,
                          check=True).stdout
    assert re.search(rf'no profiler: wall {NUMBER} ms per run', wall), wall
    assert 'by op type' not in wall
