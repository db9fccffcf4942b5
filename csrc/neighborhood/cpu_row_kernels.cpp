// The row primitives of cpu_rows.h, compiled once per x86-64
// instruction-set level (AVX-512, AVX2+FMA, baseline) and called in the
// variant common/isa.h's cpu_isa() names, so one build runs on any x86-64
// machine with its widest vectors and each variant can be tested.
#include "cpu_rows.h"

#include "../common/isa.h"

namespace mmmamba {
namespace cpu {
namespace {

// Each body takes kC > 0 to fix the channel count at compile time: its
// channel loops then vectorise without a loop tail (24 channels: 16 + 8
// lanes on AVX-512).

// Key rows whose windows one pass accumulates at once: independent
// accumulators, so the fused multiply-adds do not wait on each other.
constexpr int kRowsPerPass = 4;

template <typename T, int kC>
MM_ALWAYS_INLINE void pair_dot_row_body(const Window& g, int64_t channels,
                                        int64_t i, const T* x, const T* keys,
                                        const T* rpb, T* out) {
  const int64_t C = kC > 0 ? kC : channels;
  const int64_t KK = g.KK(), RW = 2 * g.Kw - 1, Wg = grouped_width(g);
  const int* key_rows = g.rows.nbr.data() + i * g.Kh;
  const int* bias_rows = g.rows.bias.data() + i * g.Kh;
  for (int64_t j = 0; j < g.W; ++j) {
    const T* xq = x + (i * g.W + j) * C;
    const int* bias_cols = g.cols.bias.data() + j * g.Kw;
    T* o = out + (i * g.W + j) * KK;
    for (int ki0 = 0; ki0 < g.Kh; ki0 += kRowsPerPass) {
      const int rows = std::min(kRowsPerPass, g.Kh - ki0);
      for (int k0 = 0; k0 < g.Kw; k0 += kKeyPad) {
        const T* window[kRowsPerPass];
        for (int r = 0; r < kRowsPerPass; ++r)  // a short pass repeats a row
          window[r] = keys + g.cols.first[j] + k0 +
                      int64_t(key_rows[ki0 + std::min(r, rows - 1)]) * C * Wg;
        T acc[kRowsPerPass][kKeyPad] = {};  // lanes past a window: padding
        for (int64_t c = 0; c < C; ++c) {
          const T xc = xq[c];
          for (int r = 0; r < kRowsPerPass; ++r) {
#pragma omp simd
            for (int l = 0; l < kKeyPad; ++l)
              acc[r][l] += xc * window[r][c * Wg + l];
          }
        }
        const int n = std::min(kKeyPad, g.Kw - k0);
        for (int r = 0; r < rows; ++r) {
          T* ok = o + (ki0 + r) * g.Kw + k0;
          if (!rpb) {
#pragma omp simd
            for (int l = 0; l < n; ++l) ok[l] = acc[r][l];
            continue;
          }
          // a window's bias indices are consecutive (na_rpb_index is
          // linear in the slot)
          const T* bias = rpb + int64_t(bias_rows[ki0 + r]) * RW +
                          bias_cols[k0];
#pragma omp simd
          for (int l = 0; l < n; ++l) ok[l] = acc[r][l] + bias[l];
        }
      }
    }
  }
}

template <typename T, int kC>
MM_ALWAYS_INLINE void gather_sum_row_body(const Window& g, int64_t channels,
                                          int64_t i, const T* w, const T* y,
                                          T* out_row) {
  const int64_t C = kC > 0 ? kC : channels;
  const int64_t KK = g.KK();
  for (int64_t j = 0; j < g.W; ++j) {
    const T* wq = w + (i * g.W + j) * KK;
    T* o = out_row + j * C;
    for (int64_t c = 0; c < C; ++c) o[c] = 0;
    for (int ki = 0; ki < g.Kh; ++ki) {
      const int64_t ni = g.rows.nbr[i * g.Kh + ki];
      for (int kj = 0; kj < g.Kw; ++kj) {
        const T a = wq[ki * g.Kw + kj];
        const T* yk = y + (ni * g.W + g.cols.nbr[j * g.Kw + kj]) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) o[c] += a * yk[c];
      }
    }
  }
}

template <typename T, int kC>
MM_ALWAYS_INLINE void scatter_sum_row_body(const Window& g, int64_t channels,
                                           int64_t p, const T* w, const T* y,
                                           T* out_row) {
  const int64_t C = kC > 0 ? kC : channels;
  const int64_t KK = g.KK();
  for (int64_t q = 0; q < g.W; ++q) {
    T* o = out_row + q * C;
    for (int64_t c = 0; c < C; ++c) o[c] = 0;
    for (int r = g.rows.off[p]; r < g.rows.off[p + 1]; ++r) {
      const int64_t i = g.rows.inv_q[r], ki = g.rows.inv_k[r];
      for (int s = g.cols.off[q]; s < g.cols.off[q + 1]; ++s) {
        const int64_t j = g.cols.inv_q[s], kj = g.cols.inv_k[s];
        const T a = w[(i * g.W + j) * KK + ki * g.Kw + kj];
        const T* yq = y + (i * g.W + j) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) o[c] += a * yq[c];
      }
    }
  }
}

// body<T, C>(args) for the head dims of the released variants (24, 28, 32)
// and 16 / 64; body<T, 0> (channels at run time) for any other C.
#define MM_FIXED_CHANNELS(body, T, C, ...)               \
  switch (C) {                                           \
    case 16: return body<T, 16>(__VA_ARGS__);            \
    case 24: return body<T, 24>(__VA_ARGS__);            \
    case 28: return body<T, 28>(__VA_ARGS__);            \
    case 32: return body<T, 32>(__VA_ARGS__);            \
    case 64: return body<T, 64>(__VA_ARGS__);            \
    default: return body<T, 0>(__VA_ARGS__);             \
  }

// pair_dot_row_<isa>, gather_sum_row_<isa>, scatter_sum_row_<isa>.
#define MM_ROW_VARIANTS_OF(target, isa, T)                                    \
  target void pair_dot_row_##isa(const Window& g, int64_t C, int64_t i,     \
                                 const T* x, const T* keys, const T* rpb,   \
                                 T* out) {                                  \
    MM_FIXED_CHANNELS(pair_dot_row_body, T, C, g, C, i, x, keys, rpb, out)  \
  }                                                                         \
  target void gather_sum_row_##isa(const Window& g, int64_t C, int64_t i,   \
                                   const T* w, const T* y, T* out_row) {    \
    MM_FIXED_CHANNELS(gather_sum_row_body, T, C, g, C, i, w, y, out_row)    \
  }                                                                         \
  target void scatter_sum_row_##isa(const Window& g, int64_t C, int64_t p,  \
                                    const T* w, const T* y, T* out_row) {   \
    MM_FIXED_CHANNELS(scatter_sum_row_body, T, C, g, C, p, w, y, out_row)   \
  }
#define MM_ROW_VARIANTS(target, isa) \
  MM_ROW_VARIANTS_OF(target, isa, float) MM_ROW_VARIANTS_OF(target, isa, double)
MM_FOR_EACH_ISA(MM_ROW_VARIANTS)
#undef MM_ROW_VARIANTS
#undef MM_ROW_VARIANTS_OF
#undef MM_FIXED_CHANNELS

}  // namespace

#define MM_ROW_PRIMITIVES(T)                                                \
  void pair_dot_row(const Window& g, int64_t C, int64_t i, const T* x,      \
                    const T* keys, const T* rpb, T* out) {                  \
    MM_ISA_CALL(pair_dot_row, g, C, i, x, keys, rpb, out)                   \
  }                                                                         \
  void gather_sum_row(const Window& g, int64_t C, int64_t i, const T* w,    \
                      const T* y, T* out_row) {                             \
    MM_ISA_CALL(gather_sum_row, g, C, i, w, y, out_row)                     \
  }                                                                         \
  void scatter_sum_row(const Window& g, int64_t C, int64_t p, const T* w,   \
                       const T* y, T* out_row) {                            \
    MM_ISA_CALL(scatter_sum_row, g, C, p, w, y, out_row)                    \
  }
MM_ROW_PRIMITIVES(float)
MM_ROW_PRIMITIVES(double)
#undef MM_ROW_PRIMITIVES

}  // namespace cpu
}  // namespace mmmamba
