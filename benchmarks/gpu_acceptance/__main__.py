"""``python benchmarks/gpu_acceptance [--device cuda|cpu] [--out DIR]
[--items abcde] [--small]``: see :mod:`gpu_acceptance.run`."""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from gpu_acceptance.run import main  # noqa: E402

sys.exit(main())
