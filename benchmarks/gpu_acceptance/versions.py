"""The installed torch and Triton against the minimum versions of
requirements/runtime.txt; exits 1 with what to install when one is older.

    python -m gpu_acceptance.versions [--no-triton]
"""
import importlib.metadata
import os.path as osp
import re
import sys

RUNTIME = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))), 'requirements', 'runtime.txt')


def _release(version):
    """'2.11.0+cu130' -> (2, 11, 0)."""
    return tuple(int(p) for p in re.findall(r'\d+', version.split('+')[0])[:3])


def minimum_versions(path=RUNTIME):
    """``{package: 'X.Y'}`` of each ``package>=X.Y`` line of ``path``."""
    found = {}
    with open(path) as f:
        for line in f:
            match = re.match(r'\s*([A-Za-z0-9_.-]+)\s*>=\s*([0-9.]+)', line)
            if match:
                found[match.group(1).lower()] = match.group(2)
    return found


def too_old(packages):
    """One line per package of ``packages`` older than its minimum (or
    missing)."""
    lines = []
    for name, least in minimum_versions().items():
        if name not in packages:
            continue
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            lines.append(f'{name} is not installed: install {name}>={least}')
            continue
        if _release(have) < _release(least):
            lines.append(f'{name} {have} is older than the tested minimum '
                         f'{least}: install {name}>={least}')
    return lines


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    packages = ('torch', ) if '--no-triton' in argv else ('torch', 'triton')
    lines = too_old(packages)
    for line in lines:
        print(f'[gpu_check] ERROR: {line}', file=sys.stderr)
    return int(bool(lines))


if __name__ == '__main__':
    sys.exit(main())
