"""ThreadSanitizer over the CUDA kernels in the host emulation: every
launcher runs race-free, and a kernel with a missing barrier is caught
(tools/cuda_host_tsan.sh, csrc/cuda_host/tsan_driver.cpp)."""
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / 'tools' / 'cuda_host_tsan.sh'


def _run(*args):
    return subprocess.run(['bash', str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=900)


def test_every_launcher_is_race_free():
    result = _run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'ThreadSanitizer' not in result.stderr
    assert result.stdout.count(': ok') == 8
    assert 'all launches ok' in result.stdout


def test_a_missing_barrier_is_reported():
    result = _run('--racy')
    assert result.returncode != 0
    assert 'ThreadSanitizer: data race' in result.stderr
    assert 'racy_kernel' in result.stderr
