// Runtime queries of the CUDA build, for the bindings (csrc/bindings.cpp),
// which see no CUDA headers: error names and whether this build holds a
// kernel image the current GPU can run.
#include "dtype.cuh"
#include "launchers.h"

namespace {
// Built with the same -gencode flags as every kernel: if it has no image
// for the device, neither has any other.
__global__ void probe_kernel() {}
}  // namespace

extern "C" const char* mm_cuda_error_string(int code) {
  return cudaGetErrorString((cudaError_t)code);
}

extern "C" int mm_cuda_kernel_image_status(void) {
#ifdef MMMAMBA_CUDA_HOST
  return 0;  // the emulation runs every kernel
#else
  cudaFuncAttributes attributes;
  return (int)cudaFuncGetAttributes(&attributes, probe_kernel);
#endif
}
