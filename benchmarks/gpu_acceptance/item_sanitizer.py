"""Item b: compute-sanitizer's memcheck, racecheck, synccheck and initcheck
on one small launch of every kernel (:mod:`.launches`), the four tools run
in parallel; zero reports pass. Without a GPU the launches run bare (the
code path, no sanitizer)."""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

from .common import ItemResult, kernel_backends

TOOLS = ('memcheck', 'racecheck', 'synccheck', 'initcheck')
PACKAGE_PARENT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SUMMARY = re.compile(r'ERROR SUMMARY: (\d+) error')


def find_sanitizer():
    """compute-sanitizer on PATH or in CUDA_HOME / /usr/local/cuda."""
    found = shutil.which('compute-sanitizer')
    homes = [os.environ.get('CUDA_HOME'), '/usr/local/cuda']
    candidates = [found] + [osp.join(h, 'bin', 'compute-sanitizer')
                            for h in homes if h]
    return next((c for c in candidates if c and osp.exists(c)), None)


def launch_command(device):
    return [sys.executable, '-m', 'gpu_acceptance.launches', '--device',
            device, '--backends', ','.join(kernel_backends(device))]


def _environment():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (PACKAGE_PARENT, env.get('PYTHONPATH')) if p)
    return env


def run_sanitizers(device, out_dir, timeout=240):
    """Item b; each tool's log goes to ``out_dir/sanitizer_<tool>.log``."""
    if device != 'cuda':
        proc = subprocess.run(launch_command(device), env=_environment(),
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode:
            return ItemResult('FAIL', 'the small launches failed: '
                              + proc.stderr.strip().splitlines()[-1])
        return ItemResult('SKIP', 'no GPU: ' + proc.stdout.strip()
                          + ', without compute-sanitizer')
    sanitizer = find_sanitizer()
    if sanitizer is None:
        return ItemResult('FAIL', 'compute-sanitizer not found (PATH, '
                          'CUDA_HOME, /usr/local/cuda)')
    procs = {}
    for tool in TOOLS:
        log = open(osp.join(out_dir, f'sanitizer_{tool}.log'), 'w')
        procs[tool] = (subprocess.Popen(
            [sanitizer, '--tool', tool, '--error-exitcode', '99',
             *launch_command(device)], env=_environment(), stdout=log,
            stderr=subprocess.STDOUT), log)
    reports = {}
    for tool, (proc, log) in procs.items():
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = 'timeout'
        log.close()
        with open(log.name) as f:
            text = f.read()
        found = SUMMARY.findall(text)
        reports[tool] = dict(exit_code=code,
                             errors=int(found[-1]) if found else None)
    bad = {t: r for t, r in reports.items()
           if r['exit_code'] != 0 or r['errors'] != 0}
    text = ', '.join(f'{t} {r["errors"]}' for t, r in reports.items())
    if bad:
        return ItemResult('FAIL', f'reports: {text}; exit codes '
                          f'{ {t: r["exit_code"] for t, r in bad.items()} } '
                          f'(logs: sanitizer_<tool>.log)', reports)
    return ItemResult('PASS', f'0 reports from {", ".join(TOOLS)} on '
                      f'{", ".join(kernel_backends(device))}', reports)
