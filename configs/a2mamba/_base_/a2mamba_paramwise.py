# No weight decay on norms, position biases, SSM dynamics and layer scales of
# A2Mamba (Swin/ConvNeXt practice for their equivalents).
a2mamba_paramwise_cfg = dict(
    norm_decay_mult=0.,
    custom_keys={
        '.rpb': dict(decay_mult=0.),
        'global_bias': dict(decay_mult=0.),
        'A_log': dict(decay_mult=0.),
        'a2ssm.D': dict(decay_mult=0.),
        '.ls1.': dict(decay_mult=0.),
        '.ls2.': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.),
    })
