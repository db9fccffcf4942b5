"""GPU acceptance of the mmmamba kernels, one item per module (run by
``tools/gpu_check.sh``; ``python benchmarks/gpu_acceptance --help``).

- a :mod:`.item_ops`: every op's output and gradients per kernel backend
  against the float64 reference, fp32 / fp16 / bf16 inputs, at the A2Mamba-T
  stage shapes, a long scan and a COCO stage-1 map;
- b :mod:`.item_sanitizer`: compute-sanitizer on one small launch of every
  kernel (:mod:`.launches`);
- c :mod:`.item_backbone`: the backbone's features and input gradient per
  backend, and short AMP training runs;
- d :mod:`.item_timings`: per-op and backbone timings beside timm's Swin-T;
- e :mod:`.item_train_tool`: one tools/train.py iteration, where mmseg's
  models import;
- f :mod:`.report`: report.md, report.json and the summary.
"""
