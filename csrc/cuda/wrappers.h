// What the tensor wrappers of the CUDA launchers (csrc/<op>/cuda_wrappers.cpp)
// share. The wrappers are bound as the cuda_* functions of an extension
// module (csrc/bindings.cpp):
// - mmmamba._C built with MMMAMBA_WITH_CUDA: the launchers are the nvcc
//   build of csrc/**/*.cu and the tensors are CUDA tensors;
// - mmmamba._C_cuda_host (MMMAMBA_CUDA_HOST, csrc/cuda_host/): the same
//   launchers compiled by the host compiler over the CUDA emulation, and
//   the tensors are CPU tensors (the `cuda_host` test backend).
//
// Compiled by the host compiler against the torch headers of whatever torch
// is installed (the CPU build included): no CUDA torch headers, so the CUDA
// stream arrives from Python as an integer
// (torch.cuda.current_stream().cuda_stream) and outputs are allocated with
// plain at::empty on the inputs' device. Inputs must already be contiguous
// tensors of the launchers' dtypes: T = float32 / float16 / bfloat16 /
// float64, and the accumulation dtype (float32, float64 when T is) for rpb,
// A, delta_bias and the scan's states and grads; the Python layer casts.
// Every wrapper checks its op's contract (csrc/<op>/checks.h: the kernels
// index raw pointers) and raises with the op's name and the cudaError when
// a launch fails. Reductions of the kernels' partial sums (rpb, dA, dB,
// d bias) are torch sums: deterministic, no atomics.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

#include "../common/checks.h"
#include "launchers.h"

namespace mmmamba {
namespace cuda {

#ifdef MMMAMBA_CUDA_HOST
inline bool on_kernel_device(const at::Tensor& t) { return t.is_cpu(); }
constexpr KernelTarget kTarget{"CPU (cuda_host emulation)", &on_kernel_device,
                               true};
#else
inline bool on_kernel_device(const at::Tensor& t) { return t.is_cuda(); }
constexpr KernelTarget kTarget{"CUDA", &on_kernel_device, true};
#endif

// MMDtype of a tensor that passed expect_lead.
inline int mm_dtype(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kHalf: return MM_FLOAT16;
    case at::kBFloat16: return MM_BFLOAT16;
    case at::kDouble: return MM_FLOAT64;
    default: return MM_FLOAT32;
  }
}

inline mm_stream_t as_stream(int64_t stream) {
  return reinterpret_cast<mm_stream_t>(static_cast<intptr_t>(stream));
}

// rc: a launcher's status (see launchers.h).
inline void check_launch(int rc, const char* op) {
  TORCH_CHECK(rc >= 0, "mmmamba ", op, ": a CUDA error was already pending "
              "before its kernels were launched, from earlier work on the "
              "device: cudaError ", -rc, " (", mm_cuda_error_string(-rc),
              "); run with CUDA_LAUNCH_BLOCKING=1 to find the kernel that "
              "raised it");
  TORCH_CHECK(rc == 0, "mmmamba ", op, ": CUDA kernel launch failed: "
              "cudaError ", rc, " (", mm_cuda_error_string(rc), ")");
}

inline const void* optional_ptr(const c10::optional<at::Tensor>& t) {
  return t.has_value() ? t->data_ptr() : nullptr;
}

}  // namespace cuda
}  // namespace mmmamba
