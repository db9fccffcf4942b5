"""Shared set-up of the tools (train, test, analysis, deploy; mmdet, mmseg)."""
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.logging import print_log

FRAMEWORKS = ('mmdet', 'mmseg')
_RUN_COUNT = 0


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


def parse_launch_args(parser, argv=None):
    """Parse ``argv``; export LOCAL_RANK from ``--local-rank`` if unset."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(path, cfg_options=None, launcher='none'):
    """Import mmmamba (models, ``mmmamba::`` prefix), then parse ``path``.

    ``path`` may also be ``mmmamba::a2mamba/<config>.py``.
    """
    import mmmamba  # noqa: F401  (registers A2Mamba / MASSFPN)
    from mmengine.config import Config

    from mmmamba.utils import resolve_config, setup
    setup()
    if path.startswith('mmmamba::'):
        path = resolve_config(path)
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
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
    init_cfg = cfg.get('model', {}).get('backbone', {}).get('init_cfg')
    if not isinstance(init_cfg, dict) or init_cfg.get('type') != 'Pretrained':
        return
    ckpt = init_cfg.get('checkpoint', '')
    if '://' in ckpt or osp.isfile(ckpt):
        return
    raise FileNotFoundError(
        f'pretrained backbone checkpoint {ckpt!r} does not exist. Download '
        f'the released A2Mamba weights there (the directory is set in '
        f'configs/a2mamba/_base_/a2mamba_pretrained.py), or train from '
        f'scratch with --cfg-options model.backbone.init_cfg=None')


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
    print_log(f'{framework} runner built from {cfg.filename}',
              logger='current')
    return runner
