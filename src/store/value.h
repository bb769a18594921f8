// A value bound to or read from SQL: NULL, integer, real or text.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ps::store {

using Value = std::variant<std::monostate, int64_t, double, std::string>;

inline bool IsNull(const Value& v) { return std::holds_alternative<std::monostate>(v); }

// Lenient reads of columns whose type a site's schema does not pin down (EmDash allows NULL in
// many of them): text as it is, a number as its decimal text, NULL as "".
inline std::string AsText(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  if (auto* d = std::get_if<double>(&v)) return std::to_string(*d);
  return {};
}
// An integer column read leniently: a real is truncated, text and NULL read as 0.
inline int64_t AsInt(const Value& v) {
  if (auto* n = std::get_if<int64_t>(&v)) return *n;
  if (auto* d = std::get_if<double>(&v)) return int64_t(*d);
  return 0;
}

// One result set: column names, then rows of values in that order.
struct Rows {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;

  bool empty() const { return rows.empty(); }
  size_t size() const { return rows.size(); }
  // Index of a column by name, or -1.
  int Column(const std::string& name) const {
    for (size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == name) return int(i);
    return -1;
  }
};

}  // namespace ps::store
