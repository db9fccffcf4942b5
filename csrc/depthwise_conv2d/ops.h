// Tensor entry points of the depthwise convolution: the CPU kernels
// (cpu.cpp) and the tensor wrappers of the CUDA launchers
// (cuda_wrappers.cpp, cuda_* bindings). x and grad: B × C × H × W,
// channels-last contiguous; weight C × K × K, bias C; the forward returns a
// channels-last map, backward dx (channels-last), dweight and dbias.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace mmmamba {
namespace cpu {

at::Tensor depthwise_conv2d_forward(const at::Tensor& x,
                                    const at::Tensor& weight,
                                    const c10::optional<at::Tensor>& bias,
                                    bool residual);
std::vector<at::Tensor> depthwise_conv2d_backward(const at::Tensor& grad,
                                                  const at::Tensor& x,
                                                  const at::Tensor& weight,
                                                  bool residual);

}  // namespace cpu

namespace cuda {

at::Tensor depthwise_conv2d_forward(const at::Tensor& x,
                                    const at::Tensor& weight,
                                    const c10::optional<at::Tensor>& bias,
                                    bool residual, int64_t stream);
std::vector<at::Tensor> depthwise_conv2d_backward(const at::Tensor& grad,
                                                  const at::Tensor& x,
                                                  const at::Tensor& weight,
                                                  bool residual,
                                                  int64_t stream);

}  // namespace cuda
}  // namespace mmmamba
