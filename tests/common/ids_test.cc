#include "common/ids.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace ps {
namespace {

TEST(Ulid, IsTwentySixCrockfordCharactersAndEncodesTime) {
  std::regex crockford("^[0-9A-HJKMNP-TV-Z]{26}$");
  std::string a = NewUlid(0);
  EXPECT_TRUE(std::regex_match(a, crockford)) << a;
  EXPECT_EQ(a.substr(0, 10), "0000000000");
  EXPECT_EQ(NewUlid(1).substr(0, 10), "0000000001");
  EXPECT_LT(NewUlid(1000), NewUlid(2000));
}

TEST(Ulid, RandomPartDiffers) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(NewUlid(42));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(MonotonicUlid, StrictlyIncreasesWithinOneMillisecond) {
  MonotonicUlid gen;
  std::string prev = gen.Next();
  for (int i = 0; i < 5000; ++i) {
    std::string next = gen.Next();
    ASSERT_LT(prev, next);
    prev = next;
  }
}

TEST(IsoTime, RendersMillisecondsAndZ) {
  EXPECT_EQ(IsoTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(IsoTime(1767225600123), "2026-01-01T00:00:00.123Z");
  EXPECT_EQ(NowIso().size(), 24u);
}

}  // namespace
}  // namespace ps
