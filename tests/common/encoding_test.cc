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

}  // namespace
}  // namespace ps
