// Tensor wrappers of the selective-scan CUDA launchers
// (selective_scan/cuda_launchers.h), bound as cuda_selective_scan_*
// (csrc/cuda/wrappers.h says for which modules and devices).
#if defined(MMMAMBA_WITH_CUDA) || defined(MMMAMBA_CUDA_HOST)

#include "../cuda/wrappers.h"
#include "checks.h"
#include "cuda_launchers.h"
#include "ops.h"

namespace mmmamba {
namespace cuda {
namespace {

MMScanParams scan_params(const selective_scan::ScanSizes& s, bool softplus) {
  TORCH_CHECK(s.batch > 0 && s.D > 0 && s.N > 0 && s.L > 0, "the CUDA "
              "selective scan needs positive sizes, got (batch, D, N, L) = (",
              s.batch, ", ", s.D, ", ", s.N, ", ", s.L, ")");
  return MMScanParams{s.batch, s.D, s.N, s.L, softplus ? 1 : 0};
}

// The chunk summaries the scan kernels exchange: batch × D × N × chunks × 2.
at::Tensor scan_workspace(const MMScanParams& p, const at::Tensor& u) {
  return at::empty({p.batch, p.channels, p.state,
                    mm_selective_scan_chunks(p.length), 2},
                   u.options().dtype(acc_dtype(u)));
}

}  // namespace

at::Tensor selective_scan_forward(const at::Tensor& u, const at::Tensor& delta,
                                  const at::Tensor& A, const at::Tensor& B,
                                  const c10::optional<at::Tensor>& bias,
                                  bool softplus, int64_t stream) {
  const selective_scan::ScanSizes s = selective_scan::check_scan(
      kTarget, u, delta, A, B, bias, nullptr, nullptr);
  const MMScanParams p = scan_params(s, softplus);
  auto h = at::empty(s.states(), u.options().dtype(acc_dtype(u)));
  auto summary = scan_workspace(p, u);
  check_launch(mm_selective_scan_forward(
                   &p, mm_dtype(u), u.data_ptr(), delta.data_ptr(),
                   A.data_ptr(), B.data_ptr(), optional_ptr(bias),
                   h.data_ptr(), summary.data_ptr(), as_stream(stream)),
               "selective_scan_forward");
  return h;
}

// Returns du, ddelta, dA, dB and dbias (undefined without bias), all acc.
std::vector<at::Tensor> selective_scan_backward(
    const at::Tensor& grad, const at::Tensor& h, const at::Tensor& u,
    const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
    const c10::optional<at::Tensor>& bias, bool softplus, int64_t stream) {
  const selective_scan::ScanSizes s =
      selective_scan::check_scan(kTarget, u, delta, A, B, bias, &grad, &h);
  const MMScanParams p = scan_params(s, softplus);
  const auto opts = u.options().dtype(acc_dtype(u));
  // every element is written by the thread that owns it (no zero-fill)
  auto du = at::empty(u.sizes(), opts), ddelta = at::empty(u.sizes(), opts);
  auto dA_part = at::empty({p.batch, p.channels, p.state,
                            mm_selective_scan_chunks(p.length)}, opts);
  auto dB_part = at::empty(s.states(), opts);
  auto summary = scan_workspace(p, u);
  check_launch(mm_selective_scan_backward(
                   &p, mm_dtype(u), grad.data_ptr(), h.data_ptr(),
                   u.data_ptr(), delta.data_ptr(), A.data_ptr(),
                   B.data_ptr(), optional_ptr(bias), du.data_ptr(),
                   ddelta.data_ptr(), dA_part.data_ptr(), dB_part.data_ptr(),
                   summary.data_ptr(), as_stream(stream)),
               "selective_scan_backward");
  return {du, ddelta, dA_part.sum({0, 3}), dB_part.sum(1),
          selective_scan::bias_grad(ddelta, bias)};
}

}  // namespace cuda
}  // namespace mmmamba

#endif  // MMMAMBA_WITH_CUDA || MMMAMBA_CUDA_HOST
