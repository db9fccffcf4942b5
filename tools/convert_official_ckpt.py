"""Convert a released A2Mamba checkpoint to mmmamba's backbone layout.

    python tools/convert_official_ckpt.py a2mamba_tiny.pth a2mamba_tiny_mm.pth

The output holds ``{'state_dict': ..., 'meta': {...}}`` with plain tensors
only, loadable with ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``.
``--trust`` reads an input that holds objects outside torch's weights-only
allow-list with full unpickling: only for files whose origin you trust.
"""
import argparse

import torch

from mmmamba.models.utils import convert_official_a2mamba
from mmmamba.models.utils.checkpoint import (extract_state_dict,
                                             load_checkpoint_file)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='released checkpoint (.pth)')
    parser.add_argument('dst', help='output path')
    parser.add_argument('--state-dict-key', default=None,
                        help="entry holding the weights, e.g. 'state_dict_ema'"
                        ' (default: state_dict, model, ... in that order)')
    parser.add_argument('--trust', action='store_true',
                        help='read SRC with full unpickling (trusted files '
                        'only)')
    return parser.parse_args()


def main():
    args = parse_args()
    if args.trust:
        checkpoint = torch.load(args.src, map_location='cpu',
                                weights_only=False)
    else:
        checkpoint = load_checkpoint_file(args.src)
    state_dict = extract_state_dict(checkpoint, args.state_dict_key)
    converted = convert_official_a2mamba(state_dict)
    torch.save({'state_dict': converted,
                'meta': {'converted_from': args.src}}, args.dst)
    print(f'wrote {len(converted)} tensors to {args.dst} '
          f'({len(state_dict) - len(converted)} released entries dropped: '
          f'classifier head and tied bias copies)')


if __name__ == '__main__':
    main()
