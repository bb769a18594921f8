// A value bound to or read from SQL: NULL, integer, real or text.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ps::store {

using Value = std::variant<std::monostate, int64_t, double, std::string>;

inline bool IsNull(const Value& v) { return std::holds_alternative<std::monostate>(v); }

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
