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

// The id-descending pages of content/list, media/list and users/list (bridge.md §3.3): AppendIdPage
// adds `id < cursor` (when `cursor` is a string) and `ORDER BY id DESC LIMIT limit+1`; IdPage maps
// the first `limit` rows and, when there were more, puts the last item's id under `cursor_key`
// (and `hasMore` when with_has_more).
void AppendIdPage(const json::object& params, int64_t limit, std::string* sql,
                  std::vector<store::Value>* args);
json::object IdPage(const store::Rows& rows, int64_t limit,
                    const std::function<json::value(size_t row)>& map, const char* cursor_key,
                    bool with_has_more);

// The storage/media LIKE prefix pattern with \ % _ escaped, plus a trailing %.
std::string LikePrefix(std::string_view prefix);

}  // namespace ps::bridge
