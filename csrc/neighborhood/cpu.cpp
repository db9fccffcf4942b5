// CPU kernels for 2-D neighborhood attention (NATTEN <= 0.17 semantics).
//
// Layout: every tensor is contiguous B × heads × H × W × C (C = dim or Kh·Kw).
// The four ops are the row primitives of cpu_rows.h run over every
// (batch·head, row) with at::parallel_for:
//   qk forward   pair_dot(q, k) + rpb      av forward   gather_sum(attn, v)
//   qk backward  dq = gather_sum(g, k),    av backward  dattn = pair_dot(g, v),
//                dk = scatter_sum(g, q),                dv = scatter_sum(attn, g)
//                drpb: rpb_grad_row sums
// Arguments are checked by checks.h, the contract the CUDA wrappers check.
#include <vector>

#include "checks.h"
#include "cpu_rows.h"
#include "ops.h"

namespace mmmamba {
namespace cpu {
namespace {

// MapLayout of a contiguous slices × H × W × C tensor.
MapLayout pixel_major(const Window& g, int64_t C) {
  return {g.H * g.W * C, g.W * C, C, 1, g.H, g.W};
}

// The window tables of a checked B × heads × H × W × C tensor.
Window window_of(const at::Tensor& t, int64_t Kh, int64_t Kw, int64_t dh,
                 int64_t dw) {
  return Window(t.size(2), t.size(3), Kh, Kw, dh, dw);
}

// Per-(batch·head, row) slabs of drpb partials, summed in torch.
template <typename T>
void rpb_grad_row(const Window& g, int64_t i, const T* grad, T* slab) {
  const int64_t KK = g.KK(), RW = 2 * g.Kw - 1;
  for (int64_t r = 0; r < (2 * g.Kh - 1) * RW; ++r) slab[r] = 0;
  for (int64_t j = 0; j < g.W; ++j) {
    const T* gq = grad + (i * g.W + j) * KK;
    for (int ki = 0; ki < g.Kh; ++ki) {
      const int64_t bi = g.rows.bias[i * g.Kh + ki];
      for (int kj = 0; kj < g.Kw; ++kj)
        slab[bi * RW + g.cols.bias[j * g.Kw + kj]] += gq[ki * g.Kw + kj];
    }
  }
}

}  // namespace

at::Tensor na2d_qk_forward(const at::Tensor& q, const at::Tensor& k,
                           const c10::optional<at::Tensor>& rpb, int64_t Kh,
                           int64_t Kw, int64_t dh, int64_t dw) {
  neighborhood::check_qk(kCpuTarget, q, k, rpb ? &*rpb : nullptr, nullptr,
                         Kh, Kw, dh, dw);
  const Window g = window_of(q, Kh, Kw, dh, dw);
  const int64_t heads = q.size(1), C = q.size(4), HW = g.H * g.W;
  const int64_t RR = (2 * Kh - 1) * (2 * Kw - 1);
  auto out = at::empty(neighborhood::attn_sizes(q, Kh, Kw), q.options());
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "na2d_qk_forward", [&] {
    using T = scalar_t;
    const T* bias = rpb.has_value() ? rpb->data_ptr<T>() : nullptr;
    const int64_t BH = q.size(0) * heads;
    const int64_t Wg = grouped_width(g);
    const at::Tensor keys = grouped_keys<T>(g, k, BH, C, pixel_major(g, C));
    const T *qp = q.data_ptr<T>(), *kp = keys.data_ptr<T>();
    T* op = out.data_ptr<T>();
    const int64_t row_work = g.W * g.KK() * C;
    for_each_row(BH, g.H, row_work, [&](int64_t bh, int64_t i) {
      pair_dot_row(g, C, i, qp + bh * HW * C, kp + bh * g.H * C * Wg,
                   bias ? bias + (bh % heads) * RR : nullptr,
                   op + bh * HW * g.KK());
    });
  });
  return out;
}

std::vector<at::Tensor> na2d_qk_backward(const at::Tensor& grad,
                                         const at::Tensor& q,
                                         const at::Tensor& k, bool with_rpb,
                                         int64_t Kh, int64_t Kw, int64_t dh,
                                         int64_t dw) {
  neighborhood::check_qk(kCpuTarget, q, k, nullptr, &grad, Kh, Kw, dh, dw);
  const Window g = window_of(q, Kh, Kw, dh, dw);
  const int64_t BH = q.size(0) * q.size(1), C = q.size(4), HW = g.H * g.W;
  const int64_t RR = (2 * Kh - 1) * (2 * Kw - 1);
  auto dq = at::empty_like(q), dk = at::empty_like(k);
  auto partial = with_rpb ? at::empty({q.size(0), q.size(1), g.H, RR},
                                      q.options())
                          : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "na2d_qk_backward", [&] {
    using T = scalar_t;
    const T *gp = grad.data_ptr<T>(), *qp = q.data_ptr<T>(),
            *kp = k.data_ptr<T>();
    T *dqp = dq.data_ptr<T>(), *dkp = dk.data_ptr<T>();
    T* pp = with_rpb ? partial.data_ptr<T>() : nullptr;
    const int64_t row_work = 3 * g.W * g.KK() * C;
    for_each_row(BH, g.H, row_work, [&](int64_t bh, int64_t i) {
      const T* gs = gp + bh * HW * g.KK();
      gather_sum_row(g, C, i, gs, kp + bh * HW * C,
                     dqp + (bh * HW + i * g.W) * C);
      scatter_sum_row(g, C, i, gs, qp + bh * HW * C,
                      dkp + (bh * HW + i * g.W) * C);
      if (pp) rpb_grad_row<T>(g, i, gs, pp + (bh * g.H + i) * RR);
    });
  });
  at::Tensor drpb;
  if (with_rpb)
    drpb = partial.sum({0, 2}).view({q.size(1), 2 * Kh - 1, 2 * Kw - 1});
  return {dq, dk, drpb};
}

at::Tensor na2d_av_forward(const at::Tensor& attn, const at::Tensor& v,
                           int64_t Kh, int64_t Kw, int64_t dh, int64_t dw) {
  neighborhood::check_av(kCpuTarget, attn, v, nullptr, Kh, Kw, dh, dw);
  const Window g = window_of(v, Kh, Kw, dh, dw);
  const int64_t C = v.size(4), HW = g.H * g.W;
  auto out = at::empty_like(v);
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "na2d_av_forward", [&] {
    using T = scalar_t;
    const T *ap = attn.data_ptr<T>(), *vp = v.data_ptr<T>();
    T* op = out.data_ptr<T>();
    const int64_t BH = v.size(0) * v.size(1), row_work = g.W * g.KK() * C;
    for_each_row(BH, g.H, row_work, [&](int64_t bh, int64_t i) {
      gather_sum_row(g, C, i, ap + bh * HW * g.KK(), vp + bh * HW * C,
                     op + (bh * HW + i * g.W) * C);
    });
  });
  return out;
}

std::vector<at::Tensor> na2d_av_backward(const at::Tensor& grad,
                                         const at::Tensor& attn,
                                         const at::Tensor& v, int64_t Kh,
                                         int64_t Kw, int64_t dh, int64_t dw) {
  neighborhood::check_av(kCpuTarget, attn, v, &grad, Kh, Kw, dh, dw);
  const Window g = window_of(v, Kh, Kw, dh, dw);
  const int64_t C = v.size(4), HW = g.H * g.W;
  auto dattn = at::empty_like(attn), dv = at::empty_like(v);
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "na2d_av_backward", [&] {
    using T = scalar_t;
    const T *gp = grad.data_ptr<T>(), *ap = attn.data_ptr<T>();
    T *dap = dattn.data_ptr<T>(), *dvp = dv.data_ptr<T>();
    const int64_t BH = v.size(0) * v.size(1);
    const int64_t Wg = grouped_width(g);
    const at::Tensor keys = grouped_keys<T>(g, v, BH, C, pixel_major(g, C));
    const T* kp = keys.data_ptr<T>();
    const int64_t row_work = 2 * g.W * g.KK() * C;
    for_each_row(BH, g.H, row_work, [&](int64_t bh, int64_t i) {
      const T* gs = gp + bh * HW * C;
      pair_dot_row(g, C, i, gs, kp + bh * g.H * C * Wg, nullptr,
                   dap + bh * HW * g.KK());
      scatter_sum_row(g, C, i, ap + bh * HW * g.KK(), gs,
                      dvp + (bh * HW + i * g.W) * C);
    });
  });
  return {dattn, dv};
}

}  // namespace cpu
}  // namespace mmmamba
