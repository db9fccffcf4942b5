// Function multi-versioning of the CPU row kernels: MM_ISA_CLONES compiles
// a function once per x86-64 instruction-set level (AVX-512, AVX2+FMA,
// baseline) with GCC / Clang target_clones; the loader's ifunc resolver
// picks the best clone the CPU supports once, so one build runs on any
// x86-64 machine and uses its widest vectors. Elsewhere (other CPUs or
// compilers) it is empty. MM_ALWAYS_INLINE bodies are inlined into each
// clone, so each is compiled for the clone's ISA.
#pragma once

#if defined(__x86_64__) && defined(__ELF__) && \
    ((defined(__GNUC__) && __GNUC__ >= 11) || \
     (defined(__clang__) && __clang_major__ >= 14))
#define MM_ISA_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MM_ISA_CLONES
#endif
#define MM_ALWAYS_INLINE __attribute__((always_inline)) inline
