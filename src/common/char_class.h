// Whole-string checks of names that come from outside (plugin ids, collection and field names,
// locales, file extensions) against a character class, in one pass and constant stack.
//
// Why not std::regex: libstdc++'s matcher recurses once per character of the subject, so a name
// a few thousand characters long overflowed the stack and took the host down (found by
// fuzz/bridge_fuzzer.cc with a long collection name). These functions say the same as the
// regexes they replace, which each call site quotes.
// Thread-safe: pure functions. May call: nothing. Called by: store/, bridge/.
#pragma once

#include <string_view>

namespace ps {

enum CharClass : unsigned {
  kLower = 1,       // a-z
  kUpper = 2,       // A-Z
  kDigit = 4,       // 0-9
  kUnderscore = 8,  // _
  kHyphen = 16,     // -
};

inline bool InClass(char c, unsigned cls) {
  return ((cls & kLower) && c >= 'a' && c <= 'z') || ((cls & kUpper) && c >= 'A' && c <= 'Z') ||
         ((cls & kDigit) && c >= '0' && c <= '9') || ((cls & kUnderscore) && c == '_') ||
         ((cls & kHyphen) && c == '-');
}

// True when `s` is one character of `first` followed by any number of `rest`: ^[first][rest]*$.
inline bool IsWord(std::string_view s, unsigned first, unsigned rest) {
  if (s.empty() || !InClass(s[0], first)) return false;
  for (size_t i = 1; i < s.size(); ++i)
    if (!InClass(s[i], rest)) return false;
  return true;
}

// True when every character of `s` is in `cls` and its length is within [min, max].
inline bool AllIn(std::string_view s, unsigned cls, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s)
    if (!InClass(c, cls)) return false;
  return true;
}

}  // namespace ps
