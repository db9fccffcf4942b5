"""What the ONNX-formulation tests share: a function exported through the
public op (``torch.onnx.export`` of a one-call module) and run by
onnxruntime, and the gradient comparison against the reference."""
import io

import onnx
import onnxruntime as ort
import torch
from op_testing import leaves, weighted_loss


class _Call(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *inputs):
        return self.fn(*inputs)


def run_exported(fn, inputs, opset=17):
    """``(outputs, op_types)``: ``fn(*inputs)`` exported to ONNX (opset
    ``opset``) and run by onnxruntime's CPU provider; op types of the
    graph."""
    buffer = io.BytesIO()
    names = [f'input_{i}' for i in range(len(inputs))]
    torch.onnx.export(_Call(fn), tuple(inputs), buffer, dynamo=False,
                      opset_version=opset, input_names=names)
    model = buffer.getvalue()
    session = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
    feeds = {n: t.numpy() for n, t in zip(names, inputs)}
    outputs = [torch.from_numpy(o) for o in session.run(None, feeds)]
    return outputs, {n.op_type for n in onnx.load_from_string(model).graph.node}


def assert_relative(got, want, rtol=1e-5):
    """``max |got - want| <= rtol · max |want|`` (same shape)."""
    assert got.shape == want.shape
    scale = want.abs().max().item()
    assert (got - want).abs().max().item() <= rtol * max(scale, 1e-30)


def assert_same_grads(fn, reference, inputs, rtol=1e-5):
    """``fn`` and ``reference`` on ``inputs``: the same output and the same
    gradients of a weighted loss, within ``rtol`` relative."""
    results = []
    for f in (fn, reference):
        leafs = leaves(inputs)
        out = f(*leafs)
        grads = torch.autograd.grad(weighted_loss(out), leafs)
        results.append((out.detach(), grads))
    (out, grads), (want, want_grads) = results
    assert_relative(out, want, rtol)
    for got, expected in zip(grads, want_grads):
        assert_relative(got, expected, rtol)
