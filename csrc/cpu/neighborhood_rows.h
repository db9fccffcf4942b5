// Row primitives of the CPU neighborhood-attention kernels (NATTEN <= 0.17
// semantics), shared by csrc/cpu/neighborhood.cpp (the four ops) and
// csrc/cpu/a2ssm_aggregate.cpp (the fused A2SSM aggregation); the bodies of
// gather_sum_row and scatter_sum_row are in csrc/cpu/row_kernels.cpp.
//
// Each primitive computes one query row i (or key row p) of one
// (batch, head) slice; slices are contiguous H × W × C (C = dim or Kh·Kw):
//   pair_dot_row     out[i, j, k] = x[i, j] · y[nbr(i, j, k)] (+ rpb)
//   gather_sum_row   out[i, j, :] = Σ_k w[i, j, k] · y[nbr(i, j, k), :]
//   scatter_sum_row  out[p, q, :] = Σ_{(i,j,k): nbr(i,j,k)=(p,q)} w[i,j,k]·y[i,j,:]
// scatter_sum_row walks per-axis inverse tables (which queries see key p,
// and as which neighbour), so each output row is owned by one task and no
// atomics are needed. Inner loops run over the contiguous channel axis.
// Window arithmetic comes from the shared host/device header.
#pragma once

#include <ATen/Parallel.h>

#include <cstdint>
#include <vector>

#include "../mmmamba_math.h"
#include "parallel.h"

namespace mmmamba {
namespace cpu {

struct AxisTable {
  // forward: for query i, neighbour k -> position / rpb index
  std::vector<int> nbr, bias;  // n * K
  // inverse: for key p, entries [off[p], off[p+1]) of (query, k)
  std::vector<int> off, inv_q, inv_k;
};

inline AxisTable make_axis(int n, int K, int d) {
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

// The window tables of an H × W map with kernel Kh × Kw, dilation dh × dw.
struct Window {
  int64_t H, W;
  int Kh, Kw;
  AxisTable rows, cols;
  Window(int64_t h, int64_t w, int kh, int kw, int dh, int dw)
      : H(h), W(w), Kh(kh), Kw(kw), rows(make_axis(h, kh, dh)),
        cols(make_axis(w, kw, dw)) {}
  int64_t KK() const { return int64_t(Kh) * Kw; }
};

// The three primitives are built per instruction set (csrc/cpu/row_kernels.cpp).

// out[i, j, k] = x[i, j, :] · y[nbr(i, j, k), :] (+ rpb[bias index])
void pair_dot_row(const Window& g, int64_t C, int64_t i, const float* x,
                  const float* y, const float* rpb, float* out);
void pair_dot_row(const Window& g, int64_t C, int64_t i, const double* x,
                  const double* y, const double* rpb, double* out);

// out_row[j, :] = Σ_k w[i, j, k] · y[nbr(i, j, k), :]; out_row is W × C.
void gather_sum_row(const Window& g, int64_t C, int64_t i, const float* w,
                    const float* y, float* out_row);
void gather_sum_row(const Window& g, int64_t C, int64_t i, const double* w,
                    const double* y, double* out_row);

// out_row[q, :] = Σ over queries (i, j) that see key (p, q) as neighbour
// (ki, kj) of w[i, j, ki·Kw + kj] · y[i, j, :]; out_row is W × C.
void scatter_sum_row(const Window& g, int64_t C, int64_t p, const float* w,
                     const float* y, float* out_row);
void scatter_sum_row(const Window& g, int64_t C, int64_t p, const double* w,
                     const double* y, double* out_row);

// fn(slice, row) for every row of `slices` H-row slices, in parallel; a row
// costs about `row_work` multiply-adds.
template <typename Fn>
void for_each_row(int64_t slices, int64_t H, int64_t row_work, const Fn& fn) {
  at::parallel_for(0, slices * H, grain_for(row_work),
                   [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) fn(task / H, task % H);
  });
}

}  // namespace cpu
}  // namespace mmmamba
