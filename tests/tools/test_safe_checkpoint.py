"""SafeCheckpointHook and resume: no checkpoint is lost to a kill during a
write, and resume passes over damaged files to the newest complete one.

The runs are forked from this process (mmengine already imported), so a run
starts in a fraction of a second."""
import multiprocessing
import os
import signal
import time

import pytest
import torch
from toy_training import train

from mmmamba.utils import ResumeError, SafeCheckpointHook, find_resumable
from mmmamba.utils.checkpoint_files import (checkpoint_problem,
                                            checkpoints_newest_first)

FORK = multiprocessing.get_context('fork')


def start(work, max_iters, **kwargs):
    process = FORK.Process(target=train, args=(str(work), max_iters),
                           kwargs=kwargs)
    process.start()
    return process


def wait_for(condition, process, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.is_alive(), 'the run ended before the kill'
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.0005)


def temporary(work):
    return [n for n in os.listdir(work) if n.endswith('.tmp')]


def newest_step(work):
    found = checkpoints_newest_first(str(work))
    return int(found[0].rsplit('_', 1)[1][:-4]) if found else 0


def finish(work):
    """Resume to two iterations past the newest checkpoint; returns that
    checkpoint's step."""
    step = newest_step(work)
    process = start(work, step + 2, resume=True)
    process.join(120)
    assert process.exitcode == 0
    found = checkpoints_newest_first(str(work))
    assert found[0] == str(work / f'iter_{step + 2}.pth')
    # a kill between a write and the removal it allows leaves one older file
    assert len(found) <= 2
    return step


@pytest.mark.parametrize('stock', [False, True], ids=['ours', 'mmengine'])
def test_write_cut_half_way_keeps_the_previous_checkpoint(stock, tmp_path):
    """The 3rd write stops half-way (as under a kill): ours keeps iter_2 and
    resumes from it; mmengine's hook has already deleted iter_2 and left a
    half file under the name iter_3.pth (this is what the hook fixes)."""
    process = start(tmp_path, 10, stock=stock, die_at=3)
    process.join(60)
    assert process.exitcode == 137
    if stock:
        assert not (tmp_path / 'iter_2.pth').exists()
        with pytest.raises(ResumeError, match='iter_3.pth'):
            find_resumable(str(tmp_path), warn=lambda line: None)
        return
    assert checkpoints_newest_first(str(tmp_path)) == [
        str(tmp_path / 'iter_2.pth')]
    assert checkpoint_problem(str(tmp_path / 'iter_2.pth')) is None
    assert len(temporary(tmp_path)) == 1  # the cut write, hidden
    assert finish(tmp_path) == 2
    assert not temporary(tmp_path)  # cleared by the resumed run


def test_sigkill_at_several_moments_of_a_checkpoint_write(tmp_path):
    """SIGKILL while a checkpoint is written, just after, and between
    writes, each run resumed from the last one's newest checkpoint; every
    file under a checkpoint name is complete after every kill."""
    process = start(tmp_path, 10 ** 6)
    wait_for(lambda: newest_step(tmp_path) >= 1, process)
    moments = [
        ('during a write', lambda: temporary(tmp_path), 0.0),
        ('late in a write', lambda: temporary(tmp_path), 0.03),
        ('after a write', lambda: newest_step(tmp_path) > seen, 0.0),
        ('between writes', lambda: True, 0.25),
    ]
    for what, condition, delay in moments:
        seen = newest_step(tmp_path)
        wait_for(condition, process)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        found = checkpoints_newest_first(str(tmp_path))
        assert found, f'no checkpoint left after a kill {what}'
        for path in found:
            assert checkpoint_problem(path) is None, (what, path)
        assert find_resumable(str(tmp_path), warn=print) == found[0]
        resumed = newest_step(tmp_path)
        process = start(tmp_path, 10 ** 6, resume=True)
        # the resumed run has cleared the cut write and saved once
        wait_for(lambda: newest_step(tmp_path) > resumed, process)
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    finish(tmp_path)


def test_the_hook_is_found_by_either_name():
    """Stock tools name it by its module path (no import needed), ours
    also by the registered name."""
    from mmengine.registry import HOOKS
    assert HOOKS.get('SafeCheckpointHook') is SafeCheckpointHook
    assert HOOKS.get('mmmamba.utils.SafeCheckpointHook') is \
        SafeCheckpointHook


def save(path, step):
    weights = {'w': torch.arange(10000.0) * step}  # 40 kB of tensor data
    torch.save({'meta': {'iter': step}, 'state_dict': weights}, path)


def test_resume_skips_damaged_files_and_empty_last_checkpoint(tmp_path):
    lines = []
    save(tmp_path / 'iter_2.pth', 2)
    save(tmp_path / 'iter_4.pth', 4)
    full = (tmp_path / 'iter_4.pth').read_bytes()
    (tmp_path / 'iter_6.pth').write_bytes(full[:len(full) // 2])  # cut
    (tmp_path / 'iter_8.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text('')  # killed while written
    assert find_resumable(str(tmp_path), warn=lines.append) == str(
        tmp_path / 'iter_4.pth')
    assert [line.split(':')[0] for line in lines[:2]] == [
        f'skipping checkpoint {tmp_path}/iter_8.pth',
        f'skipping checkpoint {tmp_path}/iter_6.pth']
    assert 'empty' in lines[0] and 'truncated' in lines[1]
    # an explicit damaged path is named and passed over the same way
    lines.clear()
    assert find_resumable(str(tmp_path), str(tmp_path / 'iter_6.pth'),
                          warn=lines.append) == str(tmp_path / 'iter_4.pth')
    assert 'iter_6.pth' in lines[0]
    # a flipped byte inside an entry fails its checksum
    damaged = bytearray(full)
    damaged[len(damaged) // 2] ^= 0xFF  # inside the tensor's bytes
    (tmp_path / 'iter_4.pth').write_bytes(bytes(damaged))
    assert checkpoint_problem(str(tmp_path / 'iter_4.pth')) is not None
    assert find_resumable(str(tmp_path), warn=lines.append) == str(
        tmp_path / 'iter_2.pth')


def test_resume_without_any_usable_checkpoint(tmp_path):
    assert find_resumable(str(tmp_path)) is None  # fresh start
    with pytest.raises(ResumeError, match='no such file'):
        find_resumable(str(tmp_path), str(tmp_path / 'iter_9.pth'))
    (tmp_path / 'iter_1.pth').write_bytes(b'PK\x03\x04 cut')
    with pytest.raises(ResumeError, match=r'1 damaged: iter_1\.pth'):
        find_resumable(str(tmp_path), warn=lambda line: None)
