"""What A2Mamba-T's training step keeps for backward (not a test).

Builds A2Mamba-T as ``bench_backbone.py`` does, runs one training forward
at 512² batch 1 and 224² batch 8 under ``saved_tensors_hooks`` and sums,
per producing module (block indices dropped), the bytes of every distinct
storage saved for backward (parameters excluded; a storage saved by two
consumers counts once, for the first).

    .venv/bin/python benchmarks/bench_saved.py
"""
import collections
import re

import torch

from bench_backbone import SHAPES, build


def saved_by_module(model, x):
    """{module kind: MiB} of the storages a training forward saves."""
    stack = ['(backbone)']
    for name, module in model.named_modules():
        kind = re.sub(r'\d+\.', '', name) or '(backbone)'
        module.register_forward_pre_hook(
            lambda m, args, kind=kind: stack.append(kind))
        module.register_forward_hook(lambda m, args, out: stack.pop() and None)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = set()
    mib = collections.defaultdict(float)

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen | params:
            seen.add(storage.data_ptr())
            mib[stack[-1]] += storage.nbytes() / 2**20
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return mib


def main():
    model = build('a2mamba', False).train()
    tables = [saved_by_module(model, torch.randn(batch, 3, size, size))
              for size, batch in SHAPES]
    heads = [f'{size}² b{batch}' for size, batch in SHAPES]
    print(f'{"saved by":<34}' + ''.join(f'{h:>12}' for h in heads) + '  (MiB)')
    for kind in sorted(set().union(*tables), key=lambda k: -tables[0][k]):
        if max(t[kind] for t in tables) >= 1:
            print(f'{kind:<34}' + ''.join(f'{t[kind]:12.1f}' for t in tables))
    print(f'{"total":<34}' + ''.join(f'{sum(t.values()):12.1f}'
                                     for t in tables))


if __name__ == '__main__':
    main()
