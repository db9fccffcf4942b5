"""Workers of tools/dist_train.sh stop when their launcher dies."""
import multiprocessing
import os
import os.path as osp
import signal
import subprocess
import sys
import time

from tools_helpers import QUICK_SEG, ROOT, data_options, load_tool


def children(pid):
    """Pids of the live children of ``pid``."""
    found = []
    for task in os.listdir(f'/proc/{pid}/task'):
        with open(f'/proc/{pid}/task/{task}/children') as f:
            found += [int(p) for p in f.read().split()]
    return found


def alive(pid):
    """True while ``pid`` runs (a zombie, reaped by nobody yet, is not)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        time.sleep(0.2)


def test_workers_stop_when_the_torchrun_agent_is_killed(tiny_data,
                                                        tmp_path):
    """SIGKILL to torchrun's agent (which cannot forward it): both workers
    get SIGTERM from the kernel and stop instead of training on."""
    work = tmp_path / 'work'
    env = dict(os.environ, PYTHON=sys.executable, PORT='29533',
               OMP_NUM_THREADS='1')
    agent = subprocess.Popen(
        ['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), QUICK_SEG, '2',
         '--work-dir', str(work), '--cfg-options',
         *data_options(tiny_data, 'seg'), 'train_cfg.max_iters=100000'],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    workers = []
    try:
        wait(lambda: len(children(agent.pid)) == 2, 120, 'two workers')
        workers = children(agent.pid)
        # the runner is built (long after the workers' parent-death request)
        wait(lambda: work.is_dir() and any(
            d.startswith('20') for d in os.listdir(work)), 300, 'training')
        agent.kill()
        agent.wait()
        wait(lambda: not any(alive(p) for p in workers), 60,
             'the workers to stop')
    finally:
        for pid in [agent.pid] + workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_whose_launcher_is_gone_exits_at_once(monkeypatch):
    """A launcher that died before the worker asked for the signal is
    noticed from MMMAMBA_LAUNCHER_PID (not an ancestor any more)."""
    launcher = load_tool('_launcher')
    monkeypatch.setenv(launcher.LAUNCHER_PID_ENV, str(2 ** 22 + 1))
    child = multiprocessing.get_context('fork').Process(
        target=launcher.die_with_launcher)
    child.start()
    child.join(30)
    assert child.exitcode == 1
    monkeypatch.setenv(launcher.LAUNCHER_PID_ENV, str(os.getpid()))
    child = multiprocessing.get_context('fork').Process(
        target=launcher.die_with_launcher)
    child.start()
    child.join(30)
    assert child.exitcode == 0  # its launcher (this process) is there
