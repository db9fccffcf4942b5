#!/usr/bin/env bash
# The main job on an embedded default: set up, generate the tiny dataset, train an A2Mamba
# segmentor (UperNet, 'test'-width backbone) on CPU, evaluate mIoU, draw the input, its ground
# truth and the prediction side by side (work_dirs/quickstart_<task>/prediction.png).
#
#   bash tools/quickstart.sh            # segmentation (ADE20K layout), a few minutes
#   bash tools/quickstart.sh det        # detection (COCO layout, Mask R-CNN), longer
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MMMAMBA_VENV:-$repo/.venv}
task=${1:-seg}
cd "$repo"
bash tools/setup_env.sh
py="$venv/bin/python"

case "$task" in
  seg) config=configs/a2mamba/quickstart/upernet_a2mamba_test_tinyade.py
       data=ade image=data/tiny/ade/images/validation/ADE_val_00000.jpg metrics=1
       gt=data/tiny/ade/annotations/validation/ADE_val_00000.png ;;
  det) config=configs/a2mamba/quickstart/mask_rcnn_a2mamba_test_tinycoco.py
       data=coco image= metrics=2  # the second val image (the first has no objects)
       gt=data/tiny/coco/annotations/instances_val2017.json ;;
  *) echo "usage: bash tools/quickstart.sh [seg|det]" >&2; exit 2 ;;
esac
work=work_dirs/quickstart_$task

echo "[quickstart] generating data/tiny/$data (deterministic)" >&2
"$py" tools/make_tiny_dataset.py --out data/tiny --only "$data"
echo "[quickstart] training $config (CPU; validation prints the metrics at the end)" >&2
"$py" tools/train.py "$config" --work-dir "$work"
[ -n "$image" ] || image=$(ls data/tiny/coco/val2017/*.jpg | sed -n 2p)
ckpt=$(cat "$work/last_checkpoint")
echo "[quickstart] drawing the prediction for $image" >&2
"$py" tools/demo.py "$image" "$config" "$ckpt" --gt "$gt" --device cpu \
    --out "$work/prediction.png"
run=$(ls -d "$work"/2*/ | tail -n 1)  # this run's log folder
metrics=$(grep -ho 'mIoU: [0-9.]*\|coco/bbox_mAP: [0-9.]*\|coco/segm_mAP: [0-9.]*' \
          "$run"/*.log | tail -n "$metrics" | tr '\n' ' ' || true)  # the final validation
echo "[quickstart] done: validation ${metrics:-(no metric in $run)}" >&2
echo "[quickstart] weights $ckpt" >&2
echo "[quickstart] picture (input | ground truth | prediction): $work/prediction.png" >&2
