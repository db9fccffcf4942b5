// Index math of the depthwise convolution (stride 1, odd K, padding K/2),
// shared by the CPU kernels (cpu_row_kernels.cpp) and the CUDA kernels
// (cuda.cu, also built for the host by the cuda_host backend). No torch
// headers.
//
// Output pixel i (one axis) reads input i + k - K/2 through tap k; the
// input gradient is the same convolution of the output gradient with the
// taps flipped (tap k of dx reads dy at p + k - K/2 with weight K-1-k), so
// the forward kernels compute it with dw_flipped_tap.
#pragma once

#include "../common/math.h"

namespace mmmamba {

// Input index read by tap k of output i.
MM_HD int dw_source(int i, int k, int K) { return i + k - K / 2; }

// The taps [*lo, *hi) of output i that read inside an axis of length n.
MM_HD void dw_tap_range(int i, int n, int K, int* lo, int* hi) {
  const int first = K / 2 - i, last = n - i + K / 2;
  *lo = first > 0 ? first : 0;
  *hi = last < K ? last : K;
}

// The weight of tap (ki, kj) when the K × K taps are flipped (input
// gradient): index into the K² taps of one channel.
MM_HD int dw_flipped_tap(int ki, int kj, int K) {
  return (K - 1 - ki) * K + (K - 1 - kj);
}

}  // namespace mmmamba
