"""Checkpoint files on disk: written so that a kill never leaves a damaged
file under a checkpoint's name, checked before a resume, and the newest
usable one found in a work dir.

A write goes to a hidden temporary name in the same directory
(``.<name>.<pid>.tmp``), is flushed to disk, then renamed into place: the
rename is atomic on a POSIX file system, so a reader sees the old file or the
complete new one, never a part. A kill leaves at most a temporary file,
which :func:`remove_partial_writes` clears.
"""
import glob
import os
import os.path as osp
import re
import zipfile

__all__ = ['write_atomically', 'remove_partial_writes', 'checkpoint_problem',
           'checkpoints_newest_first', 'find_resumable', 'ResumeError']

_TMP_SUFFIX = '.tmp'
# iter_12.pth / epoch_3.pth as mmengine's CheckpointHook names them
_STEP = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


class ResumeError(RuntimeError):
    """No usable checkpoint to resume from (the message says what to do)."""


def _fsync(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path, write):
    """Call ``write(tmp_path)``, flush what it wrote to disk and rename it to
    ``path``; the temporary file is removed if ``write`` fails."""
    directory, name = osp.split(osp.abspath(path))
    tmp = osp.join(directory, f'.{name}.{os.getpid()}{_TMP_SUFFIX}')
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.lexists(tmp):
            os.remove(tmp)
        raise
    _fsync(directory, directory=True)  # the rename itself


def remove_partial_writes(directory):
    """Remove the temporary files that killed writes left in ``directory``;
    returns their names."""
    found = glob.glob(osp.join(glob.escape(directory), f'.*{_TMP_SUFFIX}'))
    partial = [p for p in found if re.search(r'\.\d+\.tmp$', p)]
    for path in partial:
        os.remove(path)
    return [osp.basename(p) for p in partial]


def checkpoint_problem(path):
    """``None`` when ``path`` is a complete ``torch.save`` file, else what is
    wrong with it, in a few words.

    torch writes a zip archive with a CRC-32 per entry: a file cut short has
    no central directory at its end, and a damaged one fails its CRC. The
    check reads the file once and unpickles nothing.
    """
    if not osp.isfile(path):
        return 'no such file'
    if osp.getsize(path) == 0:
        return 'empty file (0 bytes)'
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile:
        return (f'truncated or not a PyTorch checkpoint '
                f'({osp.getsize(path)} bytes, no zip directory at its end)')
    except (OSError, EOFError) as err:
        return f'unreadable ({err})'
    if bad is not None:
        return f'damaged (entry {bad} fails its checksum)'
    return None


def checkpoints_newest_first(directory):
    """The ``iter_N.pth`` / ``epoch_N.pth`` files of ``directory``, highest
    N first."""
    steps = []
    for name in os.listdir(directory) if osp.isdir(directory) else ():
        match = _STEP.match(name)
        if match:
            steps.append((int(match[1]), osp.join(directory, name)))
    return [path for _, path in sorted(steps, reverse=True)]


def _last_checkpoint(work_dir):
    """What ``work_dir/last_checkpoint`` names ('' when absent or empty)."""
    try:
        with open(osp.join(work_dir, 'last_checkpoint')) as f:
            return f.read().strip()
    except OSError:
        return ''


def find_resumable(work_dir, requested=None, warn=print):
    """The checkpoint to resume from: ``requested`` (a path) when it is
    usable, else the newest usable one in its directory and in ``work_dir``
    (``iter_N`` / ``epoch_N``, highest N first, then what
    ``last_checkpoint`` names).

    Each damaged file passed over is named in one ``warn`` line. Returns
    ``None`` when nothing was requested and ``work_dir`` has no checkpoint
    (a fresh start); raises :class:`ResumeError` when checkpoints exist but
    none is usable, or ``requested`` does not exist.
    """
    if requested is not None and not osp.exists(requested):
        raise ResumeError(
            f'--resume {requested}: no such file; give an iter_N.pth / '
            f'epoch_N.pth of a run, or --resume alone for the newest one in '
            f'the work dir ({work_dir})')
    candidates = [requested] if requested else []
    for directory in ([osp.dirname(requested)] if requested else []) + [
            work_dir]:
        candidates += checkpoints_newest_first(directory)
    last = _last_checkpoint(work_dir)  # may be named otherwise
    if last:
        candidates.append(last)
    seen, damaged = set(), []
    for path in candidates:
        key = osp.realpath(path)
        if key in seen or not osp.exists(path):
            continue  # last_checkpoint may name a file removed since
        seen.add(key)
        problem = checkpoint_problem(path)
        if problem is None:
            if damaged:
                warn(f'resuming from {path} instead')
            return path
        damaged.append(path)
        warn(f'skipping checkpoint {path}: {problem}')
    if damaged:
        raise ResumeError(
            f'no usable checkpoint to resume from in {work_dir} '
            f'({len(damaged)} damaged: {", ".join(map(osp.basename, damaged))}'
            f'); delete them and train again without --resume')
    return None
