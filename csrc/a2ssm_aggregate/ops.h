// The fused A2SSM aggregation as csrc/bindings.cpp binds it: the CPU
// kernels (a2ssm_aggregate/cpu.cpp) and the tensor wrappers of the CUDA
// launchers (a2ssm_aggregate/cuda_wrappers.cpp, which also take the CUDA
// stream). Backward returns dattn_local, dattn_dilated and dstates.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace mmmamba {
namespace cpu {

at::Tensor a2ssm_aggregate_forward(const at::Tensor& attn_local,
                                   const at::Tensor& attn_dilated,
                                   const at::Tensor& states, int64_t K,
                                   int64_t dh, int64_t dw);
std::vector<at::Tensor> a2ssm_aggregate_backward(
    const at::Tensor& grad, const at::Tensor& attn_local,
    const at::Tensor& attn_dilated, const at::Tensor& states, int64_t K,
    int64_t dh, int64_t dw);

}  // namespace cpu

namespace cuda {

at::Tensor a2ssm_aggregate_forward(const at::Tensor& attn_local,
                                   const at::Tensor& attn_dilated,
                                   const at::Tensor& states, int64_t K,
                                   int64_t dh, int64_t dw, int64_t stream);
std::vector<at::Tensor> a2ssm_aggregate_backward(
    const at::Tensor& grad, const at::Tensor& attn_local,
    const at::Tensor& attn_dilated, const at::Tensor& states, int64_t K,
    int64_t dh, int64_t dw, int64_t stream);

}  // namespace cuda
}  // namespace mmmamba
