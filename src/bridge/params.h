// Parameter validation for bridge methods, with the exact texts of bridge.md §2.4. Each helper
// checks one parameter; methods call them in the spec's order so the first failure wins.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace ps::bridge::params {

Result<std::string> RequiredString(const json::object& p, std::string_view key);
Result<std::optional<std::string>> OptionalString(const json::object& p, std::string_view key);
Result<const json::object*> RequiredObject(const json::object& p, std::string_view key);
// nullptr when absent.
Result<const json::object*> OptionalObject(const json::object& p, std::string_view key);
Result<std::vector<std::string>> StringArray(const json::object& p, std::string_view key);
Result<std::vector<const json::object*>> ObjectArray(const json::object& p, std::string_view key);

struct UpdateItem {
  std::string id;
  const json::object* data;
};
Result<std::vector<UpdateItem>> UpdateItems(const json::object& p, std::string_view key);

struct StorageItem {
  std::string id;
  const json::value* data;  // nullptr when the item has no `data` (NOT NULL fails later)
};
Result<std::vector<StorageItem>> StorageItems(const json::object& p, std::string_view key);

// Ordered (field, "asc"|"desc") pairs; empty when absent.
Result<std::vector<std::pair<std::string, std::string>>> OrderBy(const json::object& p,
                                                                 std::string_view key);

// JavaScript's Number(v) for a JSON value (absent -> NaN).
double JsNumber(const json::value* v);

// content/media/users list limit: Number(limit); 0/NaN/absent -> 50; fractions floored; then
// clamped to [1, 100].
int64_t ListLimit(const json::object& p);

}  // namespace ps::bridge::params
