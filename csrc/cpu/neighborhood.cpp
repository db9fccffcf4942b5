// CPU kernels for 2-D neighborhood attention (NATTEN <= 0.17 semantics).
//
// Layout: every tensor is contiguous B × heads × H × W × C (C = dim or Kh·Kw).
// Three primitives cover the four ops and their gradients:
//   pair_dot      out[i, k]  = x[i] · y[nbr(i, k)] (+ rpb)   qk fwd, av bwd dattn
//   gather_sum    out[i, :]  = Σ_k w[i, k] · y[nbr(i, k), :] av fwd, qk bwd dq
//   scatter_sum   out[p, :]  = Σ_{(i,k): nbr(i,k)=p} w[i,k] · y[i, :]
//                                                          qk bwd dk, av bwd dv
// scatter_sum walks per-axis inverse tables (which queries see key p, and
// as which neighbour), so every output element is owned by one task and no
// atomics are needed. Work is split over (batch·heads, row) with
// at::parallel_for; inner loops run over the contiguous channel axis.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <vector>

#include "../mmmamba_math.h"

namespace {

using mmmamba::na_neighbor;
using mmmamba::na_rpb_index;
using mmmamba::na_window_start;

struct AxisTable {
  // forward: for query i, neighbour k -> position / rpb index
  std::vector<int> nbr, bias;  // n * K
  // inverse: for key p, entries [off[p], off[p+1]) of (query, k)
  std::vector<int> off, inv_q, inv_k;
};

AxisTable make_axis(int n, int K, int d) {
  AxisTable t;
  t.nbr.resize(n * K);
  t.bias.resize(n * K);
  std::vector<int> count(n, 0);
  for (int i = 0; i < n; ++i) {
    const int s = na_window_start(i, n, K, d);
    for (int k = 0; k < K; ++k) {
      const int p = na_neighbor(i, s, k, d);
      t.nbr[i * K + k] = p;
      t.bias[i * K + k] = na_rpb_index(i, s, k, K, d);
      ++count[p];
    }
  }
  t.off.assign(n + 1, 0);
  for (int p = 0; p < n; ++p) t.off[p + 1] = t.off[p] + count[p];
  t.inv_q.resize(t.off[n]);
  t.inv_k.resize(t.off[n]);
  std::vector<int> fill(t.off.begin(), t.off.end() - 1);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < K; ++k) {
      const int p = t.nbr[i * K + k];
      t.inv_q[fill[p]] = i;
      t.inv_k[fill[p]] = k;
      ++fill[p];
    }
  return t;
}

struct Geometry {
  int64_t BH, H, W;
  int Kh, Kw, dh, dw;
  AxisTable rows, cols;
  Geometry(int64_t bh, int64_t h, int64_t w, int kh, int kw, int dh_, int dw_)
      : BH(bh), H(h), W(w), Kh(kh), Kw(kw), dh(dh_), dw(dw_),
        rows(make_axis(h, kh, dh_)), cols(make_axis(w, kw, dw_)) {}
  int64_t KK() const { return int64_t(Kh) * Kw; }
};

void check_input(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.dim() == 5, name, " must be 5-D (B, heads, H, W, C)");
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
              name, " must be float32 or float64 (the Python wrapper casts)");
}

// out[bh, i, j, k] = sum_c x[bh, i, j, c] * y[bh, nbr, c] (+ rpb[h, bias])
template <typename T>
void pair_dot(const Geometry& g, int64_t heads, int64_t C, const T* x,
              const T* y, const T* rpb, T* out) {
  const int64_t KK = g.KK(), RW = 2 * g.Kw - 1;
  const int64_t RR = (2 * g.Kh - 1) * RW;
  at::parallel_for(0, g.BH * g.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / g.H, i = task % g.H;
      const T* ys = y + bh * g.H * g.W * C;
      const T* bias = rpb ? rpb + (bh % heads) * RR : nullptr;
      for (int64_t j = 0; j < g.W; ++j) {
        const T* xq = x + ((bh * g.H + i) * g.W + j) * C;
        T* o = out + ((bh * g.H + i) * g.W + j) * KK;
        for (int ki = 0; ki < g.Kh; ++ki) {
          const int64_t ni = g.rows.nbr[i * g.Kh + ki];
          const int64_t bi = g.rows.bias[i * g.Kh + ki];
          for (int kj = 0; kj < g.Kw; ++kj) {
            const int64_t nj = g.cols.nbr[j * g.Kw + kj];
            const T* yk = ys + (ni * g.W + nj) * C;
            T acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int64_t c = 0; c < C; ++c) acc += xq[c] * yk[c];
            if (bias) acc += bias[bi * RW + g.cols.bias[j * g.Kw + kj]];
            o[ki * g.Kw + kj] = acc;
          }
        }
      }
    }
  });
}

// out[bh, i, j, :] = sum_k w[bh, i, j, k] * y[bh, nbr(k), :]
template <typename T>
void gather_sum(const Geometry& g, int64_t C, const T* w, const T* y, T* out) {
  const int64_t KK = g.KK();
  at::parallel_for(0, g.BH * g.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / g.H, i = task % g.H;
      const T* ys = y + bh * g.H * g.W * C;
      for (int64_t j = 0; j < g.W; ++j) {
        const T* wq = w + ((bh * g.H + i) * g.W + j) * KK;
        T* o = out + ((bh * g.H + i) * g.W + j) * C;
        for (int64_t c = 0; c < C; ++c) o[c] = 0;
        for (int ki = 0; ki < g.Kh; ++ki) {
          const int64_t ni = g.rows.nbr[i * g.Kh + ki];
          for (int kj = 0; kj < g.Kw; ++kj) {
            const int64_t nj = g.cols.nbr[j * g.Kw + kj];
            const T a = wq[ki * g.Kw + kj];
            const T* yk = ys + (ni * g.W + nj) * C;
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) o[c] += a * yk[c];
          }
        }
      }
    }
  });
}

// out[bh, p, q, :] = sum over queries (i, j) that see key (p, q) as
// neighbour (ki, kj) of w[bh, i, j, ki*Kw+kj] * y[bh, i, j, :]
template <typename T>
void scatter_sum(const Geometry& g, int64_t C, const T* w, const T* y, T* out) {
  const int64_t KK = g.KK();
  at::parallel_for(0, g.BH * g.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / g.H, p = task % g.H;
      const T* ws = w + bh * g.H * g.W * KK;
      const T* ys = y + bh * g.H * g.W * C;
      for (int64_t q = 0; q < g.W; ++q) {
        T* o = out + ((bh * g.H + p) * g.W + q) * C;
        for (int64_t c = 0; c < C; ++c) o[c] = 0;
        for (int r = g.rows.off[p]; r < g.rows.off[p + 1]; ++r) {
          const int64_t i = g.rows.inv_q[r], ki = g.rows.inv_k[r];
          for (int s = g.cols.off[q]; s < g.cols.off[q + 1]; ++s) {
            const int64_t j = g.cols.inv_q[s], kj = g.cols.inv_k[s];
            const T a = ws[(i * g.W + j) * KK + ki * g.Kw + kj];
            const T* yq = ys + (i * g.W + j) * C;
#pragma omp simd
            for (int64_t c = 0; c < C; ++c) o[c] += a * yq[c];
          }
        }
      }
    }
  });
}

// drpb partials: one (2Kh-1)(2Kw-1) slab per (bh, row) task, summed in torch.
template <typename T>
void rpb_grad_rows(const Geometry& g, const T* grad, T* partial) {
  const int64_t KK = g.KK(), RW = 2 * g.Kw - 1;
  const int64_t RR = (2 * g.Kh - 1) * RW;
  at::parallel_for(0, g.BH * g.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t i = task % g.H;
      T* slab = partial + task * RR;
      for (int64_t r = 0; r < RR; ++r) slab[r] = 0;
      for (int64_t j = 0; j < g.W; ++j) {
        const T* gq = grad + (task * g.W + j) * KK;
        for (int ki = 0; ki < g.Kh; ++ki) {
          const int64_t bi = g.rows.bias[i * g.Kh + ki];
          for (int kj = 0; kj < g.Kw; ++kj)
            slab[bi * RW + g.cols.bias[j * g.Kw + kj]] += gq[ki * g.Kw + kj];
        }
      }
    }
  });
}

Geometry geometry_of(const at::Tensor& t, int64_t Kh, int64_t Kw, int64_t dh,
                     int64_t dw) {
  TORCH_CHECK(Kh % 2 == 1 && Kw % 2 == 1 && dh >= 1 && dw >= 1,
              "odd kernel and dilation >= 1 expected");
  TORCH_CHECK(t.size(2) >= Kh * dh && t.size(3) >= Kw * dw,
              "feature map smaller than kernel_size * dilation");
  return Geometry(t.size(0) * t.size(1), t.size(2), t.size(3), Kh, Kw, dh, dw);
}

}  // namespace

at::Tensor na2d_qk_forward(const at::Tensor& q, const at::Tensor& k,
                           const c10::optional<at::Tensor>& rpb, int64_t Kh,
                           int64_t Kw, int64_t dh, int64_t dw) {
  check_input(q, "query");
  check_input(k, "key");
  TORCH_CHECK(q.sizes() == k.sizes() && q.dtype() == k.dtype());
  const Geometry g = geometry_of(q, Kh, Kw, dh, dw);
  auto out = at::empty({q.size(0), q.size(1), q.size(2), q.size(3), Kh * Kw},
                       q.options());
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "na2d_qk_forward", [&] {
    const scalar_t* bias = nullptr;
    if (rpb.has_value()) {
      TORCH_CHECK(rpb->is_contiguous() && rpb->dtype() == q.dtype());
      bias = rpb->data_ptr<scalar_t>();
    }
    pair_dot<scalar_t>(g, q.size(1), q.size(4), q.data_ptr<scalar_t>(),
                       k.data_ptr<scalar_t>(), bias, out.data_ptr<scalar_t>());
  });
  return out;
}

std::vector<at::Tensor> na2d_qk_backward(const at::Tensor& grad,
                                         const at::Tensor& q,
                                         const at::Tensor& k, bool with_rpb,
                                         int64_t Kh, int64_t Kw, int64_t dh,
                                         int64_t dw) {
  check_input(grad, "grad");
  check_input(q, "query");
  check_input(k, "key");
  const Geometry g = geometry_of(q, Kh, Kw, dh, dw);
  auto dq = at::empty_like(q), dk = at::empty_like(k);
  at::Tensor drpb;
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "na2d_qk_backward", [&] {
    const int64_t C = q.size(4);
    gather_sum<scalar_t>(g, C, grad.data_ptr<scalar_t>(),
                         k.data_ptr<scalar_t>(), dq.data_ptr<scalar_t>());
    scatter_sum<scalar_t>(g, C, grad.data_ptr<scalar_t>(),
                          q.data_ptr<scalar_t>(), dk.data_ptr<scalar_t>());
    if (with_rpb) {
      auto partial = at::empty({q.size(0), q.size(1), q.size(2),
                                (2 * Kh - 1) * (2 * Kw - 1)}, q.options());
      rpb_grad_rows<scalar_t>(g, grad.data_ptr<scalar_t>(),
                              partial.data_ptr<scalar_t>());
      drpb = partial.sum({0, 2}).view({q.size(1), 2 * Kh - 1, 2 * Kw - 1});
    }
  });
  return {dq, dk, drpb};
}

at::Tensor na2d_av_forward(const at::Tensor& attn, const at::Tensor& v,
                           int64_t Kh, int64_t Kw, int64_t dh, int64_t dw) {
  check_input(attn, "attn");
  check_input(v, "value");
  TORCH_CHECK(attn.size(4) == Kh * Kw && attn.dtype() == v.dtype());
  const Geometry g = geometry_of(v, Kh, Kw, dh, dw);
  auto out = at::empty_like(v);
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "na2d_av_forward", [&] {
    gather_sum<scalar_t>(g, v.size(4), attn.data_ptr<scalar_t>(),
                         v.data_ptr<scalar_t>(), out.data_ptr<scalar_t>());
  });
  return out;
}

std::vector<at::Tensor> na2d_av_backward(const at::Tensor& grad,
                                         const at::Tensor& attn,
                                         const at::Tensor& v, int64_t Kh,
                                         int64_t Kw, int64_t dh, int64_t dw) {
  check_input(grad, "grad");
  check_input(attn, "attn");
  check_input(v, "value");
  const Geometry g = geometry_of(v, Kh, Kw, dh, dw);
  auto dattn = at::empty_like(attn), dv = at::empty_like(v);
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "na2d_av_backward", [&] {
    const int64_t C = v.size(4);
    pair_dot<scalar_t>(g, v.size(1), C, grad.data_ptr<scalar_t>(),
                       v.data_ptr<scalar_t>(), nullptr,
                       dattn.data_ptr<scalar_t>());
    scatter_sum<scalar_t>(g, C, attn.data_ptr<scalar_t>(),
                          grad.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>());
  });
  return {dattn, dv};
}
