"""The minimum torch / Triton versions: equal to requirements/runtime.txt,
and a clear error below them."""
import re
from pathlib import Path

import pytest

from mmmamba.ops.versions import MIN_TORCH, MIN_TRITON, release, require

RUNTIME = Path(__file__).resolve().parents[2] / 'requirements' / 'runtime.txt'


def runtime_minimum(package):
    text = RUNTIME.read_text()
    match = re.search(rf'^{package}>=(\S+)', text, re.M)
    assert match, f'{package} has no >= line in {RUNTIME}'
    return release(match[1])


def test_minimums_are_the_requirements():
    assert runtime_minimum('torch') == MIN_TORCH
    assert runtime_minimum('triton') == MIN_TRITON


def test_release_reads_local_and_dev_versions():
    assert release('2.13.0+cpu') == (2, 13)
    assert release('3.6.0.dev20260101') == (3, 6)
    assert release('2.9.1') < (2, 11)


def test_an_older_version_is_refused_with_the_install_command():
    with pytest.raises(ImportError, match=r'need torch >= 2\.11 \(found '
                       r'2\.9\.1\): pip install "torch>=2\.11"'):
        require('torch', '2.9.1', MIN_TORCH, 'the mmmamba operators')
    require('torch', '2.11.0', MIN_TORCH, 'the mmmamba operators')
