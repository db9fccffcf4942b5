// Per-element math shared by the CPU kernels (csrc/<op>/cpu*.cpp) and the
// CUDA kernels (csrc/<op>/cuda.cu, also built for the host by the cuda_host
// backend): the NATTEN (<= 0.17) window rule and its inverses, softplus with
// threshold 20 and its gradient, and the scan recurrence. No torch headers:
// nvcc compiles it for the device and g++ for the host. The CPU kernels
// build their inverse tables from the forward rule. The window rule's
// argument check (n >= K · dilation) is common/checks.h's check_window.
//
// The same window rule exists once in Python
// (mmmamba/ops/neighborhood/window.py, the reference's tables) and once in
// Triton (mmmamba/ops/triton/window.py); the three change together
// (docs/design.md § Neighborhood attention).
//
// Window rule per axis (mirrors mmmamba/ops/neighborhood/window.py): an
// axis of length n with odd kernel K and dilation d splits into d
// interleaved groups (i mod d); query i, at index j = i / d in its group of
// m members, sees the K consecutive members starting at
// s = min(max(j - K/2, 0), m - K). Its k-th neighbour is (i mod d) + (s+k)*d
// and the bias index of that neighbour is K - 1 + (s + k) - j.
#pragma once

#include <math.h>

#ifdef __CUDACC__
#define MM_HD __host__ __device__ __forceinline__
#else
#define MM_HD inline
#endif

namespace mmmamba {

// Group start s of query i's window (in group indices).
MM_HD int na_window_start(int i, int n, int K, int d) {
  const int r = i % d;
  const int j = i / d;
  const int m = (n - r + d - 1) / d;  // members of i's group
  int s = j - K / 2;
  s = s < 0 ? 0 : s;
  return s < m - K ? s : m - K;
}

// Absolute position of the k-th neighbour of query i with window start s.
MM_HD int na_neighbor(int i, int s, int k, int d) { return i % d + (s + k) * d; }

// Index into the 2K-1 relative-position-bias axis for that neighbour.
MM_HD int na_rpb_index(int i, int s, int k, int K, int d) {
  return K - 1 + s + k - i / d;
}

// Inverse of na_rpb_index: the slot k of query i's window (start s) whose
// bias index is r, or -1 if no neighbour of i has that index.
MM_HD int na_slot_of_rpb(int i, int s, int r, int K, int d) {
  const int k = r - (K - 1) - s + i / d;
  return (k >= 0 && k < K) ? k : -1;
}

// Inverse of the window rule along one axis: the slot of key p in query q's
// window (q in p's dilation group), or -1 if q's window does not contain p.
MM_HD int na_slot_of(int q, int p, int n, int K, int d) {
  const int s = na_window_start(q, n, K, d);
  const int k = p / d - s;
  return (k >= 0 && k < K) ? k : -1;
}

MM_HD float mm_exp(float x) { return expf(x); }
MM_HD double mm_exp(double x) { return exp(x); }
MM_HD float mm_log1p(float x) { return log1pf(x); }
MM_HD double mm_log1p(double x) { return log1p(x); }

// torch.nn.functional.softplus(x) with beta 1, threshold 20.
template <typename T>
MM_HD T mm_softplus(T x) {
  return x > T(20) ? x : mm_log1p(mm_exp(x));
}

// d softplus / dx, as torch's softplus_backward computes it.
template <typename T>
MM_HD T mm_softplus_grad(T x) {
  if (x > T(20)) return T(1);
  const T z = mm_exp(x);
  return z / (z + T(1));
}

// One step of the diagonal recurrence h_t = exp(dt·A)·h_{t-1} + dt·B·u as
// the affine map h -> decay·h + input: returns the input dt·B·u, *decay
// receives exp(dt·A).
template <typename T>
MM_HD T mm_scan_element(T dt, T a, T b, T u, T* decay) {
  *decay = mm_exp(dt * a);
  return dt * b * u;
}

// One step of the recurrence: the new state; *decay receives exp(dt·A)
// (needed by backward).
template <typename T>
MM_HD T mm_scan_step(T h_prev, T dt, T a, T b, T u, T* decay) {
  const T x = mm_scan_element(dt, a, b, u, decay);
  return *decay * h_prev + x;
}

// The affine map h -> decay·h + value of one or more consecutive steps.
template <typename T>
struct ScanPair {
  T decay, value;
};

// The map of `first` followed by `second` (associative; identity {1, 0}):
// what parallel scans combine (csrc/selective_scan/cuda.cu).
template <typename T>
MM_HD ScanPair<T> mm_scan_compose(ScanPair<T> first, ScanPair<T> second) {
  return ScanPair<T>{first.decay * second.decay,
                     second.decay * first.value + second.value};
}

// One reverse step of that recurrence. carry is the gradient flowing back
// from h_{t+1} (e_{t+1}·g_{t+1}); returns g_t = dh_t + carry, the total
// gradient of h_t. *dlog receives g_t·e_t·h_{t-1}, the gradient of the
// log-decay Δ_t·A, and *carry_out e_t·g_t for step t-1.
template <typename T>
MM_HD T mm_scan_step_backward(T dh, T carry, T dt, T a, T h_prev, T* dlog,
                              T* carry_out) {
  const T g = dh + carry;
  const T e = mm_exp(dt * a);
  *dlog = g * e * h_prev;
  *carry_out = e * g;
  return g;
}

}  // namespace mmmamba
