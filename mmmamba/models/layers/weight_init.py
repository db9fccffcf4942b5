"""Weight init of the released A2Mamba model, shared by backbone and neck."""
import torch.nn as nn
from mmengine.model.weight_init import trunc_normal_


def init_conv_trunc_normal(m):
    """For ``module.apply``: trunc-normal(0.02) conv weights, zero bias."""
    if isinstance(m, nn.Conv2d):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
