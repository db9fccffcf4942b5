"""The sizes of each item: real ones on a GPU, small ones on the CPU."""
from typing import NamedTuple


class Profile(NamedTuple):
    """Sizes of one acceptance run."""
    name: str
    arch: str  # the backbone (A2Mamba-T: 'tiny')
    image: int  # item a: stage shapes of an image² input ...
    batch: int  # ... at this batch
    long_scan: int  # item a: one more scan length (several chunks)
    coco: tuple  # item a: a stage-1 map (H, W) of a COCO-sized input
    agree_image: int  # item c: input side of the backbone agreement
    train_image: int  # item c: input side, batch and steps of the AMP runs
    train_batch: int
    train_steps: int
    timing_shapes: tuple  # item d: backbone (image side, batch) pairs
    reps: int  # item d: timed reps per measurement (median)
    train_tool_config: str  # item e, under configs/a2mamba/


GPU = Profile(
    name='gpu', arch='tiny', image=512, batch=2, long_scan=9 * 1024 + 77,
    coco=(200, 336), agree_image=512, train_image=256, train_batch=2,
    train_steps=50, timing_shapes=((512, 1), (224, 32)), reps=10,
    train_tool_config='upernet_a2mamba_t_ade20k.py')
CPU = Profile(
    name='cpu-small', arch='test', image=64, batch=1, long_scan=2 * 1024 + 77,
    coco=(20, 34), agree_image=64, train_image=32, train_batch=2,
    train_steps=6, timing_shapes=((64, 1), (32, 2)), reps=2,
    train_tool_config='quickstart/upernet_a2mamba_test_tinyade.py')


def profile_for(device, small=False):
    """GPU sizes on CUDA, small ones on the CPU or when ``small``."""
    return CPU if small or device != 'cuda' else GPU
