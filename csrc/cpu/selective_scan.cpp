// CPU kernels for the selective scan that returns every state (A2SSM).
//
//   Δ_t = softplus(delta_t + bias)  (or delta_t + bias)
//   h_t = exp(Δ_t·A_n)·h_{t-1} + Δ_t·B_{n,t}·u_t,  h_0 = 0,  every (b, d, n)
//
// Inputs are contiguous u, delta: batch × D × L; A: D × N; B: batch × N × L;
// bias: D or undefined; all float32 or all float64. Work is split over
// (batch, channel) with at::parallel_for. Each task walks L in chunks of
// kChunk steps: the step Δ of a chunk is computed once into a small buffer
// shared by the N states, so nothing of size L is allocated besides the
// outputs (memory stays bounded for L = 200·336 and beyond). The softplus,
// its derivative and the recurrence step are the shared host/device
// header's (csrc/mmmamba_math.h), the same functions the CUDA kernel runs.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "../mmmamba_math.h"
#include "parallel.h"

namespace {

constexpr int64_t kChunk = 512;

struct ScanShape {
  int64_t batch, D, N, L;
};

ScanShape check_scan_inputs(const at::Tensor& u, const at::Tensor& delta,
                            const at::Tensor& A, const at::Tensor& B,
                            const c10::optional<at::Tensor>& bias) {
  TORCH_CHECK(u.scalar_type() == at::kFloat || u.scalar_type() == at::kDouble,
              "u must be float32 or float64 (the Python wrapper casts)");
  std::vector<std::pair<const at::Tensor*, const char*>> inputs = {
      {&u, "u"}, {&delta, "delta"}, {&A, "A"}, {&B, "B"}};
  if (bias.has_value()) inputs.push_back({&*bias, "delta_bias"});
  for (auto& [t, name] : inputs) {
    TORCH_CHECK(t->device().is_cpu(), name, " must be a CPU tensor");
    TORCH_CHECK(t->is_contiguous(), name, " must be contiguous");
    TORCH_CHECK(t->scalar_type() == u.scalar_type(), name,
                " must have the dtype of u");
  }
  TORCH_CHECK(u.dim() == 3 && delta.sizes() == u.sizes(),
              "u and delta must be (batch, D, L)");
  const ScanShape s{u.size(0), u.size(1), A.size(1), u.size(2)};
  TORCH_CHECK(A.dim() == 2 && A.size(0) == s.D, "A must be (D, N)");
  TORCH_CHECK(B.dim() == 3 && B.size(0) == s.batch && B.size(1) == s.N &&
              B.size(2) == s.L, "B must be (batch, N, L)");
  TORCH_CHECK(!bias.has_value() || (bias->dim() == 1 && bias->size(0) == s.D),
              "delta_bias must be (D,)");
  return s;
}

// Δ of steps [t0, t0 + n) of one (b, d) row into dt; with grad_scale, also
// dΔ/d(delta) into it (1 without softplus).
template <typename T>
void chunk_steps(const T* delta, T bias, bool softplus, int64_t n, T* dt,
                 T* grad_scale) {
  for (int64_t t = 0; t < n; ++t) {
    const T z = delta[t] + bias;
    dt[t] = softplus ? mmmamba::mm_softplus(z) : z;
    if (grad_scale)
      grad_scale[t] = softplus ? mmmamba::mm_softplus_grad(z) : T(1);
  }
}

}  // namespace

at::Tensor selective_scan_states_forward(const at::Tensor& u,
                                         const at::Tensor& delta,
                                         const at::Tensor& A,
                                         const at::Tensor& B,
                                         const c10::optional<at::Tensor>& bias,
                                         bool softplus) {
  const ScanShape s = check_scan_inputs(u, delta, A, B, bias);
  auto h = at::empty({s.batch, s.D, s.N, s.L}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_fwd", [&] {
    using T = scalar_t;
    const T* up = u.data_ptr<T>();
    const T* deltap = delta.data_ptr<T>();
    const T* Ap = A.data_ptr<T>();
    const T* Bp = B.data_ptr<T>();
    const T* biasp = bias.has_value() ? bias->data_ptr<T>() : nullptr;
    T* hp = h.data_ptr<T>();
    const int64_t grain = mmmamba::cpu::grain_for(s.N * s.L);
    at::parallel_for(0, s.batch * s.D, grain, [&](int64_t begin, int64_t end) {
      std::vector<T> dt(kChunk), state(s.N);
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / s.D, d = task % s.D;
        const T* ut = up + task * s.L;
        std::fill(state.begin(), state.end(), T(0));
        for (int64_t t0 = 0; t0 < s.L; t0 += kChunk) {
          const int64_t n_steps = std::min(kChunk, s.L - t0);
          chunk_steps<T>(deltap + task * s.L + t0, biasp ? biasp[d] : T(0),
                         softplus, n_steps, dt.data(), nullptr);
          for (int64_t n = 0; n < s.N; ++n) {
            const T a = Ap[d * s.N + n];
            const T* Bn = Bp + (b * s.N + n) * s.L + t0;
            T* hn = hp + (task * s.N + n) * s.L + t0;
            T carry = state[n], decay;
            for (int64_t t = 0; t < n_steps; ++t) {
              carry = mmmamba::mm_scan_step(carry, dt[t], a, Bn[t],
                                            ut[t0 + t], &decay);
              hn[t] = carry;
            }
            state[n] = carry;
          }
        }
      }
    });
  });
  return h;
}

// Reverse-mode pass, chunks from the end. With g_t the total gradient
// reaching h_t (g_t = dh_t + e_{t+1}·g_{t+1}, e = exp(Δ·A)) and
// ℓ_t = g_t·e_t·h_{t-1} the gradient of the log-decay Δ_t·A_n:
//   dΔ_t = Σ_n ℓ_t·A_n + g_t·B_{n,t}·u_t;  dA_n = Σ_{b,t} ℓ_t·Δ_t
//   du_t = Σ_n g_t·Δ_t·B_{n,t};          dB_{n,t} = Σ_d g_t·Δ_t·u_t
// and d(delta) = dΔ · softplus'(delta + bias). Returns du, d(delta), dA, dB
// (d(delta_bias) is d(delta) summed over batch and L, in the wrapper).
std::vector<at::Tensor> selective_scan_states_backward(
    const at::Tensor& grad, const at::Tensor& h, const at::Tensor& u,
    const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
    const c10::optional<at::Tensor>& bias, bool softplus) {
  const ScanShape s = check_scan_inputs(u, delta, A, B, bias);
  for (auto* t : {&grad, &h}) {
    TORCH_CHECK(t->is_contiguous() && t->scalar_type() == u.scalar_type() &&
                t->sizes() == at::IntArrayRef({s.batch, s.D, s.N, s.L}),
                "grad and h must be contiguous (batch, D, N, L) in u's dtype");
  }
  auto du = at::empty_like(u), ddelta = at::empty_like(delta);
  auto dA_part = at::empty({s.batch, s.D, s.N}, u.options());
  auto dB_part = at::empty({s.batch, s.D, s.N, s.L}, u.options());  // g·Δ·u
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_bwd", [&] {
    using T = scalar_t;
    const T* gp = grad.data_ptr<T>();
    const T* hp = h.data_ptr<T>();
    const T* up = u.data_ptr<T>();
    const T* deltap = delta.data_ptr<T>();
    const T* Ap = A.data_ptr<T>();
    const T* Bp = B.data_ptr<T>();
    const T* biasp = bias.has_value() ? bias->data_ptr<T>() : nullptr;
    T* dup = du.data_ptr<T>();
    T* ddp = ddelta.data_ptr<T>();
    T* dAp = dA_part.data_ptr<T>();
    T* dBp = dB_part.data_ptr<T>();
    const int64_t grain = mmmamba::cpu::grain_for(s.N * s.L);
    at::parallel_for(0, s.batch * s.D, grain, [&](int64_t begin, int64_t end) {
      std::vector<T> dt(kChunk), scale(kChunk), carry(s.N), dA(s.N);
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / s.D, d = task % s.D;
        const T* ut = up + task * s.L;
        std::fill(carry.begin(), carry.end(), T(0));
        std::fill(dA.begin(), dA.end(), T(0));
        const int64_t last = (s.L - 1) / kChunk * kChunk;
        for (int64_t t0 = last; t0 >= 0; t0 -= kChunk) {
          const int64_t n_steps = std::min(kChunk, s.L - t0);
          chunk_steps<T>(deltap + task * s.L + t0, biasp ? biasp[d] : T(0),
                         softplus, n_steps, dt.data(), scale.data());
          T* dut = dup + task * s.L + t0;
          T* ddt = ddp + task * s.L + t0;
          std::fill(dut, dut + n_steps, T(0));
          std::fill(ddt, ddt + n_steps, T(0));
          for (int64_t n = 0; n < s.N; ++n) {
            const T a = Ap[d * s.N + n];
            const T* Bn = Bp + (b * s.N + n) * s.L + t0;
            const int64_t row = (task * s.N + n) * s.L;
            const T* hn = hp + row;  // whole row: h_{t-1} crosses chunks
            const T* gn = gp + row + t0;
            T* dBn = dBp + row + t0;
            T g_next = carry[n], dA_n = dA[n];
            for (int64_t t = n_steps - 1; t >= 0; --t) {
              const T h_prev = t0 + t > 0 ? hn[t0 + t - 1] : T(0);
              T dlog;
              const T g = mmmamba::mm_scan_step_backward(
                  gn[t], g_next, dt[t], a, h_prev, &dlog, &g_next);
              const T gdt = g * dt[t];
              ddt[t] += dlog * a + g * Bn[t] * ut[t0 + t];
              dA_n += dlog * dt[t];
              dut[t] += gdt * Bn[t];
              dBn[t] = gdt * ut[t0 + t];
            }
            carry[n] = g_next;
            dA[n] = dA_n;
          }
          for (int64_t t = 0; t < n_steps; ++t) ddt[t] *= scale[t];
        }
        std::copy(dA.begin(), dA.end(), dAp + task * s.N);
      }
    });
  });
  return {du, ddelta, dA_part.sum(0), dB_part.sum(1)};
}
