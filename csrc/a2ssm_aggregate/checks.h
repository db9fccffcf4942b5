// The argument contract of the fused A2SSM aggregation, checked once for
// both the CPU kernels (a2ssm_aggregate/cpu.cpp) and the CUDA wrappers
// (a2ssm_aggregate/cuda_wrappers.cpp): states (and the gradient) B × G × d ×
// H × W with G even, attn_local / attn_dilated B × G/2 × Hp × Wp × K² over a
// padded map that covers the states, all in T; both windows valid on
// Hp × Wp.
#pragma once

#include <vector>

#include "../common/checks.h"

namespace mmmamba {
namespace a2ssm_aggregate {

// Forward (grad null) and backward.
inline void check_aggregate(const KernelTarget& target,
                            const at::Tensor& attn_local,
                            const at::Tensor& attn_dilated,
                            const at::Tensor& states, const at::Tensor* grad,
                            int64_t K, int64_t dh, int64_t dw) {
  expect_lead(target, states, "states", 5);
  TORCH_CHECK(states.size(1) % 2 == 0, "states must have an even number of "
              "heads, got ", states.size(1));
  TORCH_CHECK(attn_local.dim() == 5, "attn_local must be (B, G/2, Hp, Wp, "
              "K*K), got ", attn_local.sizes());
  const int64_t Hp = attn_local.size(2), Wp = attn_local.size(3);
  const std::vector<int64_t> maps{states.size(0), states.size(1) / 2, Hp, Wp,
                                  K * K};
  expect(attn_local, "attn_local", states.scalar_type(), states.device(),
         maps);
  expect(attn_dilated, "attn_dilated", states.scalar_type(), states.device(),
         maps);
  TORCH_CHECK(Hp >= states.size(3) && Wp >= states.size(4), "the attention "
              "maps (", Hp, "x", Wp, ") must cover the states (",
              states.size(3), "x", states.size(4), ")");
  check_window(Hp, Wp, K, K, 1, 1);
  check_window(Hp, Wp, K, K, dh, dw);
  if (grad)
    expect(*grad, "grad", states.scalar_type(), states.device(),
           states.sizes());
}

}  // namespace a2ssm_aggregate
}  // namespace mmmamba
