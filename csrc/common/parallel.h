// Work splitting of the CPU kernels over at::parallel_for.
#pragma once

#include <algorithm>
#include <cstdint>

namespace mmmamba {
namespace cpu {

// Multiply-adds a thread should get at least: waking threads for less
// costs more than it saves (small stage-4 maps, short scans).
constexpr int64_t kMinWorkPerThread = int64_t(1) << 16;

// at::parallel_for grain for tasks of `work` multiply-adds each.
inline int64_t grain_for(int64_t work) {
  return std::max<int64_t>(1, kMinWorkPerThread / std::max<int64_t>(work, 1));
}

}  // namespace cpu
}  // namespace mmmamba
