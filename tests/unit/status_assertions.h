#pragma once

#include <utility>

#include <gtest/gtest.h>

/// GoogleTest assertions for arrow::Status and arrow::Result, with the error's text in the
/// failure message.

/// Asserts that `expr` (a Status) is OK.
#define ASSERT_OK(expr)                      \
  do {                                       \
    auto _st = (expr);                       \
    ASSERT_TRUE(_st.ok()) << _st.ToString(); \
  } while (false)

/// Asserts that `rexpr` (a Result) holds a value and declares `lhs` with it.
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                              \
  auto lhs##_result = (rexpr);                                        \
  ASSERT_TRUE(lhs##_result.ok()) << lhs##_result.status().ToString(); \
  auto lhs = std::move(lhs##_result).ValueUnsafe()
