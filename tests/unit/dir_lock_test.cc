// DirLock: one holder at a time, released when the holder goes away.
#include "common/dir_lock.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace medallion {
namespace {

TEST(DirLockTest, SecondHolderIsRefusedUntilTheFirstLetsGo) {
  const std::string dir = "/tmp/dir_lock_test." + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string file = dir + "/.lock";
  {
    auto first = DirLock::Acquire(file, "data directory", dir);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    // flock() locks an open file description, so a second open in this process conflicts
    // just as another process would.
    auto second = DirLock::Acquire(file, "data directory", dir);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().message(),
              "data directory '" + dir + "' is in use by another medallion process (lock " + file + " held)");
  }
  EXPECT_TRUE(DirLock::Acquire(file, "data directory", dir).ok());
  EXPECT_FALSE(DirLock::Acquire(dir + "/missing/.lock", "checkpoint", dir).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace medallion
