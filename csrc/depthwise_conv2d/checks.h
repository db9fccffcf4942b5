// The argument contract of the depthwise convolution, checked once for the
// CPU kernels (cpu.cpp) and the CUDA wrappers (cuda_wrappers.cpp): x (and
// the output gradient) B × C × H × W in T, channels-last contiguous (NHWC
// memory: the kernels index it as B × H × W × C), weight C × K × K in T
// with K odd, bias C in T or absent.
#pragma once

#include <c10/util/Optional.h>

#include "../common/checks.h"

namespace mmmamba {
namespace depthwise_conv2d {

// Forward (grad null) and backward; returns K.
inline int64_t check_conv(const KernelTarget& target, const at::Tensor& x,
                          const at::Tensor& weight,
                          const c10::optional<at::Tensor>& bias,
                          const at::Tensor* grad) {
  TORCH_CHECK(x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast),
              "x must be a channels-last contiguous B x C x H x W tensor, "
              "got sizes ", x.sizes(), " strides ", x.strides());
  // the device and dtype rules, on the contiguous NHWC view
  expect_lead(target, x.permute({0, 2, 3, 1}), "x", 4);
  TORCH_CHECK(weight.dim() == 3 && weight.size(1) == weight.size(2) &&
              weight.size(1) % 2 == 1, "weight must be (C, K, K) with K "
              "odd, got ", weight.sizes());
  const int64_t C = x.size(1), K = weight.size(1);
  expect(weight, "weight", x.scalar_type(), x.device(), {C, K, K});
  if (bias.has_value())
    expect(*bias, "bias", x.scalar_type(), x.device(), {C});
  if (grad) {
    TORCH_CHECK(grad->is_contiguous(at::MemoryFormat::ChannelsLast),
                "grad must be channels-last contiguous");
    expect(grad->permute({0, 2, 3, 1}), "grad", x.scalar_type(), x.device(),
           x.permute({0, 2, 3, 1}).sizes());
  }
  return K;
}

}  // namespace depthwise_conv2d
}  // namespace mmmamba
