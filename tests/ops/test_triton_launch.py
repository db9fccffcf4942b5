"""Every Triton launch goes through ``mmmamba.ops.triton.common.launch``,
which runs the kernel under the CUDA device of its first tensor argument
(Triton launches on the current device) and under no guard for CPU
tensors (the interpreter)."""
import pytest
import torch

from mmmamba.ops.triton import common


class _OnDevice(torch.Tensor):
    """A CPU tensor that reports ``device`` (to see launch's guard)."""
    where = torch.device('cpu')

    @property
    def device(self):
        return self.where


@pytest.mark.parametrize('device', ['cuda:1', 'cpu'])
def test_launch_runs_under_the_first_tensors_device(monkeypatch, device):
    events = []

    class Guard:
        def __init__(self, where):
            self.where = where

        def __enter__(self):
            events.append(('enter', self.where))

        def __exit__(self, *exc):
            events.append(('exit', self.where))

    class Kernel:
        def __getitem__(self, grid):
            return lambda *args, **meta: events.append(('run', grid, meta))

    monkeypatch.setattr(common.torch.cuda, 'device', Guard)
    tensor = torch.zeros(2).as_subclass(_OnDevice)
    tensor.where = torch.device(device)
    common.launch(Kernel(), (3, ), 7, tensor, torch.zeros(1), BLOCK=4)
    run = ('run', (3, ), dict(BLOCK=4))
    if device == 'cpu':
        assert events == [run]
    else:
        assert events == [('enter', tensor.where), run,
                          ('exit', tensor.where)]
