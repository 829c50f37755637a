#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "sink/delta_actions.h"

namespace medallion::sink::test {

/// An add of `name` in the partition event_date=`date`: 100 bytes, a fixed modification time,
/// no stats.
inline DeltaAddFile AddOf(const std::string& date, const std::string& name) {
  DeltaAddFile add;
  add.path = "event_date=" + date + "/" + name;
  add.partition_values = {{"event_date", date}};
  add.size = 100;
  add.modification_time_ms = 1700000000000;
  return add;
}

/// A fixture whose every test has a table directory of its own, `root_`, under /tmp (named
/// after `prefix`, the process and a counter), empty at the start and removed at the end
/// unless MEDALLION_KEEP_TEST_DIRS is set.
class TableDirTest : public ::testing::Test {
 protected:
  explicit TableDirTest(std::string prefix) : prefix_(std::move(prefix)) {}
  void SetUp() override {
    static int counter = 0;
    root_ = "/tmp/" + prefix_ + "." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    std::filesystem::remove_all(root_);
  }
  void TearDown() override {
    if (std::getenv("MEDALLION_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(root_);
  }

  /// The path of the table's JSON log entry for `version`.
  std::string Entry(int64_t version) const {
    char name[32];
    std::snprintf(name, sizeof(name), "%020lld.json", static_cast<long long>(version));
    return root_ + "/_delta_log/" + name;
  }

  std::string root_;

 private:
  std::string prefix_;
};

}  // namespace medallion::sink::test
