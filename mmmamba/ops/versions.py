"""The oldest torch and Triton the operators are checked on, and the check.

Kept equal to ``requirements/runtime.txt`` (a test reads both): torch 2.11
and Triton 3.6 are what the lent GPU image holds (``tools/gpu_check.sh``);
older Triton lacks ``triton.knobs``, which the Triton kernels use.
"""
import re

MIN_TORCH = (2, 11)
MIN_TRITON = (3, 6)

__all__ = ['MIN_TORCH', 'MIN_TRITON', 'release', 'require']


def release(version):
    """``'2.13.0+cpu'`` → ``(2, 13)``: the major and minor release."""
    match = re.match(r'(\d+)\.(\d+)', version)
    if match is None:
        raise ValueError(f'cannot read a version from {version!r}.')
    return int(match[1]), int(match[2])


def require(package, version, minimum, what):
    """ImportError unless ``version`` of ``package`` is at least
    ``minimum``; ``what`` says what needs it."""
    if release(version) < minimum:
        wanted = '.'.join(map(str, minimum))
        raise ImportError(f'{what} need {package} >= {wanted} (found '
                          f'{version}): pip install "{package}>={wanted}"')
