// The storage query language (bridge/storage_query.h: `where`, `orderBy`, `limit`, cursors) and
// its SQL on both stores. Input: the JSON params of a storage/query call. A `cursorJson` object,
// when present, is sent base64-encoded as `cursor`, so mutations reach the cursor's contents.
//
// Properties beyond "no crash, no leak, no undefined behaviour":
// - no value reaches the SQL text: every string in the query is replaced by a canary and every
//   number by another number; the SQL must be byte for byte the same, with the same number of
//   parameters, and must not contain the canary (on the SQLite and the PostgreSQL dialect);
// - the SQL is valid: on a real SQLite site database (store::OpenDatabase, the schema the host
//   makes) every query that renders also runs;
// - failures are InvalidArgument (the text the plugin sees).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "bridge/storage_query.h"
#include "common/encoding.h"
#include "common/json.h"
#include "fuzz_util.h"
#include "store/database.h"
#include "store/postgres/postgres_database.h"
#include "store/sqlite/sqlite_database.h"

namespace {

namespace json = ps::json;

const std::vector<std::string> kIndexed = {"a", "b", "n", "s", "flag", "createdAt", "x_1"};
constexpr char kCanary[] =
    "\x01"
    "canary'\"\\;--";

// Every string leaf (object keys stay: they are field and operator names) becomes the canary,
// every number another number of the same JSON kind; null and booleans stay.
void Disguise(json::value& v) {
  if (v.is_string()) {
    v = kCanary;
  } else if (v.is_int64()) {
    v = v.get_int64() == 7 ? int64_t{8} : int64_t{7};
  } else if (v.is_uint64()) {
    v = v.get_uint64() == 7u ? uint64_t{8} : uint64_t{7};
  } else if (v.is_double()) {
    v = v.get_double() == 7.5 ? 8.5 : 7.5;
  } else if (v.is_array()) {
    for (auto& e : v.get_array()) Disguise(e);
  } else if (v.is_object()) {
    for (auto& kv : v.get_object()) Disguise(kv.value());
  }
}

ps::store::Database& Site() {
  static std::string dir;
  static std::unique_ptr<ps::store::Database> db = ps::fuzz::OpenScratchSite("storage", &dir);
  return *db;
}

void CheckDialect(const ps::store::Dialect& d, const json::object& params,
                  const json::object& disguised, bool run) {
  for (bool count : {false, true}) {
    auto build = count ? ps::bridge::BuildStorageCount : ps::bridge::BuildStorageQuery;
    auto q = build(d, "fuzz-plugin", "events", params, kIndexed);
    auto q2 = build(d, "fuzz-plugin", "events", disguised, kIndexed);
    if (!q.ok()) {
      PS_FUZZ_CHECK(q.status().code() == ps::Code::kInvalidArgument, q.status().message());
      // A value can decide validity (a cursor's contents, `in` holding an object), not the SQL.
      continue;
    }
    if (!q2.ok()) continue;  // the canary made a cursor or a filter invalid
    PS_FUZZ_CHECK(q->sql == q2->sql, std::string(d.name()) + ": the SQL depends on a value:\n  " +
                                         q->sql + "\n  " + q2->sql);
    PS_FUZZ_CHECK(q->args.size() == q2->args.size(), "the parameter count depends on a value");
    PS_FUZZ_CHECK(q2->sql.find("canary") == std::string::npos, "a value is in the SQL: " + q2->sql);
    size_t marks = 0;
    for (char c : q->sql) marks += c == '?';
    PS_FUZZ_CHECK(marks == q->args.size(),
                  std::string(d.name()) + ": " + std::to_string(marks) + " placeholders for " +
                      std::to_string(q->args.size()) + " values: " + q->sql);
    if (run) {
      auto conn = Site().Acquire();
      auto rows = conn->Query(q->sql, q->args);
      PS_FUZZ_CHECK(rows.ok(),
                    "the SQL does not run: " + rows.status().message() + "\n  " + q->sql);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = ps::ParseJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok() || !parsed->is_object()) return 0;
  json::object params = parsed->get_object();
  if (auto* c = params.if_contains("cursorJson")) {
    params["cursor"] = ps::Base64Encode(ps::Stringify(*c));
    params.erase("cursorJson");
  }
  json::value disguised_value = params;
  // The cursor is opaque to the plugin but ours to decode: its values are bound, so disguise
  // what is inside it, not its base64.
  if (auto* c = parsed->get_object().if_contains("cursorJson")) {
    json::value inner = *c;
    Disguise(inner);
    disguised_value.get_object()["cursor"] = ps::Base64Encode(ps::Stringify(inner));
  }
  for (auto& kv : disguised_value.get_object())
    if (kv.key() == "where") Disguise(kv.value());
  const json::object& disguised = disguised_value.get_object();

  CheckDialect(ps::store::SqliteDatabase::StaticDialect(), params, disguised, /*run=*/true);
  CheckDialect(ps::store::PostgresDatabase::StaticDialect(), params, disguised, /*run=*/false);
  return 0;
}
