// ThreadSanitizer check of the CUDA kernels under the host emulation: calls
// every launcher (csrc/<op>/cuda_launchers.h) on small fp32 problems (the
// scan over several chunks) with the kernels built with -fsanitize=thread,
// so a missing __syncthreads or a shared-memory race is reported. With
// --racy it runs only a kernel that omits a barrier on purpose, to show
// that the check can fail. Built and run by tools/cuda_host_tsan.sh.
#include <cstdio>
#include <cstring>
#include <vector>

#include "../a2ssm_aggregate/cuda_launchers.h"
#include "../cuda/cuda_compat.cuh"
#include "../neighborhood/cuda_launchers.h"
#include "../selective_scan/cuda_launchers.h"

namespace {

// Each thread writes its slot, then reads its neighbour's with no barrier.
__global__ void racy_kernel(float* out) {
  __shared__ float slots[64];
  slots[threadIdx.x] = (float)threadIdx.x;
  out[threadIdx.x] = slots[(threadIdx.x + 1) % 64];
}

std::vector<float> values(size_t n, unsigned seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    v[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
  }
  return v;
}

int failures = 0;
void expect_ok(int rc, const char* what) {
  std::printf("%s: %s\n", what, rc == 0 ? "ok" : "FAILED");
  if (rc != 0) ++failures;
}

void neighborhood() {
  const MMNAParams p{2, 2, 9, 11, 4, 3, 3, 2, 3};
  const size_t x = 2 * 2 * 9 * 11 * 4, a = 2 * 2 * 9 * 11 * 9;
  auto q = values(x, 1), k = values(x, 2), v = values(x, 3);
  auto rpb = values(2 * 5 * 5, 4), attn = values(a, 5), grad = values(a, 6);
  std::vector<float> out(a), dq(x), dk(x), part(2 * 2 * mm_na2d_rpb_tiles(&p) * 25);
  expect_ok(mm_na2d_qk_forward(&p, MM_FLOAT32, q.data(), k.data(), rpb.data(),
                               out.data(), nullptr), "na2d_qk_forward");
  expect_ok(mm_na2d_qk_backward(&p, MM_FLOAT32, grad.data(), q.data(), k.data(),
                                dq.data(), dk.data(), part.data(), nullptr),
            "na2d_qk_backward");
  std::vector<float> o(x), dattn(a), dv(x);
  expect_ok(mm_na2d_av_forward(&p, MM_FLOAT32, attn.data(), v.data(), o.data(),
                               nullptr), "na2d_av_forward");
  expect_ok(mm_na2d_av_backward(&p, MM_FLOAT32, q.data(), attn.data(), v.data(),
                                dattn.data(), dv.data(), nullptr),
            "na2d_av_backward");
}

void scan() {
  const MMScanParams p{1, 2, 2, 2 * 2048 + 5, 1};
  const size_t bdl = 2 * p.length, states = 2 * bdl;
  const size_t chunks = mm_selective_scan_chunks(p.length);
  auto u = values(bdl, 7), delta = values(bdl, 8), A = values(4, 9);
  auto B = values(2 * p.length, 10), bias = values(2, 11);
  auto dh = values(states, 12);
  std::vector<float> h(states), summary(4 * chunks * 2);
  expect_ok(mm_selective_scan_forward(&p, MM_FLOAT32, u.data(), delta.data(),
                                      A.data(), B.data(), bias.data(), h.data(),
                                      summary.data(), nullptr),
            "selective_scan_forward");
  std::vector<float> du(bdl), ddelta(bdl), dA(4 * chunks), dB(states);
  expect_ok(mm_selective_scan_backward(&p, MM_FLOAT32, dh.data(), h.data(),
                                       u.data(), delta.data(), A.data(),
                                       B.data(), bias.data(), du.data(),
                                       ddelta.data(), dA.data(), dB.data(),
                                       summary.data(), nullptr),
            "selective_scan_backward");
}

void aggregate() {
  const MMAggParams p{1, 4, 3, 7, 9, 7, 9, 3, 2, 3};
  const size_t maps = 1 * 2 * 7 * 9 * 9, st = 4 * 3 * 7 * 9;
  auto local = values(maps, 13), dilated = values(maps, 14);
  auto states = values(st, 15), grad = values(st, 16);
  std::vector<float> out(st), dl(maps), dd(maps), ds(st);
  expect_ok(mm_a2ssm_aggregate_forward(&p, MM_FLOAT32, local.data(),
                                       dilated.data(), states.data(),
                                       out.data(), nullptr),
            "a2ssm_aggregate_forward");
  expect_ok(mm_a2ssm_aggregate_backward(&p, MM_FLOAT32, grad.data(),
                                        local.data(), dilated.data(),
                                        states.data(), dl.data(), dd.data(),
                                        ds.data(), nullptr),
            "a2ssm_aggregate_backward");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--racy") == 0) {
    std::vector<float> out(64);
    expect_ok(mmmamba::launch(racy_kernel, dim3(1), dim3(64), 0, nullptr,
                              out.data()), "racy_kernel");
    return failures;
  }
  neighborhood();
  scan();
  aggregate();
  std::printf("%s\n", failures ? "launch failures" : "all launches ok");
  return failures ? 1 : 0;
}
