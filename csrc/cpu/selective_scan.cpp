// CPU kernels for the selective scan that returns every state (A2SSM).
//
//   h_t = exp(Δ_t·A_n)·h_{t-1} + Δ_t·B_{n,t}·u_t,  h_0 = 0,  every (b, d, n)
//
// The transcendental parts (Δ = softplus(delta + bias), the decay
// exp(Δ·A) and the softplus derivative) are computed by the Python wrapper
// with vectorised torch ops (SLEEF); these kernels run the sequential
// recurrence, which is pure multiply-adds. Inputs are contiguous
// u, dt: batch × D × L; decay: batch × D × N × L; A: D × N;
// B: batch × N × L, all float32 or all float64. Work is split over
// (batch, channel) with at::parallel_for; each task keeps only its N running
// states. The step is the shared host/device header's.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <vector>

#include "../mmmamba_math.h"

namespace {

void check_scan(const at::Tensor& t, const char* name, const at::Tensor& u) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == u.scalar_type(), name,
              " must have the dtype of u");
}

}  // namespace

at::Tensor selective_scan_states_forward(const at::Tensor& u,
                                         const at::Tensor& dt,
                                         const at::Tensor& decay,
                                         const at::Tensor& B) {
  TORCH_CHECK(u.scalar_type() == at::kFloat || u.scalar_type() == at::kDouble,
              "u must be float32 or float64 (the Python wrapper casts)");
  for (auto pair : {std::make_pair(&u, "u"), std::make_pair(&dt, "dt"),
                    std::make_pair(&decay, "decay"), std::make_pair(&B, "B")})
    check_scan(*pair.first, pair.second, u);
  const int64_t batch = u.size(0), D = u.size(1), L = u.size(2);
  const int64_t N = decay.size(2);
  TORCH_CHECK(dt.sizes() == u.sizes(), "dt must have the shape of u");
  TORCH_CHECK(decay.dim() == 4 && decay.size(0) == batch &&
              decay.size(1) == D && decay.size(3) == L,
              "decay must be (batch, D, N, L)");
  TORCH_CHECK(B.dim() == 3 && B.size(0) == batch && B.size(1) == N &&
              B.size(2) == L, "B must be (batch, N, L)");
  auto h = at::empty({batch, D, N, L}, u.options());
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_fwd", [&] {
    using T = scalar_t;
    const T* up = u.data_ptr<T>();
    const T* dtp = dt.data_ptr<T>();
    const T* ep = decay.data_ptr<T>();
    const T* Bp = B.data_ptr<T>();
    T* hp = h.data_ptr<T>();
    at::parallel_for(0, batch * D, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / D;
        const T* ut = up + task * L;
        const T* dtt = dtp + task * L;
        for (int64_t n = 0; n < N; ++n) {
          const T* Bn = Bp + (b * N + n) * L;
          const T* en = ep + (task * N + n) * L;
          T* hn = hp + (task * N + n) * L;
          T state = 0;
          for (int64_t t = 0; t < L; ++t) {
            state = mmmamba::mm_scan_step_decayed(state, en[t], dtt[t], Bn[t],
                                                  ut[t]);
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
// the gradient of the log-decay Δ_t·A:
//   dΔ_t = Σ_n ℓ_t·A_n + g_t·B_{n,t}·u_t;  dA_n = Σ_{b,t} ℓ_t·Δ_t
//   du_t = Σ_n g_t·Δ_t·B_{n,t};          dB_{n,t} = Σ_d g_t·Δ_t·u_t
// Returns du, dΔ (before the softplus), dA, dB.
std::vector<at::Tensor> selective_scan_states_backward(
    const at::Tensor& dh_in, const at::Tensor& h, const at::Tensor& u,
    const at::Tensor& dt, const at::Tensor& decay, const at::Tensor& A,
    const at::Tensor& B) {
  for (auto pair : {std::make_pair(&dh_in, "grad"), std::make_pair(&h, "h"),
                    std::make_pair(&dt, "dt"), std::make_pair(&decay, "decay"),
                    std::make_pair(&A, "A"), std::make_pair(&B, "B")})
    check_scan(*pair.first, pair.second, u);
  const int64_t batch = u.size(0), D = u.size(1), L = u.size(2);
  const int64_t N = A.size(1);
  auto du = at::zeros_like(u), ddt = at::zeros_like(dt);
  auto dA_part = at::empty({batch, D, N}, u.options());
  auto dB_part = at::empty({batch, D, N, L}, u.options());  // g·Δ·u per d
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "selective_scan_bwd", [&] {
    using T = scalar_t;
    const T* gp = dh_in.data_ptr<T>();
    const T* hp = h.data_ptr<T>();
    const T* up = u.data_ptr<T>();
    const T* dtp = dt.data_ptr<T>();
    const T* ep = decay.data_ptr<T>();
    const T* Ap = A.data_ptr<T>();
    const T* Bp = B.data_ptr<T>();
    T* dup = du.data_ptr<T>();
    T* ddp = ddt.data_ptr<T>();
    T* dAp = dA_part.data_ptr<T>();
    T* dBp = dB_part.data_ptr<T>();
    at::parallel_for(0, batch * D, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / D, d = task % D;
        const T* ut = up + task * L;
        const T* dtt = dtp + task * L;
        T* dut = dup + task * L;
        T* ddtt = ddp + task * L;
        for (int64_t n = 0; n < N; ++n) {
          const T a_n = Ap[d * N + n];
          const T* Bn = Bp + (b * N + n) * L;
          const T* en = ep + (task * N + n) * L;
          const T* hn = hp + (task * N + n) * L;
          const T* gn = gp + (task * N + n) * L;
          T* dBn = dBp + (task * N + n) * L;
          T carry = 0, dA = 0;
          for (int64_t t = L - 1; t >= 0; --t) {
            const T g = gn[t] + carry;
            const T dlog = g * en[t] * (t > 0 ? hn[t - 1] : T(0));
            const T gdt = g * dtt[t];
            ddtt[t] += dlog * a_n + g * Bn[t] * ut[t];
            dA += dlog * dtt[t];
            dut[t] += gdt * Bn[t];
            dBn[t] = gdt * ut[t];
            carry = en[t] * g;
          }
          dAp[task * N + n] = dA;
        }
      }
    });
  });
  return {du, ddt, dA_part.sum(0), dB_part.sum(1)};
}
