// The selective scan as csrc/bindings.cpp binds it: the CPU kernels
// (selective_scan/cpu.cpp) and the tensor wrappers of the CUDA launchers
// (selective_scan/cuda_wrappers.cpp, which also take the CUDA stream). Both
// take (u, delta, A, B, delta_bias or None, softplus) and return the states
// h (forward) and du, ddelta, dA, dB, d bias (None without delta_bias).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace mmmamba {
namespace cpu {

at::Tensor selective_scan_forward(const at::Tensor& u, const at::Tensor& delta,
                                  const at::Tensor& A, const at::Tensor& B,
                                  const c10::optional<at::Tensor>& bias,
                                  bool softplus);
std::vector<at::Tensor> selective_scan_backward(
    const at::Tensor& grad, const at::Tensor& h, const at::Tensor& u,
    const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
    const c10::optional<at::Tensor>& bias, bool softplus);

}  // namespace cpu

namespace cuda {

at::Tensor selective_scan_forward(const at::Tensor& u, const at::Tensor& delta,
                                  const at::Tensor& A, const at::Tensor& B,
                                  const c10::optional<at::Tensor>& bias,
                                  bool softplus, int64_t stream);
std::vector<at::Tensor> selective_scan_backward(
    const at::Tensor& grad, const at::Tensor& h, const at::Tensor& u,
    const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
    const c10::optional<at::Tensor>& bias, bool softplus, int64_t stream);

}  // namespace cuda
}  // namespace mmmamba
