#pragma once

#include <cstdio>
#include <cstdlib>

/// Aborts with file, line and the failed condition when an invariant is broken.
/// Always on (release builds too): a broken invariant is a bug, never a user error.
#define MEDALLION_CHECK(cond, ...)                                                   \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
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
