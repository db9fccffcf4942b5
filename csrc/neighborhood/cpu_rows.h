// Row primitives of the CPU neighborhood-attention kernels (NATTEN <= 0.17
// semantics), shared by neighborhood/cpu.cpp (the four ops) and
// a2ssm_aggregate/cpu.cpp (the fused A2SSM aggregation); the bodies of the
// three primitives are in neighborhood/cpu_row_kernels.cpp.
//
// Each primitive computes one query row i (or key row p) of one
// (batch, head) slice; slices are contiguous H × W × C (C = dim or Kh·Kw):
//   pair_dot_row     out[i, j, k] = x[i, j] · y[nbr(i, j, k)] (+ rpb)
//   gather_sum_row   out[i, j, :] = Σ_k w[i, j, k] · y[nbr(i, j, k), :]
//   scatter_sum_row  out[p, q, :] = Σ_{(i,j,k): nbr(i,j,k)=(p,q)} w[i,j,k]·y[i,j,:]
// scatter_sum_row walks per-axis inverse tables (which queries see key p,
// and as which neighbour), so each output row is owned by one task and no
// atomics are needed. gather_sum_row / scatter_sum_row run their inner
// loops over the contiguous channel axis; pair_dot_row reads y regrouped
// (grouped_keys below) and runs its inner loop over a query's window.
// Window arithmetic comes from the shared host/device header.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../common/math.h"
#include "../common/parallel.h"

namespace mmmamba {
namespace cpu {

struct AxisTable {
  // forward: for query i, neighbour k -> position / rpb index
  std::vector<int> nbr, bias;  // n * K
  // inverse: for key p, entries [off[p], off[p+1]) of (query, k)
  std::vector<int> off, inv_q, inv_k;
  // dilation-group order: key p at grouped[p] (the groups p mod d one after
  // another), query i's window at grouped columns [first[i], first[i] + K)
  std::vector<int> grouped, first;  // n
};

inline AxisTable make_axis(int n, int K, int d) {
  AxisTable t;
  t.nbr.resize(n * K);
  t.bias.resize(n * K);
  std::vector<int> group_start(d + 1, 0);
  for (int r = 0; r < d; ++r)
    group_start[r + 1] = group_start[r] + (n - r + d - 1) / d;
  t.grouped.resize(n);
  t.first.resize(n);
  std::vector<int> count(n, 0);
  for (int i = 0; i < n; ++i) {
    const int s = na_window_start(i, n, K, d);
    t.grouped[i] = group_start[i % d] + i / d;
    t.first[i] = group_start[i % d] + s;
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

// The keys of pair_dot_row, regrouped once per call: for every slice and
// row, channel-major (C × Wg), the columns in dilation-group order, then
// kKeyPad zero columns. A query's Kw neighbours in a key row are then Kw
// consecutive columns from first[j] -- for border (clamped) windows too --
// so the dot products of a whole window accumulate in one vector of lanes
// (C fused multiply-adds) instead of Kw horizontal reductions.
constexpr int kKeyPad = 16;  // lanes of one accumulator (AVX-512 floats)

inline int64_t grouped_width(const Window& g) { return g.W + kKeyPad; }

// Element strides of a map of slices × rows × cols × channels; rows and
// columns of the window's (padded) map past rows / cols are zero.
struct MapLayout {
  int64_t slice, row, col, channel, rows, cols;
};

// slices × H × C × Wg grouped keys of src (a map laid out as `in`).
template <typename T>
at::Tensor grouped_keys(const Window& g, const at::Tensor& src,
                        int64_t slices, int64_t C, const MapLayout& in) {
  const int64_t Wg = grouped_width(g);
  at::Tensor out = at::empty({slices, g.H, C, Wg}, src.options());
  const T* sp = src.data_ptr<T>();
  T* op = out.data_ptr<T>();
  at::parallel_for(0, slices * g.H, grain_for(C * Wg),
                   [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / g.H, r = task % g.H;
      T* dst = op + task * C * Wg;
      std::fill(dst, dst + C * Wg, T(0));
      if (r >= in.rows) continue;
      const T* row = sp + b * in.slice + r * in.row;
      for (int64_t p = 0; p < in.cols; ++p) {
        T* col = dst + g.cols.grouped[p];
        for (int64_t c = 0; c < C; ++c)
          col[c * Wg] = row[p * in.col + c * in.channel];
      }
    }
  });
  return out;
}

// The three primitives are built per instruction set (cpu_row_kernels.cpp).

// out[i, j, k] = x[i, j, :] · y[nbr(i, j, k), :] (+ rpb[bias index]), with
// y given as the slice's grouped keys (H × C × Wg).
void pair_dot_row(const Window& g, int64_t C, int64_t i, const float* x,
                  const float* keys, const float* rpb, float* out);
void pair_dot_row(const Window& g, int64_t C, int64_t i, const double* x,
                  const double* keys, const double* rpb, double* out);

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
