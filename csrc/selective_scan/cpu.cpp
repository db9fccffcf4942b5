// CPU kernels for the selective scan that returns every state (A2SSM).
//
//   h_t = exp(Δ_t·A_n)·h_{t-1} + Δ_t·B_{n,t}·u_t,  h_0 = 0,  every (b, d, n)
//   Δ = softplus(delta + bias) (threshold 20), or delta + bias
//
// The contract of the CUDA wrappers (cuda_selective_scan_forward/backward)
// without the stream: the step Δ and its gradient are computed here, per
// (batch, channel) row, by the shared host/device header's mm_softplus /
// mm_softplus_grad (csrc/common/math.h); the recurrence, forward and
// reverse, is its mm_scan_step / mm_scan_step_backward: the same functions
// the CUDA kernel runs. Nothing state-sized is allocated besides the
// outputs. Inputs (checked by checks.h, the contract the CUDA wrappers
// check) are contiguous u, delta: batch × D × L; A: D × N; B: batch × N ×
// L; delta_bias: D or None; all float32 or all float64 (the Python layer
// casts). Work is split over (batch, channel) with at::parallel_for.
#include <ATen/Parallel.h>

#include <vector>

#include "../common/math.h"
#include "../common/parallel.h"
#include "checks.h"
#include "ops.h"

namespace mmmamba {
namespace cpu {
namespace {

// fn(task, z, dt) for every (batch, channel) row task = b·D + d, in
// parallel, with the row's z = delta + bias and step Δ = softplus(z) (or z).
template <typename T, typename Fn>
void for_each_scan_row(const selective_scan::ScanSizes& s, const T* delta,
                       const T* bias, bool softplus, const Fn& fn) {
  const int64_t grain = grain_for(s.N * s.L);
  at::parallel_for(0, s.batch * s.D, grain, [&](int64_t begin, int64_t end) {
    std::vector<T> z(s.L), dt(s.L);
    for (int64_t task = begin; task < end; ++task) {
      const T* row = delta + task * s.L;
      const T shift = bias ? bias[task % s.D] : T(0);
      for (int64_t t = 0; t < s.L; ++t) {
        z[t] = bias ? row[t] + shift : row[t];
        dt[t] = softplus ? mm_softplus(z[t]) : z[t];
      }
      fn(task, z.data(), dt.data());
    }
  });
}

}  // namespace

at::Tensor selective_scan_forward(const at::Tensor& u, const at::Tensor& delta,
                                  const at::Tensor& A, const at::Tensor& B,
                                  const c10::optional<at::Tensor>& bias,
                                  bool softplus) {
  const selective_scan::ScanSizes s = selective_scan::check_scan(
      kCpuTarget, u, delta, A, B, bias, nullptr, nullptr);
  auto h = at::empty(s.states(), u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_fwd", [&] {
    using T = scalar_t;
    const T *up = u.data_ptr<T>(), *deltap = delta.data_ptr<T>();
    const T *Ap = A.data_ptr<T>(), *Bp = B.data_ptr<T>();
    const T* biasp = bias.has_value() ? bias->data_ptr<T>() : nullptr;
    T* hp = h.data_ptr<T>();
    for_each_scan_row(s, deltap, biasp, softplus,
                      [&](int64_t task, const T*, const T* dt) {
      const int64_t b = task / s.D, d = task % s.D;
      const T* ut = up + task * s.L;
      for (int64_t n = 0; n < s.N; ++n) {
        const T a = Ap[d * s.N + n];
        const T* Bn = Bp + (b * s.N + n) * s.L;
        T* hn = hp + (task * s.N + n) * s.L;
        T state = 0, decay;
        for (int64_t t = 0; t < s.L; ++t) {
          state = mm_scan_step(state, dt[t], a, Bn[t], ut[t], &decay);
          hn[t] = state;
        }
      }
    });
  });
  return h;
}

// Reverse-mode pass. With g_t the total gradient reaching h_t
// (g_t = dh_t + e_{t+1}·g_{t+1}, e = exp(Δ·A)) and ℓ_t = g_t·e_t·h_{t-1}
// the gradient of the log-decay Δ_t·A_n:
//   dΔ_t = Σ_n ℓ_t·A_n + g_t·B_{n,t}·u_t;  dA_n = Σ_{b,t} ℓ_t·Δ_t
//   du_t = Σ_n g_t·Δ_t·B_{n,t};          dB_{n,t} = Σ_d g_t·Δ_t·u_t
// ddelta = dΔ·softplus'(z) (or dΔ); d bias = ddelta summed over batch and L.
// Returns du, ddelta, dA, dB and d bias (undefined, None in Python, without
// delta_bias).
std::vector<at::Tensor> selective_scan_backward(
    const at::Tensor& grad, const at::Tensor& h, const at::Tensor& u,
    const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
    const c10::optional<at::Tensor>& bias, bool softplus) {
  const selective_scan::ScanSizes s =
      selective_scan::check_scan(kCpuTarget, u, delta, A, B, bias, &grad, &h);
  auto du = at::zeros_like(u), ddelta = at::zeros_like(delta);
  auto dA_part = at::empty({s.batch, s.D, s.N}, u.options());
  auto dB_part = at::empty(s.states(), u.options());  // g·Δ·u
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_bwd", [&] {
    using T = scalar_t;
    const T *gp = grad.data_ptr<T>(), *hp = h.data_ptr<T>();
    const T *up = u.data_ptr<T>(), *deltap = delta.data_ptr<T>();
    const T *Ap = A.data_ptr<T>(), *Bp = B.data_ptr<T>();
    const T* biasp = bias.has_value() ? bias->data_ptr<T>() : nullptr;
    T *dup = du.data_ptr<T>(), *ddp = ddelta.data_ptr<T>();
    T *dAp = dA_part.data_ptr<T>(), *dBp = dB_part.data_ptr<T>();
    for_each_scan_row(s, deltap, biasp, softplus,
                      [&](int64_t task, const T* z, const T* dt) {
      const int64_t b = task / s.D, d = task % s.D;
      const T* ut = up + task * s.L;
      T *dut = dup + task * s.L, *ddt = ddp + task * s.L;  // ddt: dΔ first
      for (int64_t n = 0; n < s.N; ++n) {
        const T a = Ap[d * s.N + n];
        const T* Bn = Bp + (b * s.N + n) * s.L;
        const int64_t row = (task * s.N + n) * s.L;
        const T *hn = hp + row, *gn = gp + row;
        T* dBn = dBp + row;
        T carry = 0, dA = 0;
        for (int64_t t = s.L - 1; t >= 0; --t) {
          T dlog;
          const T g = mm_scan_step_backward(gn[t], carry, dt[t], a,
                                            t > 0 ? hn[t - 1] : T(0), &dlog,
                                            &carry);
          const T gdt = g * dt[t];
          ddt[t] += dlog * a + g * Bn[t] * ut[t];
          dA += dlog * dt[t];
          dut[t] += gdt * Bn[t];
          dBn[t] = gdt * ut[t];
        }
        dAp[task * s.N + n] = dA;
      }
      if (softplus)
        for (int64_t t = 0; t < s.L; ++t) ddt[t] *= mm_softplus_grad(z[t]);
    });
  });
  return {du, ddelta, dA_part.sum(0), dB_part.sum(1),
          selective_scan::bias_grad(ddelta, bias)};
}

}  // namespace cpu
}  // namespace mmmamba
