// The SQL of storage/query and storage/count (bridge.md §5), rendered without running it, so the
// fuzzer (fuzz/storage_query_fuzzer.cc) and the tests can hold it to its contract.
//
// Contract:
// - BuildStorageQuery checks the query parameters (`where`, `orderBy`, `limit`, `cursor`) in the
//   spec's order (§3.2 "Precedence inside query") with its exact texts, and renders one SELECT of
//   `_plugin_storage` rows of (plugin, collection) in the dialect's SQL. The SQL text depends only
//   on the query's shape (its field names, operators and the JSON types of its values); every
//   value a plugin passes, cursor contents included, is bound as a parameter. Field names reach
//   the SQL only after CheckField (`^[a-zA-Z][a-zA-Z0-9_]*$`, at most 128 bytes) and only when
//   the collection indexes them.
// - BuildStorageCount does the same for storage/count's `where`.
// - Failures are InvalidArgument with the text the plugin sees.
// Thread-safe: pure functions. May call: common/, store/database.h (the dialect). Called by:
// bridge/kv_storage.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "store/database.h"

namespace ps::bridge {

struct StorageSql {
  std::string sql;
  std::vector<store::Value> args;
  int64_t limit = 0;         // storage/query: the page size (the SQL asks for one more row)
  size_t order_columns = 0;  // storage/query: result columns o0.. after id, data, created_at
};

Result<StorageSql> BuildStorageQuery(const store::Dialect& d, const std::string& plugin,
                                     const std::string& collection, const json::object& params,
                                     const std::vector<std::string>& indexed);

Result<StorageSql> BuildStorageCount(const store::Dialect& d, const std::string& plugin,
                                     const std::string& collection, const json::object& params,
                                     const std::vector<std::string>& indexed);

}  // namespace ps::bridge
