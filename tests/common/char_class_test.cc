#include "common/char_class.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace ps {
namespace {

// The regexes these checks replace, as the oracle on short names (where std::regex is safe).
TEST(CharClass, IsWordSaysWhatTheRegexItReplacesSays) {
  const std::regex lower_ident("^[a-z][a-z0-9_]*$");
  const std::regex any_ident("^[a-zA-Z][a-zA-Z0-9_-]*$");
  for (const char* s : {"", "a", "A", "a1", "1a", "_a", "a_b", "a-b", "Ab-c_9", "a b", "a.b", "é",
                        "posts", "Posts", "p0sts_", "-x", "x-", "a\n"}) {
    EXPECT_EQ(IsWord(s, kLower, kLower | kDigit | kUnderscore), std::regex_match(s, lower_ident))
        << s;
    EXPECT_EQ(IsWord(s, kLower | kUpper, kLower | kUpper | kDigit | kUnderscore | kHyphen),
              std::regex_match(s, any_ident))
        << s;
  }
}

TEST(CharClass, AllInChecksEveryCharacterAndTheLength) {
  EXPECT_TRUE(AllIn("png", kLower | kDigit, 1, 10));
  EXPECT_FALSE(AllIn("", kLower, 1, 10));
  EXPECT_FALSE(AllIn("abcdefghijk", kLower, 1, 10));
  EXPECT_FALSE(AllIn("pn.g", kLower, 1, 10));
  EXPECT_TRUE(AllIn("", kLower, 0, 0));
}

TEST(CharClass, AMegabyteNameIsCheckedInConstantStack) {
  std::string name(1 << 20, 'a');
  EXPECT_TRUE(IsWord(name, kLower, kLower));
  name.back() = '!';
  EXPECT_FALSE(IsWord(name, kLower, kLower));
}

}  // namespace
}  // namespace ps
