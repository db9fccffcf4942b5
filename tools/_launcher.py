"""Workers that stop when their launcher dies.

torchrun's agent (tools/dist_train.sh, dist_test.sh) and Slurm's step daemon
start our tools as child processes. If the launcher is killed (SIGKILL, a
lost node), its children would train on as orphans, writing into the work
dir. On Linux a worker asks the kernel for SIGTERM when its parent exits
(``PR_SET_PDEATHSIG``); the launch scripts export ``MMMAMBA_LAUNCHER_PID``
so that a launcher already gone before the request is noticed too.
"""
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h
LAUNCHER_PID_ENV = 'MMMAMBA_LAUNCHER_PID'


def die_with_launcher(sig=signal.SIGTERM):
    """Ask for ``sig`` when the parent process exits; exit at once if the
    launcher named by ``MMMAMBA_LAUNCHER_PID`` is no longer the parent.
    Returns False where the kernel has no such request (not Linux)."""
    if not sys.platform.startswith('linux'):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    launcher = os.environ.get(LAUNCHER_PID_ENV, '')
    if launcher.isdigit() and not _is_ancestor(int(launcher)):
        sys.exit(f'{os.path.basename(sys.argv[0])}: error: the launcher '
                 f'(pid {launcher}) exited before this worker started')
    return True


def _is_ancestor(pid):
    """True when ``pid`` is an ancestor of this process (Slurm and torchrun
    may put a process between the script and the worker)."""
    current = os.getppid()
    while current > 1:
        if current == pid:
            return True
        try:
            with open(f'/proc/{current}/stat') as f:
                current = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False
