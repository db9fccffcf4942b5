// CPU kernels for the selective scan that returns every state (A2SSM).
//
//   h_t = exp(Δ_t·A_n)·h_{t-1} + Δ_t·B_{n,t}·u_t,  h_0 = 0,  every (b, d, n)
//   Δ = softplus(delta + bias) (threshold 20), or delta + bias
//
// The contract of the CUDA wrappers (cuda_selective_scan_forward/backward)
// without the stream: the step Δ and its gradient are computed here, per
// (batch, channel) row, by the shared host/device header's mm_softplus /
// mm_softplus_grad (csrc/mmmamba_math.h); the recurrence, forward and
// reverse, is its mm_scan_step / mm_scan_step_backward: the same functions
// the CUDA kernel runs. Nothing state-sized is allocated besides the
// outputs. Inputs are contiguous u, delta: batch × D × L; A: D × N; B:
// batch × N × L; delta_bias: D or None; all float32 or all float64 (the
// Python wrapper casts). Work is split over (batch, channel) with
// at::parallel_for.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <vector>

#include "../mmmamba_math.h"
#include "parallel.h"

namespace {

struct ScanShape {
  int64_t batch, D, N, L;
};

ScanShape check_scan_inputs(const at::Tensor& u, const at::Tensor& delta,
                            const at::Tensor& A, const at::Tensor& B,
                            const c10::optional<at::Tensor>& bias) {
  TORCH_CHECK(u.scalar_type() == at::kFloat || u.scalar_type() == at::kDouble,
              "u must be float32 or float64 (the Python wrapper casts)");
  std::vector<std::pair<const at::Tensor*, const char*>> inputs{
      {&u, "u"}, {&delta, "delta"}, {&A, "A"}, {&B, "B"}};
  if (bias.has_value()) inputs.emplace_back(&*bias, "delta_bias");
  for (auto& [t, name] : inputs) {
    TORCH_CHECK(t->device().is_cpu(), name, " must be a CPU tensor");
    TORCH_CHECK(t->is_contiguous(), name, " must be contiguous");
    TORCH_CHECK(t->scalar_type() == u.scalar_type(), name,
                " must have the dtype of u");
  }
  TORCH_CHECK(u.dim() == 3 && delta.sizes() == u.sizes(),
              "u and delta must be (batch, D, L)");
  TORCH_CHECK(A.dim() == 2 && A.size(0) == u.size(1), "A must be (D, N)");
  const ScanShape s{u.size(0), u.size(1), A.size(1), u.size(2)};
  TORCH_CHECK(B.dim() == 3 && B.size(0) == s.batch && B.size(1) == s.N &&
              B.size(2) == s.L, "B must be (batch, N, L)");
  TORCH_CHECK(!bias.has_value() || bias->sizes() == at::IntArrayRef({s.D}),
              "delta_bias must be (D)");
  return s;
}

// z = delta + bias and the step Δ = softplus(z) (or z) of one row.
template <typename T>
void step_row(const T* delta, const T* bias, bool softplus, int64_t L, T* z,
              T* dt) {
  for (int64_t t = 0; t < L; ++t) {
    z[t] = bias ? delta[t] + *bias : delta[t];
    dt[t] = softplus ? mmmamba::mm_softplus(z[t]) : z[t];
  }
}

}  // namespace

at::Tensor selective_scan_forward(const at::Tensor& u, const at::Tensor& delta,
                                  const at::Tensor& A, const at::Tensor& B,
                                  const c10::optional<at::Tensor>& bias,
                                  bool softplus) {
  const ScanShape s = check_scan_inputs(u, delta, A, B, bias);
  auto h = at::empty({s.batch, s.D, s.N, s.L}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_fwd", [&] {
    using T = scalar_t;
    const T *up = u.data_ptr<T>(), *deltap = delta.data_ptr<T>();
    const T *Ap = A.data_ptr<T>(), *Bp = B.data_ptr<T>();
    const T* biasp = bias.has_value() ? bias->data_ptr<T>() : nullptr;
    T* hp = h.data_ptr<T>();
    const int64_t grain = mmmamba::cpu::grain_for(s.N * s.L);
    at::parallel_for(0, s.batch * s.D, grain, [&](int64_t begin, int64_t end) {
      std::vector<T> z(s.L), dt(s.L);  // one row's delta + bias and Δ
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / s.D, d = task % s.D;
        const T* ut = up + task * s.L;
        step_row(deltap + task * s.L, biasp ? biasp + d : nullptr, softplus,
                 s.L, z.data(), dt.data());
        for (int64_t n = 0; n < s.N; ++n) {
          const T a = Ap[d * s.N + n];
          const T* Bn = Bp + (b * s.N + n) * s.L;
          T* hn = hp + (task * s.N + n) * s.L;
          T state = 0, decay;
          for (int64_t t = 0; t < s.L; ++t) {
            state = mmmamba::mm_scan_step(state, dt[t], a, Bn[t], ut[t],
                                          &decay);
            hn[t] = state;
          }
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
  const ScanShape s = check_scan_inputs(u, delta, A, B, bias);
  for (auto* t : {&grad, &h}) {
    TORCH_CHECK(t->is_contiguous() && t->scalar_type() == u.scalar_type() &&
                t->sizes() == at::IntArrayRef({s.batch, s.D, s.N, s.L}),
                "grad and h must be contiguous (batch, D, N, L) in u's dtype");
  }
  auto du = at::zeros_like(u), ddelta = at::zeros_like(delta);
  auto dA_part = at::empty({s.batch, s.D, s.N}, u.options());
  auto dB_part = at::empty({s.batch, s.D, s.N, s.L}, u.options());  // g·Δ·u
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_bwd", [&] {
    using T = scalar_t;
    const T *gp = grad.data_ptr<T>(), *hp = h.data_ptr<T>();
    const T *up = u.data_ptr<T>(), *deltap = delta.data_ptr<T>();
    const T *Ap = A.data_ptr<T>(), *Bp = B.data_ptr<T>();
    const T* biasp = bias.has_value() ? bias->data_ptr<T>() : nullptr;
    T *dup = du.data_ptr<T>(), *ddp = ddelta.data_ptr<T>();
    T *dAp = dA_part.data_ptr<T>(), *dBp = dB_part.data_ptr<T>();
    const int64_t grain = mmmamba::cpu::grain_for(s.N * s.L);
    at::parallel_for(0, s.batch * s.D, grain, [&](int64_t begin, int64_t end) {
      std::vector<T> z(s.L), dt(s.L);  // one row's delta + bias and Δ
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / s.D, d = task % s.D;
        const T* ut = up + task * s.L;
        T *dut = dup + task * s.L, *ddt = ddp + task * s.L;  // ddt: dΔ first
        step_row(deltap + task * s.L, biasp ? biasp + d : nullptr, softplus,
                 s.L, z.data(), dt.data());
        for (int64_t n = 0; n < s.N; ++n) {
          const T a = Ap[d * s.N + n];
          const T* Bn = Bp + (b * s.N + n) * s.L;
          const int64_t row = (task * s.N + n) * s.L;
          const T *hn = hp + row, *gn = gp + row;
          T* dBn = dBp + row;
          T carry = 0, dA = 0;
          for (int64_t t = s.L - 1; t >= 0; --t) {
            T dlog;
            const T g = mmmamba::mm_scan_step_backward(
                gn[t], carry, dt[t], a, t > 0 ? hn[t - 1] : T(0), &dlog,
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
          for (int64_t t = 0; t < s.L; ++t)
            ddt[t] *= mmmamba::mm_softplus_grad(z[t]);
      }
    });
  });
  at::Tensor dbias;
  if (bias.has_value()) dbias = ddelta.sum({0, 2});
  return {du, ddelta, dA_part.sum(0), dB_part.sum(1), dbias};
}
