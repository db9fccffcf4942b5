// Tensor wrappers of the A2SSM aggregation CUDA launchers
// (a2ssm_aggregate/cuda_launchers.h), bound as cuda_a2ssm_aggregate_*
// (csrc/cuda/wrappers.h says for which modules and devices).
#if defined(MMMAMBA_WITH_CUDA) || defined(MMMAMBA_CUDA_HOST)

#include "../cuda/wrappers.h"
#include "checks.h"
#include "cuda_launchers.h"
#include "ops.h"

namespace mmmamba {
namespace cuda {
namespace {

// states B × G × d × H × W, maps B × G/2 × Hp × Wp × K² (checked).
MMAggParams aggregate_params(const at::Tensor& attn_local,
                             const at::Tensor& states, int64_t K, int64_t dh,
                             int64_t dw) {
  return MMAggParams{states.size(0),     states.size(1), states.size(2),
                     states.size(3),     states.size(4), attn_local.size(2),
                     attn_local.size(3), (int)K,         (int)dh,
                     (int)dw};
}

}  // namespace

at::Tensor a2ssm_aggregate_forward(const at::Tensor& attn_local,
                                   const at::Tensor& attn_dilated,
                                   const at::Tensor& states, int64_t K,
                                   int64_t dh, int64_t dw, int64_t stream) {
  a2ssm_aggregate::check_aggregate(kTarget, attn_local, attn_dilated, states,
                                   nullptr, K, dh, dw);
  const MMAggParams p = aggregate_params(attn_local, states, K, dh, dw);
  auto out = at::empty_like(states);
  check_launch(mm_a2ssm_aggregate_forward(
                   &p, mm_dtype(states), attn_local.data_ptr(),
                   attn_dilated.data_ptr(), states.data_ptr(), out.data_ptr(),
                   as_stream(stream)),
               "a2ssm_aggregate_forward");
  return out;
}

// Returns dattn_local, dattn_dilated and dstates, all T.
std::vector<at::Tensor> a2ssm_aggregate_backward(
    const at::Tensor& grad, const at::Tensor& attn_local,
    const at::Tensor& attn_dilated, const at::Tensor& states, int64_t K,
    int64_t dh, int64_t dw, int64_t stream) {
  a2ssm_aggregate::check_aggregate(kTarget, attn_local, attn_dilated, states,
                                   &grad, K, dh, dw);
  const MMAggParams p = aggregate_params(attn_local, states, K, dh, dw);
  auto dlocal = at::empty_like(attn_local);
  auto ddilated = at::empty_like(attn_dilated);
  auto dstates = at::empty_like(states);
  check_launch(mm_a2ssm_aggregate_backward(
                   &p, mm_dtype(states), grad.data_ptr(),
                   attn_local.data_ptr(), attn_dilated.data_ptr(),
                   states.data_ptr(), dlocal.data_ptr(), ddilated.data_ptr(),
                   dstates.data_ptr(), as_stream(stream)),
               "a2ssm_aggregate_backward");
  return {dlocal, ddilated, dstates};
}

}  // namespace cuda
}  // namespace mmmamba

#endif  // MMMAMBA_WITH_CUDA || MMMAMBA_CUDA_HOST
