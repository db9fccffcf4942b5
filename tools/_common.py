"""Shared set-up of our tools (train, test, demo, analysis, deploy; mmdet and mmseg)."""
import os
import os.path as osp
import re
import sys
import warnings

FRAMEWORKS = ('mmdet', 'mmseg')
_RUN_COUNT = 0
# Deprecation notices of third-party packages that our users cannot act on,
# silenced by message in our tools only (every other warning still shows):
# Python warnings and the same notices that mmengine logs as WARNING records.
THIRD_PARTY_DEPRECATIONS = (
    r'pkg_resources is deprecated as an API',  # mmengine / mmcv imports
    r'`torch\.jit\.(script|interface)` is deprecated',  # torch.distributed
    r'``build_loss`` would be deprecated soon',  # mmseg's own heads
    r'`reduce_zero_label` will be deprecated',  # mmseg's LoadAnnotations
    r'Default ``avg_non_ignore`` is False',  # mmseg's loss (default notice)
    r'"FileClient" will be deprecated in future',  # mmengine.fileio, logged
    r'"HardDiskBackend" is the alias of "LocalBackend"',  # the same
)


def quiet_third_party_warnings():
    """Filter ``THIRD_PARTY_DEPRECATIONS`` (idempotent; call before the
    imports that emit them)."""
    for message in THIRD_PARTY_DEPRECATIONS:
        warnings.filterwarnings('ignore', message=message)


def drop_third_party_deprecations(record):
    """logging filter: drops the records of ``THIRD_PARTY_DEPRECATIONS``."""
    message = record.getMessage()
    return not any(re.match(p, message) for p in THIRD_PARTY_DEPRECATIONS)


quiet_third_party_warnings()

from _checks import (check_config_path, follow_training_length,  # noqa
                     loop_length, warn_unknown_options)
from _errors import DEBUG_HELP, ToolError  # noqa: E402
from mmengine.config import DictAction  # noqa: E402  (after the filter)
from mmengine.logging import print_log  # noqa: E402


def warn(message):
    """One warning line on stderr, prefixed with the tool's name."""
    print(f'{osp.basename(sys.argv[0])}: warning: {message}', file=sys.stderr)


def add_launch_args(parser):
    """``--cfg-options``, ``--launcher`` and ``--local-rank``, the stock
    arguments train.py and test.py share."""
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value (xxx=yyy)')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank, older ones --local_rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.epilog = DEBUG_HELP


def parse_launch_args(parser, argv=None):
    """Parse ``argv``; export LOCAL_RANK from ``--local-rank`` if unset."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.launcher != 'none':
        from _launcher import die_with_launcher
        die_with_launcher()
    return args


def resolve_work_dir(cfg, work_dir, config):
    """``cfg.work_dir``: ``--work-dir``, else the config's, else
    ``./work_dirs/<config file name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])


def load_config(path, cfg_options=None, launcher='none'):
    """Import mmmamba (models, ``mmmamba::`` prefix), then parse ``path``.

    ``path`` may also be ``mmmamba::a2mamba/<config>.py``. Warns about
    ``cfg_options`` keys that match nothing in the config; schedulers that
    end with training keep doing so when ``cfg_options`` change its length.
    """
    check_config_path(path)
    import mmmamba  # noqa: F401  (registers A2Mamba / MASSFPN)
    from mmengine.config import Config

    from mmmamba.utils import resolve_config, setup
    setup()
    if path.startswith('mmmamba::'):
        path = resolve_config(path)
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        warn_unknown_options(cfg._cfg_dict, cfg_options, warn)
        length = loop_length(cfg)
        cfg.merge_from_dict(cfg_options)
        follow_training_length(cfg, length, cfg_options,
                               lambda line: print_log(line, logger='current'))
    cfg.launcher = launcher
    return cfg


def setup_framework(cfg):
    """Framework from ``default_scope``; adapt the config to this device."""
    from mmmamba.utils import adapt_cfg_to_device, init_cpu_distributed
    framework = cfg.get('default_scope', None)
    if framework not in FRAMEWORKS:
        raise ValueError(
            f'default_scope must be one of {FRAMEWORKS} (it selects the '
            f'framework), got {framework!r}')
    # the stock tools register every module of their package
    if framework == 'mmdet':
        from mmdet.utils import register_all_modules
    else:
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    adapt_cfg_to_device(cfg)
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend',
                                                             'gloo')
    init_cpu_distributed(cfg.launcher, backend)
    return framework


def build_from_config(config, cfg_options=None):
    """Build the (untrained, init_cfg-free) model of an mmdet/mmseg config."""
    from mmengine.registry import init_default_scope

    from mmmamba.utils import adapt_cfg_to_device
    cfg = load_config(config, cfg_options)
    framework = cfg.get('default_scope', None)
    if framework == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    elif framework == 'mmseg':
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    else:
        raise ValueError(f'default_scope must be mmdet or mmseg, got '
                         f'{framework!r}')
    register_all_modules(init_default_scope=False)
    init_default_scope(framework)
    adapt_cfg_to_device(cfg)
    cfg.model.get('backbone', {}).pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    return model, cfg


def check_pretrained(cfg):
    """Fail before building anything if a local pretrained file is missing.

    The backbone would fail later in ``init_weights`` anyway; this says how
    to train without the released checkpoint.
    """
    from mmmamba.models.utils.init_cfg import split_init_cfg
    pretrained, _ = split_init_cfg(
        cfg.get('model', {}).get('backbone', {}).get('init_cfg'))
    ckpt = pretrained[0].get('checkpoint', '') if pretrained else ''
    if not pretrained or '://' in ckpt or osp.isfile(ckpt):
        return
    raise FileNotFoundError(
        f'pretrained backbone checkpoint {ckpt!r} does not exist. Download '
        f'the released A2Mamba weights there (the directory is set in '
        f'configs/a2mamba/_base_/a2mamba_pretrained.py), or train from '
        f'scratch with --cfg-options model.backbone.init_cfg=None')


def add_allow_partial_arg(parser):
    """``--allow-partial``: test.py / demo.py then load a checkpoint that
    does not fit the model (with a warning) instead of refusing it."""
    parser.add_argument(
        '--allow-partial', action='store_true',
        help='load a checkpoint whose tensors do not all fit the model '
        '(missing tensors keep their initial values); refused otherwise')


def read_model_checkpoint(filename):
    """``(checkpoint, state_dict)`` of a detector / segmentor checkpoint
    (path or http(s) URL), read weights-only; a ToolError with the reason if
    it is not one."""
    from mmmamba.models.utils.checkpoint import (extract_state_dict,
                                                 load_checkpoint_file)
    try:
        checkpoint = load_checkpoint_file(filename)
        return checkpoint, extract_state_dict(checkpoint)
    except (OSError, RuntimeError, KeyError, TypeError) as err:
        raise ToolError(str(err)) from err


def check_checkpoint_fits(model, state_dict, filename, allow_partial=False):
    """Raise a ToolError listing the first missing / unexpected / mismatched
    tensors when ``state_dict`` does not fit ``model``; with
    ``allow_partial`` log that as a warning and go on."""
    import logging

    from mmengine.model import is_model_wrapper

    from mmmamba.models.utils.checkpoint import describe_mismatch
    if is_model_wrapper(model):
        model = model.module
    problems = describe_mismatch(model.state_dict(), state_dict)
    if not problems:
        return
    message = (f'checkpoint {filename} does not fit the {type(model).__name__}'
               f' of the config: {problems}')
    if not allow_partial:
        raise ToolError(f'{message}. Is it the checkpoint of this config? '
                        f'(--allow-partial loads it anyway)')
    print_log(f'{message}; loading it anyway (--allow-partial)',
              logger='current', level=logging.WARNING)


def log_backends():
    """Log which backend runs each mmmamba operator on this machine."""
    import torch

    from mmmamba.ops.report import describe_backends
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    for line in describe_backends(device):
        print_log(f'mmmamba op {line}', logger='current')


def build_runner(cfg, framework):
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    # The visualizer is a named global instance: a second run in the same
    # process (tests, notebooks) would otherwise reuse the first run's, with
    # its save_dir. One name per run.
    if isinstance(cfg.get('visualizer'), dict):
        global _RUN_COUNT
        _RUN_COUNT += 1
        name = cfg.visualizer.get('name', 'visualizer')
        cfg.visualizer.name = f'{name}_{os.getpid()}_{_RUN_COUNT}'
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    runner.logger.addFilter(drop_third_party_deprecations)
    print_log(f'{framework} runner built from {cfg.filename}',
              logger='current')
    log_backends()
    return runner
