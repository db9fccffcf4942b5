// The row kernels of the CPU depthwise convolution (cpu_row_kernels.cpp,
// compiled once per x86-64 instruction-set level), over one channels-last
// map: every pointer is to H × W × C (or B × H × W × C) contiguous T, and
// each kernel vectorises over the channels, which are contiguous.
#pragma once

#include <cstdint>

namespace mmmamba {
namespace cpu {

// Largest kernel size of the CPU kernels (a row's K source-row pointers
// live on the stack).
constexpr int kMaxDwKernel = 63;

// The sizes of one call: map H × W with C channels, odd kernel K <= 63.
struct DwMap {
  int64_t H, W, C;
  int K;
};

// Output row i of one image (x: H × W × C):
//   out_row[j, c] = bias[c] + (residual ? x[i, j, c] : 0)
//                   + Σ_{ki, kj} taps[ki·K + kj, c] · x[i+ki-K/2, j+kj-K/2, c]
// with x zero outside the map. taps: K² × C; bias may be null.
#define MM_DECLARE_DW_ROWS(T)                                               \
  void dw_forward_row(const DwMap& m, const T* x, const T* taps,            \
                      const T* bias, bool residual, int64_t i, T* out_row); \
  void dw_wgrad_rows(const DwMap& m, const T* x, const T* grad,             \
                     int64_t begin, int64_t end, T* dtaps, T* dbias);
// dw_wgrad_rows: rows [begin, end) of the B·H rows of x and grad
// (B × H × W × C) add their terms to the partial sums
//   dtaps[ki·K + kj, c] += Σ_{row, j} grad[row, j, c] · x[row+ki-K/2, j+kj-K/2, c]
//   dbias[c]            += Σ_{row, j} grad[row, j, c]
// (K² × C and C, one thread's buffers: no atomics).
MM_DECLARE_DW_ROWS(float)
MM_DECLARE_DW_ROWS(double)
#undef MM_DECLARE_DW_ROWS

}  // namespace cpu
}  // namespace mmmamba
