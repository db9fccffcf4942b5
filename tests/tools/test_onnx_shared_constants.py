"""mmmamba.deploy.share_constants: a table the tracer writes once per use
is held once in the file, and the graph computes the same."""
import io

import numpy as np
import onnx
import onnxruntime as ort
import torch

from mmmamba.deploy.onnx_export import share_constants


TABLE = torch.arange(40.0) / 7  # made outside the trace: a constant in it


class TwoUses(torch.nn.Module):
    """One 40-element table used twice, and a 2-element one (kept inline)."""

    def forward(self, x):
        small = torch.tensor([2.0, 3.0])
        return (x + TABLE) * TABLE - (x[:, :2] * small).sum(
            1, keepdim=True)


def exported():
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(TwoUses(), (torch.zeros(1, 40), ), buffer,
                          dynamo=False, do_constant_folding=False,
                          input_names=['x'])
    return onnx.load_from_string(buffer.getvalue())


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=['CPUExecutionProvider'])
    return session.run(None, {'x': x})[0]


def large_constants(model):
    return [n for n in model.graph.node if n.op_type == 'Constant' and
            len(n.attribute[0].t.raw_data) >= 64]


def test_repeated_tables_become_one_initializer():
    model = exported()
    x = np.random.default_rng(0).standard_normal((1, 40), dtype=np.float32)
    want = run(model, x)
    copies = len(large_constants(model))
    assert copies >= 2  # the tracer wrote the table per use
    removed = share_constants(model)
    assert removed == copies and not large_constants(model)
    shared = [i for i in model.graph.initializer
              if i.name.startswith('shared_constant_')]
    assert len(shared) == 1
    np.testing.assert_allclose(onnx.numpy_helper.to_array(shared[0]),
                               TABLE.numpy())
    onnx.checker.check_model(model)
    np.testing.assert_array_equal(run(model, x), want)
