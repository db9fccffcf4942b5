// Argument checks shared by the CPU ops (csrc/*/cpu.cpp) and the tensor
// wrappers of the CUDA launchers (csrc/*/cuda_wrappers.cpp): each op's
// contract (csrc/<op>/checks.h) is written once over these, for a
// KernelTarget saying where the kernels run and which dtypes they take.
// The kernels index raw pointers, so every tensor is checked for device,
// contiguity, dtype and shape before a kernel runs.
//
// Host compiler only (torch headers); nvcc never sees it.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace mmmamba {

// Where a backend's kernels run and which element types T they take.
struct KernelTarget {
  const char* device;  // for messages: "CPU", "CUDA", ...
  bool (*on_device)(const at::Tensor&);
  bool half_precision;  // float16 / bfloat16 taken as they are
};

inline bool is_cpu(const at::Tensor& t) { return t.is_cpu(); }

// The C++ CPU kernels: float32 / float64 tensors (the Python layer casts
// float16 / bfloat16 to float32).
constexpr KernelTarget kCpuTarget{"CPU", &is_cpu, false};

// The accumulation dtype of T: float64 for float64, else float32 (T itself
// on the CPU target). rpb, A, delta_bias and the scan's states and their
// gradients are in it.
inline at::ScalarType acc_dtype(const at::Tensor& lead) {
  return lead.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// t is a contiguous tensor on `device` with `dtype` and `sizes`.
inline void expect(const at::Tensor& t, const char* name,
                   at::ScalarType dtype, const at::Device& device,
                   at::IntArrayRef sizes) {
  TORCH_CHECK(t.device() == device, name, " must be on ", device, ", got ",
              t.device());
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == dtype, name, " must be ", dtype, ", got ",
              t.scalar_type());
  TORCH_CHECK(t.sizes() == sizes, name, " must have shape ", sizes, ", got ",
              t.sizes());
}

// The leading tensor of a call: on the target's device, `dim`-D, of a dtype
// the target takes; it fixes the call's device and T.
inline void expect_lead(const KernelTarget& target, const at::Tensor& t,
                        const char* name, int64_t dim) {
  TORCH_CHECK(target.on_device(t), name, " must be a ", target.device,
              " tensor, got ", t.device());
  TORCH_CHECK(t.dim() == dim, name, " must be ", dim, "-D, got ", t.sizes());
  const at::ScalarType dtype = t.scalar_type();
  const bool half = dtype == at::kHalf || dtype == at::kBFloat16;
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble ||
              (half && target.half_precision), name, " must be ",
              target.half_precision ? "float32, float16, bfloat16 or float64"
                                    : "float32 or float64",
              " for the ", target.device, " kernels, got ", dtype,
              " (the Python layer casts)");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

// The window rule's requirements along both axes of an H × W map: odd
// positive kernel sizes, positive dilations, and n >= K · dilation (every
// query has K neighbours in its dilation group). The one C++ copy of this
// check; the rule's Python copy is mmmamba/ops/neighborhood/window.py, its
// Triton copy mmmamba/ops/triton/window.py.
inline void check_window(int64_t H, int64_t W, int64_t Kh, int64_t Kw,
                         int64_t dh, int64_t dw) {
  TORCH_CHECK(Kh > 0 && Kw > 0 && Kh % 2 == 1 && Kw % 2 == 1,
              "kernel sizes must be odd and positive, got (", Kh, ", ", Kw,
              ")");
  TORCH_CHECK(dh > 0 && dw > 0, "dilations must be positive, got (", dh, ", ",
              dw, ")");
  TORCH_CHECK(H >= Kh * dh && W >= Kw * dw, "a ", H, "x", W,
              " map is smaller than kernel * dilation = ", Kh * dh, "x",
              Kw * dw);
}

}  // namespace mmmamba
