// The argument contract of the selective scan, checked once for both the
// CPU kernels (selective_scan/cpu.cpp) and the CUDA wrappers
// (selective_scan/cuda_wrappers.cpp): u, delta: batch × D × L and B:
// batch × N × L in T; A: D × N, delta_bias: D (or None) and, in backward,
// grad and h: batch × D × N × L in the accumulation dtype; and d bias.
#pragma once

#include <vector>

#include "../common/checks.h"

namespace mmmamba {
namespace selective_scan {

struct ScanSizes {
  int64_t batch, D, N, L;
  std::vector<int64_t> states() const { return {batch, D, N, L}; }
};

// Forward (grad, h null) and backward.
inline ScanSizes check_scan(const KernelTarget& target, const at::Tensor& u,
                            const at::Tensor& delta, const at::Tensor& A,
                            const at::Tensor& B,
                            const c10::optional<at::Tensor>& bias,
                            const at::Tensor* grad, const at::Tensor* h) {
  expect_lead(target, u, "u", 3);
  TORCH_CHECK(A.dim() == 2, "A must be (D, N), got ", A.sizes());
  const ScanSizes s{u.size(0), u.size(1), A.size(1), u.size(2)};
  const at::ScalarType acc = acc_dtype(u);
  expect(delta, "delta", u.scalar_type(), u.device(), u.sizes());
  expect(A, "A", acc, u.device(), {s.D, s.N});
  expect(B, "B", u.scalar_type(), u.device(), {s.batch, s.N, s.L});
  if (bias.has_value()) expect(*bias, "delta_bias", acc, u.device(), {s.D});
  if (grad) expect(*grad, "grad", acc, u.device(), s.states());
  if (h) expect(*h, "h", acc, u.device(), s.states());
  return s;
}

// d bias: ddelta summed over batch and L (undefined without delta_bias).
inline at::Tensor bias_grad(const at::Tensor& ddelta,
                            const c10::optional<at::Tensor>& bias) {
  return bias.has_value() ? ddelta.sum({0, 2}) : at::Tensor();
}

}  // namespace selective_scan
}  // namespace mmmamba
