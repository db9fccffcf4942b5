"""Convert a released A2Mamba checkpoint to mmmamba's backbone layout.

    python tools/convert_official_ckpt.py a2mamba_tiny.pth a2mamba_tiny_mm.pth

The output holds ``{'state_dict': ..., 'meta': {...}}`` with plain tensors
only, loadable with ``init_cfg=dict(type='Pretrained', checkpoint=OUT)``.
``--trust`` reads an input that holds objects outside torch's weights-only
allow-list with full unpickling: only for files whose origin you trust.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import _common  # noqa: E402,F401  (quiets third-party deprecation warnings)
import torch  # noqa: E402
from _errors import run_tool  # noqa: E402

from mmmamba.models.utils import convert_official_a2mamba  # noqa: E402
from mmmamba.models.utils.checkpoint import (  # noqa: E402
    extract_state_dict, load_checkpoint_file)
from mmmamba.utils import write_atomically  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='released checkpoint (.pth)')
    parser.add_argument('dst', help='output path')
    parser.add_argument('--state-dict-key', default=None,
                        help="entry holding the weights, e.g. 'state_dict_ema'"
                        ' (default: state_dict, model, ... in that order)')
    parser.add_argument('--trust', action='store_true',
                        help='read SRC with full unpickling (trusted files '
                        'only)')
    return parser.parse_args(argv)


def convert(src, state_dict_key=None, trust=False):
    """The converted state dict and the number of dropped entries."""
    if trust:
        checkpoint = torch.load(src, map_location='cpu', weights_only=False)
    else:
        checkpoint = load_checkpoint_file(src)
    state_dict = extract_state_dict(checkpoint, state_dict_key)
    converted = convert_official_a2mamba(state_dict)
    return converted, len(state_dict) - len(converted)


def main(argv=None):
    args = parse_args(argv)
    try:
        converted, dropped = convert(args.src, args.state_dict_key,
                                     args.trust)
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as err:
        # the loaders' messages say what is wrong and what to do
        message = err.args[0] if isinstance(err, KeyError) else err
        raise SystemExit(f'convert_official_ckpt.py: error: {message}') \
            from err
    checkpoint = {'state_dict': converted,
                  'meta': {'converted_from': args.src}}
    # complete or absent, never a part of a file under the name
    write_atomically(args.dst, lambda tmp: torch.save(checkpoint, tmp))
    print(f'wrote {len(converted)} tensors to {args.dst} '
          f'({dropped} released entries dropped: classifier head and tied '
          f'bias copies)')


if __name__ == '__main__':
    sys.exit(run_tool(main))
