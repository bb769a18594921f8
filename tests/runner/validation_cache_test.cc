#include "runner/validation_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "runner/limits.h"
#include "test_util.h"

namespace ps::testing {
namespace {

class ValidationCacheTest : public ::testing::Test {
 protected:
  std::string Workerd() {
    auto path = dir_ / "workerd";
    if (!std::filesystem::exists(path)) WriteFile(path, "binary v1");
    return path.string();
  }
  json::object Described() { return ParseJson(R"({"hooks":{},"routes":{"a":{}}})")->get_object(); }
  TempDir dir_;
};

TEST_F(ValidationCacheTest, WhatWasPutIsFoundUnderTheSameModuleAndRuntime) {
  runner::ValidationCache cache((dir_ / "c").string(), Workerd());
  auto key = cache.Key("export default {}", 128);
  EXPECT_FALSE(cache.Get(key).has_value());
  cache.Put(key, Described());
  auto got = cache.Get(key);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(Stringify(*got), Stringify(Described()));
  // A second cache over the same directory and runtime (a host restart) finds it too.
  runner::ValidationCache again((dir_ / "c").string(), Workerd());
  EXPECT_TRUE(again.Get(again.Key("export default {}", 128)).has_value());
  // Private: the directory 0700, the entry 0600.
  struct stat st {};
  ASSERT_EQ(stat((dir_ / "c").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((dir_ / "c" / (key + ".json")).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ValidationCacheTest, AnotherModuleHeapLimitOrWorkerdBinaryIsAMiss) {
  runner::ValidationCache cache((dir_ / "c").string(), Workerd());
  auto key = cache.Key("export default {}", 128);
  cache.Put(key, Described());
  EXPECT_NE(cache.Key("export default { }", 128), key);
  EXPECT_NE(cache.Key("export default {}", 256), key);
  WriteFile(dir_ / "workerd", "binary v2, another size");
  runner::ValidationCache upgraded((dir_ / "c").string(), Workerd());
  EXPECT_NE(upgraded.Key("export default {}", 128), key);
  EXPECT_FALSE(upgraded.Get(upgraded.Key("export default {}", 128)).has_value());
}

TEST_F(ValidationCacheTest, AGarbledOrForeignEntryIsAMiss) {
  runner::ValidationCache cache((dir_ / "c").string(), Workerd());
  auto key = cache.Key("m", 1);
  WriteFile(dir_ / "c" / (key + ".json"), "{\"described\":{\"hooks\":{}}");  // cut short
  EXPECT_FALSE(cache.Get(key).has_value());
  WriteFile(dir_ / "c" / (key + ".json"), R"({"format":"other","described":{}})");
  EXPECT_FALSE(cache.Get(key).has_value());
  WriteFile(dir_ / "c" / (key + ".json"),
            R"({"format":"plugin-sandbox validation 1","described":[]})");
  EXPECT_FALSE(cache.Get(key).has_value());
}

TEST_F(ValidationCacheTest, ADirectoryThatIsNotPlainlyThisUsersIsNotUsed) {
  // A symbolic link to a directory (where it points could change under the host).
  std::filesystem::create_directories(dir_ / "real");
  std::filesystem::create_directory_symlink(dir_ / "real", dir_ / "link");
  runner::ValidationCache linked((dir_ / "link").string(), Workerd());
  EXPECT_FALSE(linked.enabled());
  auto key = linked.Key("m", 1);
  linked.Put(key, Described());
  EXPECT_FALSE(linked.Get(key).has_value());
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "real"));
  // A directory of another user: only root can make one here (CI runs as root); elsewhere the
  // link above is the case this test pins.
  if (geteuid() == 0) {
    std::filesystem::create_directories(dir_ / "theirs");
    ASSERT_EQ(chown((dir_ / "theirs").c_str(), 65534, 65534), 0);
    runner::ValidationCache theirs((dir_ / "theirs").string(), Workerd());
    EXPECT_FALSE(theirs.enabled());
    theirs.Put(theirs.Key("m", 1), Described());
    EXPECT_TRUE(std::filesystem::is_empty(dir_ / "theirs"));
  }
}

TEST_F(ValidationCacheTest, AnEmptyDirectoryDisablesIt) {
  runner::ValidationCache cache("", Workerd());
  EXPECT_FALSE(cache.enabled());
  auto key = cache.Key("m", 1);
  cache.Put(key, Described());
  EXPECT_FALSE(cache.Get(key).has_value());
}

TEST(ProportionalBytes, IsPositiveForALiveProcessAndAbsentForNone) {
  auto self = runner::ProportionalBytes(getpid());
  ASSERT_TRUE(self.has_value());
  EXPECT_GT(*self, 0);
  EXPECT_LE(*self, runner::ResidentBytes(getpid()).value_or(0) + (1 << 20));
  EXPECT_FALSE(runner::ProportionalBytes(0x3fffffff).has_value());
}

}  // namespace
}  // namespace ps::testing
