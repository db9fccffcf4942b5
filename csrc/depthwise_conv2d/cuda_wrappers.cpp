// Tensor wrappers of the depthwise convolution CUDA launchers
// (depthwise_conv2d/cuda_launchers.h), bound as cuda_depthwise_conv2d_*
// (csrc/cuda/wrappers.h says for which modules and devices).
#if defined(MMMAMBA_WITH_CUDA) || defined(MMMAMBA_CUDA_HOST)

#include "../cuda/wrappers.h"
#include "checks.h"
#include "cuda_launchers.h"
#include "ops.h"

namespace mmmamba {
namespace cuda {
namespace {

// x B × C × H × W, channels-last (checked).
MMDwParams dw_params(const at::Tensor& x, int64_t K, bool residual) {
  return MMDwParams{x.size(0), x.size(2), x.size(3), x.size(1), (int)K,
                    residual ? 1 : 0};
}

}  // namespace

at::Tensor depthwise_conv2d_forward(const at::Tensor& x,
                                    const at::Tensor& weight,
                                    const c10::optional<at::Tensor>& bias,
                                    bool residual, int64_t stream) {
  const int64_t K =
      depthwise_conv2d::check_conv(kTarget, x, weight, bias, nullptr);
  const MMDwParams p = dw_params(x, K, residual);
  auto out = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  check_launch(mm_depthwise_conv2d_forward(&p, mm_dtype(x), x.data_ptr(),
                                           weight.data_ptr(),
                                           optional_ptr(bias), out.data_ptr(),
                                           as_stream(stream)),
               "depthwise_conv2d_forward");
  return out;
}

// Returns dx, dweight and dbias, all T.
std::vector<at::Tensor> depthwise_conv2d_backward(const at::Tensor& grad,
                                                  const at::Tensor& x,
                                                  const at::Tensor& weight,
                                                  bool residual,
                                                  int64_t stream) {
  const int64_t K = depthwise_conv2d::check_conv(kTarget, x, weight,
                                                 c10::nullopt, &grad);
  const MMDwParams p = dw_params(x, K, residual);
  auto dx = at::empty_like(x, at::MemoryFormat::ChannelsLast);
  auto dweight = at::empty_like(weight);
  auto dbias = at::empty({x.size(1)}, x.options());
  check_launch(mm_depthwise_conv2d_backward(
                   &p, mm_dtype(x), grad.data_ptr(), x.data_ptr(),
                   weight.data_ptr(), dx.data_ptr(), dweight.data_ptr(),
                   dbias.data_ptr(), as_stream(stream)),
               "depthwise_conv2d_backward");
  return {dx, dweight, dbias};
}

}  // namespace cuda
}  // namespace mmmamba

#endif  // MMMAMBA_WITH_CUDA || MMMAMBA_CUDA_HOST
