// kv/* and storage/* (bridge.md §3.1, §3.2, §5). No capability: every plugin has its own KV and
// its declared storage collections, scoped by plugin id in `_plugin_storage`.
#include <algorithm>

#include "bridge/methods.h"
#include "bridge/params.h"
#include "bridge/storage_query.h"
#include "common/encoding.h"

namespace ps::bridge {
namespace {

constexpr const char* kKvCollection = "__kv";

Status Upsert(store::Connection& c, const std::string& plugin, const std::string& coll,
              const std::string& id, const json::value* data, const std::string& now) {
  store::Value text = data ? store::Value(Stringify(*data)) : store::Value(std::monostate{});
  auto r = c.Exec(
      "INSERT INTO _plugin_storage (plugin_id, collection, id, data, created_at, updated_at) "
      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plugin_id, collection, id) DO UPDATE SET data = "
      "excluded.data, updated_at = excluded.updated_at",
      {plugin, coll, id, text, now, now});
  return r.status();
}

// ---- KV ----------------------------------------------------------------------------------

Result<CallResult> KvGet(CallContext& c) {
  PS_ASSIGN(std::string key, params::RequiredString(c.params, "key"));
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query("SELECT data FROM _plugin_storage WHERE plugin_id = ? AND "
                                   "collection = ? AND id = ?",
                                   {c.grant.plugin_id, std::string(kKvCollection), key}));
  if (rows.empty()) return Value(nullptr);
  const std::string* text = SqlText(rows.rows[0][0]);
  if (!text) return Value(nullptr);
  auto parsed = ParseJson(*text);
  if (!parsed.ok()) return Value(json::string(*text));  // not JSON: the raw text
  return Value(std::move(parsed).value());
}

Result<CallResult> KvSet(CallContext& c) {
  PS_ASSIGN(std::string key, params::RequiredString(c.params, "key"));
  auto conn = c.db.Acquire();
  PS_TRY(
      Upsert(*conn, c.grant.plugin_id, kKvCollection, key, c.params.if_contains("value"), Now()));
  return Void();
}

Result<CallResult> KvDelete(CallContext& c) {
  PS_ASSIGN(std::string key, params::RequiredString(c.params, "key"));
  auto conn = c.db.Acquire();
  PS_ASSIGN(int64_t n, conn->Exec("DELETE FROM _plugin_storage WHERE plugin_id = ? AND "
                                  "collection = ? AND id = ?",
                                  {c.grant.plugin_id, std::string(kKvCollection), key}));
  return Value(n > 0);
}

Result<CallResult> KvList(CallContext& c) {
  PS_ASSIGN(auto prefix, params::OptionalString(c.params, "prefix"));
  auto conn = c.db.Acquire();
  // The prefix is escaped (EmDash passes % and _ through as wildcards); matching stays ASCII
  // case-insensitive as on EmDash.
  std::string sql =
      "SELECT id, data FROM _plugin_storage WHERE plugin_id = ? AND collection = ? "
      "AND id " +
      std::string(c.db.dialect().LikeCi()) + " ? ESCAPE '\\' ORDER BY id";
  PS_ASSIGN(auto rows, conn->Query(sql, {c.grant.plugin_id, std::string(kKvCollection),
                                         LikePrefix(prefix.value_or(""))}));
  json::array out;
  for (auto& row : rows.rows) {
    PS_ASSIGN(json::value v, ParseJson(*SqlText(row[1])));
    json::object e;
    e["key"] = *SqlText(row[0]);
    e["value"] = std::move(v);
    out.emplace_back(std::move(e));
  }
  return Value(std::move(out));
}

// ---- storage -----------------------------------------------------------------------------

// collection string -> declared (the precedence of every storage method).
Result<std::string> Collection(CallContext& c) {
  PS_ASSIGN(std::string coll, params::RequiredString(c.params, "collection"));
  const auto& declared = c.grant.storage_collections;
  if (std::find(declared.begin(), declared.end(), coll) == declared.end()) {
    return InvalidArgument("Storage collection not declared: " + coll);
  }
  return coll;
}

Result<json::value> ParseDoc(const store::Value& v) {
  const std::string* text = SqlText(v);
  if (!text) return json::value(nullptr);
  return ParseJson(*text);
}

Result<CallResult> StorageGet(CallContext& c) {
  PS_ASSIGN(std::string coll, Collection(c));
  PS_ASSIGN(std::string id, params::RequiredString(c.params, "id"));
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query("SELECT data FROM _plugin_storage WHERE plugin_id = ? AND "
                                   "collection = ? AND id = ?",
                                   {c.grant.plugin_id, coll, id}));
  if (rows.empty()) return Value(nullptr);
  PS_ASSIGN(json::value doc, ParseDoc(rows.rows[0][0]));
  return Value(std::move(doc));
}

Result<CallResult> StoragePut(CallContext& c) {
  PS_ASSIGN(std::string coll, Collection(c));
  PS_ASSIGN(std::string id, params::RequiredString(c.params, "id"));
  auto conn = c.db.Acquire();
  PS_TRY(Upsert(*conn, c.grant.plugin_id, coll, id, c.params.if_contains("data"), Now()));
  return Void();
}

Result<CallResult> StorageDelete(CallContext& c) {
  PS_ASSIGN(std::string coll, Collection(c));
  PS_ASSIGN(std::string id, params::RequiredString(c.params, "id"));
  auto conn = c.db.Acquire();
  PS_ASSIGN(int64_t n, conn->Exec("DELETE FROM _plugin_storage WHERE plugin_id = ? AND "
                                  "collection = ? AND id = ?",
                                  {c.grant.plugin_id, coll, id}));
  return Value(n > 0);
}

std::string Placeholders(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
  return s;
}

// Large id lists are processed in chunks so no statement exceeds the driver's parameter limit.
constexpr size_t kChunk = 500;

Result<CallResult> StorageGetMany(CallContext& c) {
  PS_ASSIGN(std::string coll, Collection(c));
  PS_ASSIGN(auto ids, params::StringArray(c.params, "ids"));
  json::array out;
  if (ids.empty()) return Value(std::move(out));
  auto conn = c.db.Acquire();
  for (size_t off = 0; off < ids.size(); off += kChunk) {
    size_t n = std::min(kChunk, ids.size() - off);
    std::vector<store::Value> args = {c.grant.plugin_id, coll};
    for (size_t i = 0; i < n; ++i) args.emplace_back(ids[off + i]);
    PS_ASSIGN(auto rows, conn->Query("SELECT id, data FROM _plugin_storage WHERE plugin_id = ? "
                                     "AND collection = ? AND id IN (" +
                                         Placeholders(n) + ")",
                                     args));
    for (auto& row : rows.rows) {
      PS_ASSIGN(json::value doc, ParseDoc(row[1]));
      json::array pair;
      pair.emplace_back(json::string(*SqlText(row[0])));
      pair.emplace_back(std::move(doc));
      out.emplace_back(std::move(pair));
    }
  }
  return Value(std::move(out));
}

Result<CallResult> StoragePutMany(CallContext& c) {
  PS_ASSIGN(std::string coll, Collection(c));
  PS_ASSIGN(auto items, params::StorageItems(c.params, "items"));
  if (items.empty()) return Void();
  auto conn = c.db.Acquire();
  std::string now = Now();
  PS_TRY(conn->Transaction([&]() -> Status {
    for (const auto& it : items)
      PS_TRY(Upsert(*conn, c.grant.plugin_id, coll, it.id, it.data, now));
    return Status::Ok();
  }));
  return Void();
}

Result<CallResult> StorageDeleteMany(CallContext& c) {
  PS_ASSIGN(std::string coll, Collection(c));
  PS_ASSIGN(auto ids, params::StringArray(c.params, "ids"));
  if (ids.empty()) return Value(0);
  auto conn = c.db.Acquire();
  int64_t total = 0;
  PS_TRY(conn->Transaction([&]() -> Status {
    total = 0;  // the transaction may run again (store/database.h)
    for (size_t off = 0; off < ids.size(); off += kChunk) {
      size_t n = std::min(kChunk, ids.size() - off);
      std::vector<store::Value> args = {c.grant.plugin_id, coll};
      for (size_t i = 0; i < n; ++i) args.emplace_back(ids[off + i]);
      PS_ASSIGN(int64_t k, conn->Exec("DELETE FROM _plugin_storage WHERE plugin_id = ? AND "
                                      "collection = ? AND id IN (" +
                                          Placeholders(n) + ")",
                                      args));
      total += k;
    }
    return Status::Ok();
  }));
  return Value(total);
}

// ---- storage/query and storage/count (§5): the SQL is storage_query.cc's -------------------

Result<CallResult> StorageQuery(CallContext& c) {
  PS_ASSIGN(std::string coll, Collection(c));
  PS_ASSIGN(StorageSql q, BuildStorageQuery(c.db.dialect(), c.grant.plugin_id, coll, c.params,
                                            c.indexed_fields(coll)));
  const int64_t limit = q.limit;
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query(q.sql, q.args));
  bool has_more = int64_t(rows.size()) > limit;
  json::array items;
  for (int64_t i = 0; i < std::min<int64_t>(limit, rows.size()); ++i) {
    PS_ASSIGN(json::value doc, ParseDoc(rows.rows[i][1]));
    json::object item;
    item["id"] = *SqlText(rows.rows[i][0]);
    item["data"] = std::move(doc);
    items.emplace_back(std::move(item));
  }
  json::object out;
  out["items"] = std::move(items);
  out["hasMore"] = has_more;
  if (has_more) {
    const auto& last = rows.rows[limit - 1];
    json::object cur;
    if (q.order_columns == 0) {
      cur["orderValue"] = FromSql(last[2]);
      cur["id"] = *SqlText(last[0]);
    } else {
      json::array order;
      for (size_t i = 0; i < q.order_columns; ++i) order.push_back(FromSql(last[3 + i]));
      cur["order"] = std::move(order);
      cur["id"] = *SqlText(last[0]);
    }
    out["cursor"] = Base64Encode(Stringify(cur));
  }
  return Value(std::move(out));
}

Result<CallResult> StorageCount(CallContext& c) {
  PS_ASSIGN(std::string coll, Collection(c));
  PS_ASSIGN(StorageSql q, BuildStorageCount(c.db.dialect(), c.grant.plugin_id, coll, c.params,
                                            c.indexed_fields(coll)));
  auto conn = c.db.Acquire();
  PS_ASSIGN(auto rows, conn->Query(q.sql, q.args));
  return Value(std::get<int64_t>(rows.rows[0][0]));
}

}  // namespace

void AddKvStorageMethods(MethodTable& t) {
  t["kv/get"] = KvGet;
  t["kv/set"] = KvSet;
  t["kv/delete"] = KvDelete;
  t["kv/list"] = KvList;
  t["storage/get"] = StorageGet;
  t["storage/put"] = StoragePut;
  t["storage/delete"] = StorageDelete;
  t["storage/getMany"] = StorageGetMany;
  t["storage/putMany"] = StoragePutMany;
  t["storage/deleteMany"] = StorageDeleteMany;
  t["storage/query"] = StorageQuery;
  t["storage/count"] = StorageCount;
}

}  // namespace ps::bridge
