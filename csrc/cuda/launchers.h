// What every launcher of the mmmamba CUDA kernels shares (each op's own
// launchers are declared in csrc/<op>/cuda_launchers.h): plain C, no torch
// and no CUDA headers, so the extension's C++ (built against the CPU torch) can
// call them with raw pointers and a stream handle passed from Python.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st* mm_stream_t;  // == cudaStream_t

// dtype of the T-typed tensors: fp32 / fp16 / bf16 / fp64. The tensors
// called "acc" below are in the accumulation type: fp32, fp64 when T is.
enum MMDtype { MM_FLOAT32 = 0, MM_FLOAT16 = 1, MM_BFLOAT16 = 2, MM_FLOAT64 = 3 };

// Every launcher returns 0, a cudaError of its own launch (> 0) or minus a
// CUDA error that was already pending before it (< 0).

// The name of a cudaError code, and whether this build has a kernel image
// for the current device (0, else the cudaError of the query, e.g.
// cudaErrorNoKernelImageForDevice).
const char* mm_cuda_error_string(int code);
int mm_cuda_kernel_image_status(void);

#ifdef __cplusplus
}
#endif
