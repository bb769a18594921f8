#include "common/json.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/crypto.h"

namespace ps {
namespace {

// Found by fuzz/api_fuzzer.cc and bridge_fuzzer.cc: an error quoting a request's method or path
// sent bytes that are not UTF-8, which made the whole reply invalid JSON.
TEST(Stringify, ReplacesBytesThatAreNotUtf8SoTheOutputIsValidJson) {
  json::object o;
  o["error"] = std::string("no such endpoint: GE\xac\xfb /v1/\xce");
  o[std::string("key\xff")] = "ok \xE2\x82\xAC";  // the euro sign is valid and stays
  std::string text = Stringify(o);
  auto back = ParseJson(text);
  ASSERT_TRUE(back.ok()) << text;
  EXPECT_EQ(back->at("error").get_string(),
            "no such endpoint: GE\xEF\xBF\xBD\xEF\xBF\xBD /v1/\xEF\xBF\xBD");
  EXPECT_EQ(back->at("key\xEF\xBF\xBD").get_string(), "ok \xE2\x82\xAC");
}

TEST(Stringify, RendersNumbersAsJavaScriptDoes) {
  EXPECT_EQ(Stringify(json::value(1.0)), "1");
  EXPECT_EQ(Stringify(json::value(-3.0)), "-3");
  EXPECT_EQ(Stringify(json::value(0.1)), "0.1");
  EXPECT_EQ(Stringify(json::value(1.5)), "1.5");
  EXPECT_EQ(Stringify(json::value(std::nan(""))), "null");
  EXPECT_EQ(Stringify(json::value(INFINITY)), "null");
  EXPECT_EQ(Stringify(json::value(int64_t(-7))), "-7");
}

TEST(Stringify, KeepsKeyOrderAndEscapes) {
  auto v = ParseJson(R"({"b":1,"a":"x\"y","c":[true,null]})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(Stringify(*v), R"({"b":1,"a":"x\"y","c":[true,null]})");
}

TEST(ParseJson, ReportsErrors) {
  auto v = ParseJson("{");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().message().rfind("Invalid JSON: ", 0), 0u);
}

TEST(Crypto, ConstantTimeEqualsComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_EQ(RandomBytes(32).size(), 32u);
  EXPECT_NE(RandomBytes(16), RandomBytes(16));
}

TEST(Crypto, HmacSha256MatchesRfc4231Case2) {
  std::string mac = HmacSha256("Jefe", "what do ya want for nothing?");
  static const unsigned char kExpected[] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
                                            0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
                                            0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
                                            0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
  EXPECT_EQ(mac, std::string(reinterpret_cast<const char*>(kExpected), 32));
}

}  // namespace
}  // namespace ps
