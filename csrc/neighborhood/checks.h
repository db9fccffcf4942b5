// The argument contract of the na2d ops, checked once for both the CPU
// kernels (neighborhood/cpu.cpp) and the CUDA wrappers
// (neighborhood/cuda_wrappers.cpp): query / key / value B × heads × H × W ×
// C, attention maps (and the qk gradient) B × heads × H × W × Kh·Kw, all in
// T; rpb heads × (2Kh-1) × (2Kw-1) in the accumulation dtype.
#pragma once

#include <vector>

#include "../common/checks.h"

namespace mmmamba {
namespace neighborhood {

// B × heads × H × W × Kh·Kw: the attention map over x's pixels.
inline std::vector<int64_t> attn_sizes(const at::Tensor& x, int64_t Kh,
                                       int64_t Kw) {
  return {x.size(0), x.size(1), x.size(2), x.size(3), Kh * Kw};
}

// na2d_qk forward (grad null) and backward; rpb null when absent.
inline void check_qk(const KernelTarget& target, const at::Tensor& q,
                     const at::Tensor& k, const at::Tensor* rpb,
                     const at::Tensor* grad, int64_t Kh, int64_t Kw,
                     int64_t dh, int64_t dw) {
  expect_lead(target, q, "query", 5);
  check_window(q.size(2), q.size(3), Kh, Kw, dh, dw);
  expect(k, "key", q.scalar_type(), q.device(), q.sizes());
  if (rpb)
    expect(*rpb, "rpb", acc_dtype(q), q.device(),
           {q.size(1), 2 * Kh - 1, 2 * Kw - 1});
  if (grad)
    expect(*grad, "grad", q.scalar_type(), q.device(),
           attn_sizes(q, Kh, Kw));
}

// na2d_av forward (grad null) and backward.
inline void check_av(const KernelTarget& target, const at::Tensor& attn,
                     const at::Tensor& v, const at::Tensor* grad, int64_t Kh,
                     int64_t Kw, int64_t dh, int64_t dw) {
  expect_lead(target, v, "value", 5);
  check_window(v.size(2), v.size(3), Kh, Kw, dh, dw);
  expect(attn, "attn", v.scalar_type(), v.device(), attn_sizes(v, Kh, Kw));
  if (grad) expect(*grad, "grad", v.scalar_type(), v.device(), v.sizes());
}

}  // namespace neighborhood
}  // namespace mmmamba
