// JSON in plugin-sandbox is Boost.JSON. These helpers give it JavaScript's semantics where the
// wire needs them: Stringify renders integral doubles as integers and non-finite numbers as null
// (as JSON.stringify does), and Parse reports errors as Status.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ps {

namespace json = boost::json;

Result<json::value> ParseJson(std::string_view text);
std::string Stringify(const json::value& v);

// JS `typeof v === "number"`.
inline bool IsNumber(const json::value& v) {
  return v.is_int64() || v.is_uint64() || v.is_double();
}
double ToDouble(const json::value& v);

// The JSON text of a string, with quotes (for messages such as `Invalid locale code: "<x>"`).
std::string Quote(std::string_view s);

}  // namespace ps
