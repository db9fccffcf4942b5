// The row kernels of cpu_rows.h, compiled once per x86-64 instruction-set
// level (common/isa.h: AVX-512, AVX2+FMA, baseline; cpu_isa() picks the
// variant that runs).
//
// Channels are processed in blocks of one 64-byte vector (16 fp32 / 8 fp64
// lanes: one AVX-512 register) with GCC vector types, so the block's
// registers are explicit:
// - forward: the K² weight vectors of the block stay in registers; kCols
//   output columns are computed at once (independent accumulators, and each
//   loaded input vector serves every output whose window holds it);
// - weight gradient: the K² partial sums of the block stay in registers
//   over every row of the thread's share: one load and one fused
//   multiply-add per tap.
// K = 3, 5 and 7 are compiled with a fixed K (fully unrolled taps); other
// odd K take the same loops with K at run time (weights and sums read from
// memory). Output columns closer than K/2 to an edge take the predicated
// one-column path;  rows outside the map are skipped; channels past
// the last full vector take a scalar loop.
#include <cstring>

#include "../common/isa.h"
#include "cpu_rows.h"
#include "math.h"

// The vector helpers pass 64-byte vectors by value; they are always inlined
// (no call ABI), so GCC's note that the baseline variant would pass them
// differently does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace mmmamba {
namespace cpu {
namespace {

constexpr int kBytes = 64;  // one vector: 16 fp32 / 8 fp64 lanes
constexpr int kCols = 4;    // output columns per forward step

template <typename T>
struct Vec {
  typedef T type __attribute__((vector_size(kBytes)));
  static constexpr int kLanes = kBytes / sizeof(T);
};

template <typename V, typename T>
MM_ALWAYS_INLINE V load(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}

template <typename V, typename T>
MM_ALWAYS_INLINE void store(T* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}

// Pointers to the K source rows of output row i (image base x, channel
// offset c0 applied) and the range of those on the map: the taps of the
// others are skipped (their pointers, the map's first row, are never read).
struct RowRange {
  int lo, hi;
  bool has(int ki) const { return ki >= lo && ki < hi; }
};

template <typename T>
MM_ALWAYS_INLINE RowRange source_rows(const DwMap& m, int K, const T* x,
                                      int64_t i, int64_t c0, const T** rows) {
  for (int ki = 0; ki < K; ++ki) {
    const int64_t src = dw_source((int)i, ki, K);
    rows[ki] = (src >= 0 && src < m.H ? x + src * m.W * m.C : x) + c0;
  }
  RowRange range;
  dw_tap_range((int)i, (int)m.H, K, &range.lo, &range.hi);
  return range;
}

// One forward output (lanes [c, c + n): a vector, or n = 1 in the scalar
// tail) from the taps of column j inside the row: every tap tested, so that
// with a fixed K the loops unroll and the weights stay in registers; one
// partial sum per kernel row (independent chains).
template <typename V, typename T, int kK>
MM_ALWAYS_INLINE V forward_column(const DwMap& m, const T* const* rows,
                                  RowRange on_map, const V* w, const T* taps,
                                  int64_t c, int64_t j, V acc) {
  const int K = kK > 0 ? kK : m.K;
  int lo, hi;
  dw_tap_range((int)j, (int)m.W, K, &lo, &hi);
  V part[kK > 0 ? kK : kMaxDwKernel];
  for (int ki = 0; ki < K; ++ki) {
    part[ki] = V{};
    for (int kj = 0; kj < K; ++kj) {
      if (!on_map.has(ki) || kj < lo || kj >= hi) continue;
      const V wk = kK > 0 ? w[ki * K + kj]
                          : load<V>(taps + (ki * K + kj) * m.C + c);
      part[ki] += wk * load<V>(rows[ki] + dw_source((int)j, kj, K) * m.C);
    }
  }
  for (int ki = 0; ki < K; ++ki) acc += part[ki];
  return acc;
}

// kQ consecutive outputs from column j whose windows lie inside the row:
// independent accumulators, and each loaded input vector serves every
// output whose window holds it.
template <int kQ, typename V, typename T, int kK>
MM_ALWAYS_INLINE void interior_columns(const DwMap& m, const T* const* rows,
                                       RowRange on_map, const V* w,
                                       const T* taps, int64_t c0,
                                       int64_t j, const V* start, T* out) {
  const int K = kK > 0 ? kK : m.K;
  const int64_t C = m.C;
  V acc[kQ];
  for (int q = 0; q < kQ; ++q) acc[q] = start[q];
  for (int ki = 0; ki < K; ++ki) {
    if (!on_map.has(ki)) continue;
    const T* r = rows[ki] + dw_source((int)j, 0, K) * C;
    for (int t = 0; t < kQ + K - 1; ++t) {
      const V xv = load<V>(r + t * C);
      for (int q = 0; q < kQ; ++q) {
        const int kj = t - q;
        if (kj < 0 || kj >= K) continue;
        const V wk = kK > 0 ? w[ki * K + kj]
                            : load<V>(taps + (ki * K + kj) * C + c0);
        acc[q] += wk * xv;
      }
    }
  }
  for (int q = 0; q < kQ; ++q) store(out + (j + q) * C + c0, acc[q]);
}

// One vector of channels [c0, c0 + lanes) of output row i; kK: K at
// compile time (0: m.K at run time). Interior columns go kCols, then 2,
// then 1 at a time; the K/2 columns at each edge take the tested taps.
template <typename T, int kK>
MM_ALWAYS_INLINE void forward_block(const DwMap& m, const T* const* rows,
                                    RowRange on_map, const T* center, const T* taps,
                                    const T* bias, int64_t c0, T* out_row) {
  using V = typename Vec<T>::type;
  const int K = kK > 0 ? kK : m.K, pad = K / 2;
  const int64_t C = m.C, W = m.W;
  V w[kK > 0 ? kK * kK : 1];  // the block's weights (fixed K: registers)
  if (kK > 0)
    for (int kk = 0; kk < K * K; ++kk) w[kk] = load<V>(taps + kk * C + c0);
  const V b = bias ? load<V>(bias + c0) : V{};
  V start[kCols];
  auto set_start = [&](int64_t j, int n) {
    for (int q = 0; q < n; ++q)
      start[q] = center ? b + load<V>(center + (j + q) * C + c0) : b;
  };
  int64_t j = 0;
  for (; j < pad && j < W; ++j) {
    set_start(j, 1);
    store(out_row + j * C + c0, forward_column<V, T, kK>(m, rows, on_map, w, taps, c0,
                                                         j, start[0]));
  }
  for (; j + kCols + pad <= W; j += kCols) {
    set_start(j, kCols);
    interior_columns<kCols, V, T, kK>(m, rows, on_map, w, taps, c0, j, start,
                                         out_row);
  }
  if (j + 2 + pad <= W) {
    set_start(j, 2);
    interior_columns<2, V, T, kK>(m, rows, on_map, w, taps, c0, j, start,
                                         out_row);
    j += 2;
  }
  if (j + 1 + pad <= W) {
    set_start(j, 1);
    interior_columns<1, V, T, kK>(m, rows, on_map, w, taps, c0, j, start,
                                         out_row);
    j += 1;
  }
  for (; j < W; ++j) {
    set_start(j, 1);
    store(out_row + j * C + c0, forward_column<V, T, kK>(m, rows, on_map, w, taps, c0,
                                                         j, start[0]));
  }
}

// The channels past the last full vector, one at a time.
template <typename T>
MM_ALWAYS_INLINE void forward_tail(const DwMap& m, const T* const* rows,
                                   RowRange on_map, const T* center, const T* taps,
                                   const T* bias, int64_t c0, T* out_row) {
  for (int64_t c = c0; c < m.C; ++c) {
    const T* shifted[kMaxDwKernel] = {};
    for (int ki = 0; ki < m.K; ++ki) shifted[ki] = rows[ki] + c;
    for (int64_t j = 0; j < m.W; ++j) {
      T acc = (bias ? bias[c] : T(0)) + (center ? center[j * m.C + c] : T(0));
      out_row[j * m.C + c] = forward_column<T, T, 0>(m, shifted, on_map, nullptr,
                                                     taps, c, j, acc);
    }
  }
}

template <typename T, int kK>
MM_ALWAYS_INLINE void forward_row(const DwMap& m, const T* x, const T* taps,
                                  const T* bias, bool residual, int64_t i,
                                  T* out_row) {
  constexpr int N = Vec<T>::kLanes;
  const int K = kK > 0 ? kK : m.K;
  const T* rows[kMaxDwKernel] = {};
  const RowRange on_map = source_rows(m, K, x, i, 0, rows);
  const T* center = residual ? x + i * m.W * m.C : nullptr;
  int64_t c0 = 0;
  for (; c0 + N <= m.C; c0 += N) {
    const T* block_rows[kMaxDwKernel];
    for (int ki = 0; ki < K; ++ki) block_rows[ki] = rows[ki] + c0;
    forward_block<T, kK>(m, block_rows, on_map, center, taps, bias, c0, out_row);
  }
  if (c0 < m.C) forward_tail(m, rows, on_map, center, taps, bias, c0, out_row);
}

// The weight-gradient terms of channels [c0, c0 + n) over rows
// [begin, end), added to dtaps / dbias; V: one vector (n lanes) or T (the
// scalar tail, n = 1).
template <typename V, typename T, int kK>
MM_ALWAYS_INLINE void wgrad_block(const DwMap& m, const T* x, const T* grad,
                                  int64_t begin, int64_t end,
                                  int64_t c0, T* dtaps, T* dbias) {
  const int K = kK > 0 ? kK : m.K, pad = K / 2;
  const int64_t C = m.C, image = m.H * m.W * C;
  V acc[kK > 0 ? kK * kK : 1];  // fixed K: the block's sums in registers
  for (auto& a : acc) a = V{};
  V bacc = V{};
  for (int64_t row = begin; row < end; ++row) {
    const T* rows[kMaxDwKernel];
    const RowRange on_map =
        source_rows(m, K, x + (row / m.H) * image, row % m.H, c0, rows);
    const T* g = grad + row * m.W * C + c0;
    for (int64_t j = 0; j < m.W; ++j) {
      const V gv = load<V>(g + j * C);
      bacc += gv;
      int lo, hi;
      dw_tap_range((int)j, (int)m.W, K, &lo, &hi);
      const bool inside = lo == 0 && hi == K;
      for (int ki = 0; ki < K; ++ki) {
        const T* r = rows[ki] + (j - pad) * C;  // tap kj at r[kj * C]
        for (int kj = 0; kj < K; ++kj) {
          if (!on_map.has(ki) || (!inside && (kj < lo || kj >= hi))) continue;
          const V term = gv * load<V>(r + kj * C);
          if (kK > 0) {
            acc[ki * K + kj] += term;
          } else {
            T* d = dtaps + (ki * K + kj) * C + c0;
            store(d, load<V>(d) + term);
          }
        }
      }
    }
  }
  if (kK > 0)
    for (int kk = 0; kk < K * K; ++kk) {
      T* d = dtaps + kk * C + c0;
      store(d, load<V>(d) + acc[kk]);
    }
  store(dbias + c0, load<V>(dbias + c0) + bacc);
}

template <typename T, int kK>
MM_ALWAYS_INLINE void wgrad_rows(const DwMap& m, const T* x, const T* grad,
                                 int64_t begin, int64_t end,
                                 T* dtaps, T* dbias) {
  using V = typename Vec<T>::type;
  constexpr int N = Vec<T>::kLanes;
  int64_t c0 = 0;
  for (; c0 + N <= m.C; c0 += N)
    wgrad_block<V, T, kK>(m, x, grad, begin, end, c0, dtaps, dbias);
  for (; c0 < m.C; ++c0)
    wgrad_block<T, T, 0>(m, x, grad, begin, end, c0, dtaps, dbias);
}

// Runs body<T, K> with K fixed for 3, 5 and 7, else generic.
#define MM_FIXED_KERNEL(body, T, K, ...)    \
  switch (K) {                              \
    case 3: return body<T, 3>(__VA_ARGS__); \
    case 5: return body<T, 5>(__VA_ARGS__); \
    case 7: return body<T, 7>(__VA_ARGS__); \
    default: return body<T, 0>(__VA_ARGS__); \
  }

// dw_forward_row_<isa>, dw_wgrad_rows_<isa>.
#define MM_DW_VARIANTS_OF(target, isa, T)                                     \
  target void dw_forward_row_##isa(const DwMap& m, const T* x,              \
                                   const T* taps, const T* bias,            \
                                   bool residual, int64_t i, T* out_row) {  \
    MM_FIXED_KERNEL(forward_row, T, m.K, m, x, taps, bias, residual, i,     \
                    out_row)                                                \
  }                                                                         \
  target void dw_wgrad_rows_##isa(const DwMap& m, const T* x, const T* grad, \
                                  int64_t begin, int64_t end, T* dtaps,     \
                                  T* dbias) {                               \
    MM_FIXED_KERNEL(wgrad_rows, T, m.K, m, x, grad, begin, end, dtaps,      \
                    dbias)                                                  \
  }
#define MM_DW_VARIANTS(target, isa) \
  MM_DW_VARIANTS_OF(target, isa, float) MM_DW_VARIANTS_OF(target, isa, double)
MM_FOR_EACH_ISA(MM_DW_VARIANTS)
#undef MM_DW_VARIANTS
#undef MM_DW_VARIANTS_OF
#undef MM_FIXED_KERNEL

}  // namespace

#define MM_DW_ROWS(T)                                                       \
  void dw_forward_row(const DwMap& m, const T* x, const T* taps,            \
                      const T* bias, bool residual, int64_t i, T* out_row) { \
    MM_ISA_CALL(dw_forward_row, m, x, taps, bias, residual, i, out_row)     \
  }                                                                         \
  void dw_wgrad_rows(const DwMap& m, const T* x, const T* grad,             \
                     int64_t begin, int64_t end, T* dtaps, T* dbias) {      \
    MM_ISA_CALL(dw_wgrad_rows, m, x, grad, begin, end, dtaps, dbias)        \
  }
MM_DW_ROWS(float)
MM_DW_ROWS(double)
#undef MM_DW_ROWS

}  // namespace cpu
}  // namespace mmmamba
