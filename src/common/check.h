#pragma once

#include <cstdio>
#include <cstdlib>

namespace medallion::internal {

/// Prints where and which invariant failed, and why when the check says, then aborts.
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* condition, const char* why = nullptr) {
  if (why != nullptr) {
    std::fprintf(stderr, "%s:%d: invariant failed: %s: %s\n", file, line, condition, why);
  } else {
    std::fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, condition);
  }
  std::abort();
}

}  // namespace medallion::internal

/// Aborts with file, line, the failed condition and the optional reason (a C string) when
/// an invariant is broken. Always on (release builds too): a broken invariant is a bug, never
/// a user error.
#define MEDALLION_CHECK(cond, ...)                                                                   \
  do {                                                                                               \
    if (!(cond)) ::medallion::internal::CheckFailed(__FILE__, __LINE__, #cond __VA_OPT__(, ) __VA_ARGS__); \
  } while (false)

/// Checks `a op b` and prints both values when it fails.
#define MEDALLION_CHECK_OP(a, op, b)                                                   \
  do {                                                                                 \
    auto&& _va = (a);                                                                  \
    auto&& _vb = (b);                                                                  \
    if (!(_va op _vb)) {                                                               \
      std::fprintf(stderr, "%s:%d: invariant failed: %s %s %s (%lld vs %lld)\n",      \
                   __FILE__, __LINE__, #a, #op, #b, static_cast<long long>(_va),       \
                   static_cast<long long>(_vb));                                       \
      std::abort();                                                                    \
    }                                                                                  \
  } while (false)
