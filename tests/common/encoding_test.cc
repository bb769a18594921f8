#include "common/encoding.h"

#include <gtest/gtest.h>

namespace ps {
namespace {

TEST(Base64, EncodesWithPaddingAndRoundTripsEveryLength) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  std::string all;
  for (int i = 0; i < 256; ++i) all += char(i);
  for (size_t n = 0; n <= all.size(); n += 7) {
    auto d = Base64Decode(Base64Encode(all.substr(0, n)));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, all.substr(0, n));
  }
}

TEST(Base64, StrictDecoderRefusesBadInputLenientAcceptsUnpadded) {
  EXPECT_FALSE(Base64Decode("Zm9").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v!").has_value());
  EXPECT_FALSE(Base64Decode("Z===").has_value());
  EXPECT_EQ(Base64DecodeLenient("Zm8").value(), "fo");
  EXPECT_EQ(Base64DecodeLenient("Zm 9v\n").value(), "foo");
}

TEST(Base64Url, HasNoPaddingAndUsesUrlAlphabet) {
  std::string bytes = "\xfb\xff\xfe";
  EXPECT_EQ(Base64UrlEncode(bytes), "-__-");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlDecode("-__-").value(), bytes);
  EXPECT_FALSE(Base64UrlDecode("a+b/").has_value());
}

TEST(Hex, IsLowercase) { EXPECT_EQ(HexEncode("\x01\xab"), "01ab"); }

TEST(Utf8, InvalidUtf8AtFindsTheFirstBadByte) {
  EXPECT_EQ(InvalidUtf8At("plain \xC3\xA9t\xC3\xA9"), std::string_view::npos);
  EXPECT_EQ(InvalidUtf8At("ab\xFF"), 2u);
  EXPECT_EQ(InvalidUtf8At("\xC0\xAF"), 0u);          // overlong '/'
  EXPECT_EQ(InvalidUtf8At("x\xED\xA0\x80"), 1u);     // a surrogate
  EXPECT_EQ(InvalidUtf8At("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(InvalidUtf8At("\xE2\x82"), 0u);          // cut short
}

TEST(Utf8, ValidUtf8ReplacesEachBadByteWithTheReplacementCharacter) {
  EXPECT_EQ(ValidUtf8("ok"), "ok");
  EXPECT_EQ(ValidUtf8("a\xFF\xFE"
                      "b"),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(ValidUtf8("\xE2\x82\xAC\xE2\x82"), "\xE2\x82\xAC\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace ps
