"""docs/design.md § Code layout stays true: every path it lists exists, and
every package folder (mmmamba/...), every csrc/ folder and every top-level
folder of the repository is listed."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def listed_paths():
    """The paths of the layout block: the first word of each line that
    starts at column 0 inside the section's code fence."""
    text = (ROOT / 'docs' / 'design.md').read_text(encoding='utf-8')
    section = re.search(r'^## \d+\. Code layout\n(.*?)(?=^## |\Z)', text,
                        re.S | re.M)
    assert section, 'docs/design.md has no "Code layout" section'
    block = re.search(r'^```\n(.*?)^```', section.group(1), re.S | re.M)
    assert block, 'the Code layout section has no code block'
    return [line.split()[0] for line in block.group(1).splitlines()
            if line and not line[0].isspace()]


def tracked_folders():
    """Folders that hold a tracked file (a clean clone's folders)."""
    files = subprocess.run(['git', 'ls-files'], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    folders = set()
    for name in files:
        parts = Path(name).parts[:-1]
        folders.update('/'.join(parts[:i]) + '/'
                       for i in range(1, len(parts) + 1))
    return folders


def test_every_listed_path_exists():
    missing = [p for p in listed_paths() if not (ROOT / p).exists()]
    assert not missing, f'docs/design.md lists paths that do not exist: {missing}'


def test_every_package_and_csrc_folder_is_listed():
    listed = set(listed_paths())
    wanted = {f for f in tracked_folders()
              if f.startswith(('mmmamba/', 'csrc/')) or f.count('/') == 1}
    wanted = {f for f in wanted if not f.startswith('.')
              and '__pycache__' not in f and not f.startswith('mmmamba/.')}
    unlisted = sorted(wanted - listed)
    assert not unlisted, (f'folders missing from docs/design.md § Code layout: '
                          f'{unlisted}')


def test_listed_folders_end_with_a_slash():
    wrong = [p for p in listed_paths()
             if (ROOT / p).is_dir() != p.endswith('/')]
    assert not wrong, f'a folder ends with "/", a file does not: {wrong}'
