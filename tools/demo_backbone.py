"""Run the A2Mamba backbone on a real photograph and print its feature maps.

    python tools/demo_backbone.py [--arch tiny] [--size 512] [--checkpoint a2mamba_tiny.pth]

The backbone is built the way an mmdet config builds it (`import mmmamba` registers A2Mamba in
mmdet's and mmseg's registries). Without --checkpoint the weights are randomly initialised: the
shapes and the timing are what they will be with the official weights.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import _common  # noqa: E402,F401  (quiets third-party deprecation warnings)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmdet.registry import MODELS  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from skimage.data import astronaut  # noqa: E402

import mmmamba  # noqa: E402,F401  (registers A2Mamba)

# ImageNet statistics in the 0-255 range, as in mmdet / mmseg data preprocessors.
MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
STD = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='tiny', help='A2Mamba size (default: tiny)')
    parser.add_argument('--size', type=int, default=512,
                        help='the photo is resized to SIZE x SIZE (default: 512)')
    parser.add_argument('--checkpoint', help='optional weights (the official .pth or ours)')
    return parser.parse_args()


def load_photo(size):
    """skimage's astronaut (512x512 RGB), resized and normalised: a 1x3xSIZExSIZE tensor."""
    image = torch.from_numpy(astronaut()).permute(2, 0, 1)[None].float()  # 1, 3, 512, 512
    if image.shape[-2:] != (size, size):
        image = F.interpolate(image, size=(size, size), mode='bilinear', antialias=True,
                              align_corners=False)
    return (image - MEAN) / STD


def main():
    args = parse_args()
    # Without this, init_weights() logs one INFO paragraph per parameter; warnings still show.
    MMLogger.get_instance('demo_backbone', log_level='WARNING')
    init_cfg = None
    if args.checkpoint:
        init_cfg = dict(type='Pretrained', checkpoint=args.checkpoint)
    model = MODELS.build(
        dict(type='A2Mamba', arch=args.arch, out_indices=(0, 1, 2, 3), init_cfg=init_cfg))
    model.init_weights()
    model.eval()
    num_params = sum(p.numel() for p in model.parameters())
    weights = args.checkpoint or 'random initialisation (no --checkpoint)'
    print(f'A2Mamba-{args.arch}: {num_params / 1e6:.2f} M parameters, weights: {weights}')

    image = load_photo(args.size)
    print(f'input: skimage.data.astronaut() -> {tuple(image.shape)}, '
          f'{torch.get_num_threads()} CPU threads')
    with torch.no_grad():
        start = time.perf_counter()
        features = model(image)
        seconds = time.perf_counter() - start
    for index, feature in enumerate(features):
        print(f'  stage {index + 1}: {tuple(feature.shape)}')
    print(f'forward (first call): {seconds:.2f} s')


if __name__ == '__main__':
    main()
