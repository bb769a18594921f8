// JSON and row helpers shared by the bridge conformance tests.
#pragma once

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <string_view>

#include "common/json.h"
#include "store/value.h"

namespace ps::testing {

inline json::value J(const std::string& text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? *v : json::value(nullptr);
}

// JSON equality with JavaScript's meaning: numbers compare by value (1 == 1.0), object key
// order is ignored, array order is not.
inline bool Same(const json::value& a, const json::value& b) {
  if (IsNumber(a) && IsNumber(b)) return ToDouble(a) == ToDouble(b);
  if (a.kind() != b.kind()) return false;
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!Same(x[i], y[i])) return false;
    return true;
  }
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& kv : x) {
      const auto* o = y.if_contains(kv.key());
      if (!o || !Same(kv.value(), *o)) return false;
    }
    return true;
  }
  return a == b;
}

#define EXPECT_JSON(v, text) EXPECT_TRUE(Same((v), J(text))) << "actual: " << Stringify(v)

inline std::string Str(const json::value& v) {
  return v.is_string() ? std::string(v.get_string()) : "";
}
inline std::string Str(const json::value& v, std::string_view key) {
  const auto* p = v.is_object() ? v.get_object().if_contains(key) : nullptr;
  return p ? Str(*p) : "";
}

inline std::string Text(const store::Value& v) {
  return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : "<not text>";
}
inline int64_t Int(const store::Value& v) {
  return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : -999999;
}

// 26 characters of Crockford base32, uppercase (bridge.md conventions).
inline bool IsUlid(const std::string& s) {
  static const std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  if (s.size() != 26 || s[0] > '7') return false;
  for (char c : s)
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  return true;
}

// JavaScript toISOString(): YYYY-MM-DDTHH:MM:SS.sssZ, always 24 characters.
inline bool IsIso(const std::string& s) {
  static const std::regex kIso(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$)");
  return s.size() == 24 && std::regex_match(s, kIso);
}

}  // namespace ps::testing
