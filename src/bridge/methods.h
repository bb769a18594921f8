// Internal to bridge/: the method table. Each bridge/*.cc file registers its methods here.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>

#include "bridge/bridge.h"
#include "capabilities/capabilities.h"

namespace ps::bridge {

struct CallContext {
  Bridge& bridge;
  const Grant& grant;
  const caps::CapabilitySet& caps;
  const json::object& params;
  store::Database& db;
  const BridgeOptions& options;
  Invocation* invocation;  // may be null
  // Indexed fields of a storage collection for this plugin's (id, version).
  std::function<std::vector<std::string>(const std::string&)> indexed_fields;
};

using Method = std::function<Result<CallResult>(CallContext&)>;
using MethodTable = std::unordered_map<std::string, Method>;

void AddKvStorageMethods(MethodTable& t);
void AddContentMethods(MethodTable& t);
void AddMediaMethods(MethodTable& t);
void AddDirectoryMethods(MethodTable& t);  // taxonomies, users, email, log, http

inline Result<CallResult> Value(json::value v) { return CallResult{std::move(v)}; }
inline Result<CallResult> Void() { return CallResult{std::nullopt}; }

// A SQL value from a JSON value, as the bridge stores content columns: null -> NULL,
// boolean -> 1/0, number as is, string as is, object/array -> JSON text.
store::Value ToSql(const json::value& v);
// A JSON value from a SQL value (NULL -> null; integral reals stay numbers).
json::value FromSql(const store::Value& v);
const std::string* SqlText(const store::Value& v);

// `now` used by every write (ISO-8601, ms, Z).
std::string Now();

// The storage/media LIKE prefix pattern with \ % _ escaped, plus a trailing %.
std::string LikePrefix(std::string_view prefix);

}  // namespace ps::bridge
