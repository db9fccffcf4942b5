# The ONE place that says where the released A2Mamba ImageNet-1K checkpoints
# (a2mamba_{nano,tiny,small,base,large}.pth, from the authors' release) live.
# Every config in configs/a2mamba derives its backbone init_cfg from this.
# Paths are relative to the working directory of tools/train.py.
# Without the files, train from scratch with
#   --cfg-options model.backbone.init_cfg=None
a2mamba_checkpoint_dir = 'checkpoints'
