// What the fuzz targets share: FUZZ_CHECK, an invariant that aborts (libFuzzer then keeps the
// input as a crash) with the condition and its place, in every build type (no NDEBUG).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace rtjobs::fuzz {

[[noreturn]] inline void check_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "invariant broken: %s (%s:%d)\n", condition, file, line);
  std::abort();
}

}  // namespace rtjobs::fuzz

#define FUZZ_CHECK(condition) \
  ((condition) ? void(0) : ::rtjobs::fuzz::check_failed(#condition, __FILE__, __LINE__))
