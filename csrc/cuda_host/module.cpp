// mmmamba._C_cuda_host: the CUDA launchers and kernels of csrc/cuda/,
// compiled by the host compiler over the CUDA emulation
// (csrc/cuda_host/cuda_emulation.h) and bound by the same wrappers as the
// GPU build (csrc/cuda_ops.cpp), running CPU tensors. It is the `cuda_host`
// backend that tests the CUDA kernel code without a GPU; a separate module
// so the production extension mmmamba._C stays lean.
#include <torch/extension.h>

void add_cuda_ops(pybind11::module_& m);

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "mmmamba CUDA kernels run on the host (test backend cuda_host)";
  add_cuda_ops(m);
}
