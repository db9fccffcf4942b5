"""A tiny mmengine training run for the checkpoint kill tests: a checkpoint
every iteration (``max_keep_ckpts=1``) of a model with a 16 MB parameter,
so that a write takes long enough to be killed in the middle."""
import os
import time

import torch
from mmengine.fileio import LocalBackend
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmmamba.utils import find_resumable, setup


class Toy(BaseModel):
    """A linear map plus a large parameter that only makes files big."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)
        self.ballast = torch.nn.Parameter(torch.zeros(4 * 1024 * 1024))

    def forward(self, x, mode='loss'):
        loss = (self.linear(x) ** 2).mean() + 0 * self.ballast.sum()
        time.sleep(0.01)  # time for the killer between two writes
        return dict(loss=loss)


class Data(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, index):
        return dict(x=torch.full((4, ), float(index)))


def die_in_write(nth):
    """Make the ``nth`` checkpoint write of this process stop half-way, as
    a kill would (the process exits at once, status 137)."""
    put, count = LocalBackend.put, [0]

    def half_put(self, obj, filepath):
        count[0] += 1
        if count[0] == nth:
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            os._exit(137)
        put(self, obj, filepath)

    LocalBackend.put = half_put


def train(work_dir, max_iters, resume=False, stock=False, die_at=None):
    """Train the toy to ``max_iters``; ``resume``: from the newest usable
    checkpoint (as tools/train.py --resume); ``stock``: with mmengine's
    CheckpointHook instead of ours; ``die_at``: see :func:`die_in_write`."""
    setup()
    if die_at:
        die_in_write(die_at)
    hook = 'CheckpointHook' if stock else 'mmmamba.utils.SafeCheckpointHook'
    path = find_resumable(work_dir, warn=lambda line: None) if resume \
        else None
    runner = Runner(
        model=Toy(), work_dir=work_dir,
        train_dataloader=dict(dataset=Data(), batch_size=2,
                              sampler=dict(type='DefaultSampler',
                                           shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(
            type=hook, interval=1, by_epoch=False, max_keep_ckpts=1)),
        load_from=path, resume=path is not None, default_scope='mmengine',
        experiment_name=f'toy_{os.getpid()}_{time.time_ns()}',
        log_level='ERROR')
    runner.train()
    return runner.iter
