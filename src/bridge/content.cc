// content/* (bridge.md §3.3, §6): the site's content tables `ec_<collection>`.
// Capabilities: content:read for get/list; content:write for every write, batches included.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "bridge/methods.h"
#include "bridge/params.h"
#include "common/char_class.h"
#include "common/ids.h"
#include "store/schema_registry.h"
#include "store/site_schema.h"

namespace ps::bridge {
namespace {

// The bridge's 14 system columns are the table's 15 without primary_byline_id, which the bridge
// maps into `data` (bridge.md §3.3); the repository's update path uses all 15.
bool IsSystem(std::string_view c, bool with_byline) {
  if (c == "primary_byline_id") return with_byline;
  return store::IsSystemColumn(c);
}

// ^[a-z][a-z0-9_]*$: collection and content field names.
bool IsIdent(std::string_view s) { return IsWord(s, kLower, kLower | kDigit | kUnderscore); }

MonotonicUlid& RevisionIds() {
  static MonotonicUlid ids;
  return ids;
}

Status CheckCollection(const std::string& c) {
  if (!IsIdent(c)) return InvalidArgument("Invalid collection name: " + c);
  return Status::Ok();
}

// Row -> content item. `with_byline`: the repository's mapping (15 system columns).
json::object MapRow(const store::Rows& rows, size_t r, const std::string& collection,
                    bool with_byline = false) {
  const auto& row = rows.rows[r];
  json::object data;
  json::object item;
  std::string now = Now();
  for (size_t i = 0; i < rows.columns.size(); ++i) {
    const std::string& col = rows.columns[i];
    if (IsSystem(col, with_byline) || store::IsNull(row[i])) continue;
    if (const std::string* s = SqlText(row[i]);
        s && !s->empty() && (s->front() == '{' || s->front() == '[')) {
      auto parsed = ParseJson(*s);
      data[col] = parsed.ok() ? std::move(parsed).value() : json::value(json::string(*s));
    } else {
      data[col] = FromSql(row[i]);
    }
  }
  auto col = [&](const char* name) -> const store::Value* {
    int i = rows.Column(name);
    return i < 0 ? nullptr : &row[i];
  };
  const store::Value* id = col("id");
  if (id && SqlText(*id)) {
    item["id"] = *SqlText(*id);
  } else {
    item["id"] = id ? Stringify(FromSql(*id)) : std::string();
  }
  item["type"] = collection;
  item["data"] = std::move(data);
  const store::Value* created = col("created_at");
  const store::Value* updated = col("updated_at");
  const store::Value* locale = col("locale");
  item["createdAt"] = created && SqlText(*created) ? *SqlText(*created) : now;
  item["updatedAt"] = updated && SqlText(*updated) ? *SqlText(*updated) : now;
  item["locale"] = locale && SqlText(*locale) ? *SqlText(*locale) : std::string("en");
  return item;
}

Result<store::Rows> ReadRow(store::Connection& conn, const std::string& collection,
                            const std::string& id) {
  return conn.Query("SELECT * FROM ec_" + collection + " WHERE id = ? AND deleted_at IS NULL",
                    {id});
}

// The content-write fence (§6.6): refuses writes while media-usage activation runs. Released
// EmDash versions have no fence table (SiteSchema read it at start): nothing to check there.
Status Fence(store::Database& db) {
  if (!db.schema().media_usage_fence()) return Status::Ok();
  auto unavailable = [](ErrorCode code, const char* msg) { return Status(code, msg); };
  auto conn = db.Acquire();
  auto state = conn->Query(
      "SELECT state FROM _emdash_media_usage_activation WHERE task_key = 'incremental_capture'");
  if (!state.ok()) {
    spdlog::warn("content-write fence check failed: {}", state.status().message());
    return unavailable(ErrorCode::kMediaUsageActivationCheckFailed,
                       "Unable to verify media usage activation state");
  }
  if (!state->empty() && SqlText(state->rows[0][0]) &&
      *SqlText(state->rows[0][0]) == "activating") {
    return unavailable(ErrorCode::kMediaUsageActivationInProgress,
                       "Media usage activation is in progress");
  }
  return Status::Ok();
}

std::string ToLower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// ^[a-z]{2,3}(-[a-z0-9]{2,8})*$, any case.
bool IsLocaleCode(std::string_view s) {
  size_t dash = s.find('-');
  if (!AllIn(s.substr(0, dash), kLower | kUpper, 2, 3)) return false;
  // Each turn consumes a dash, so there are at most as many turns as characters.
  for (size_t n = 0, turns = s.size(); dash != std::string_view::npos && n < turns; ++n) {
    s.remove_prefix(dash + 1);
    dash = s.find('-');
    if (!AllIn(s.substr(0, dash), kLower | kUpper | kDigit, 2, 8)) return false;
  }
  return dash == std::string_view::npos;
}

// Locale resolution of content/create (§3.3).
Result<std::string> ResolveLocale(const SiteConfig& site, const std::optional<std::string>& given) {
  if (!given) return site.default_locale.empty() ? std::string("en") : site.default_locale;
  if (!IsLocaleCode(*given)) {
    return InvalidArgument("Invalid locale code: " + Quote(*given));
  }
  if (site.locales.empty()) return *given;
  for (const auto& l : site.locales) {
    if (ToLower(l) == ToLower(*given)) return l;
  }
  return InvalidArgument("Locale " + Quote(*given) + " is not configured for this site");
}

// ---- single-item operations on a given connection (so batches share one transaction) ------

Result<json::object> CreateOne(store::Connection& conn, const std::string& collection,
                               const json::object& data, const std::string& locale) {
  std::string id = NewUlid();
  std::string now = Now();
  auto str = [&](const char* k) -> store::Value {
    auto* v = data.if_contains(k);
    return v && v->is_string() ? store::Value(std::string(v->get_string()))
                               : store::Value(std::monostate{});
  };
  std::vector<std::string> cols = {"id",         "slug",       "status",  "author_id",
                                   "created_at", "updated_at", "version", "translation_group",
                                   "locale"};
  store::Value status = str("status");
  if (store::IsNull(status)) status = std::string("draft");
  std::vector<store::Value> args = {id,         str("slug"), status, str("author_id"), now, now,
                                    int64_t(1), id,          locale};
  for (const auto& kv : data) {
    std::string k(kv.key());
    if (IsSystem(k, false) || !IsIdent(k)) continue;
    cols.push_back(k);
    args.push_back(ToSql(kv.value()));
  }
  std::string sql = "INSERT INTO ec_" + collection + " (";
  std::string marks;
  for (size_t i = 0; i < cols.size(); ++i) {
    sql += (i ? ", " : "") + cols[i];
    marks += i ? ", ?" : "?";
  }
  sql += ") VALUES (" + marks + ")";
  PS_ASSIGN(int64_t n, conn.Exec(sql, args));
  (void)n;
  PS_ASSIGN(auto rows, ReadRow(conn, collection, id));
  if (rows.empty()) {
    json::object item;
    item["id"] = id;
    item["type"] = collection;
    item["data"] = json::object();
    item["createdAt"] = now;
    item["updatedAt"] = now;
    item["locale"] = locale;
    return item;
  }
  return MapRow(rows, 0, collection);
}

// EmDash (since 0.31) copies an entry's status, dates and locale onto its content_taxonomies
// rows so taxonomy listings can filter without a join; after a write that moves any of them the
// copies are refreshed from the entry, as EmDash's content repository does. Entries without
// terms have no rows: the statement then changes nothing.
Status RestampTermLinks(store::Connection& conn, const store::SiteSchema& schema,
                        const std::string& collection, const std::string& id) {
  if (!schema.content_taxonomies_denormalized()) return Status::Ok();
  const std::string t = "ec_" + collection;
  PS_ASSIGN(int64_t n,
            conn.Exec("UPDATE content_taxonomies SET (status, scheduled_at, deleted_at, locale, "
                      "published_at, created_at) = (SELECT status, scheduled_at, deleted_at, "
                      "locale, published_at, created_at FROM " +
                          t + " WHERE " + t + ".id = ?) WHERE collection = ? AND entry_id = ?",
                      {id, collection, id}));
  (void)n;
  return Status::Ok();
}

Status CheckContentField(const std::string& k) {
  if (k.empty()) return InvalidArgument("content field name must be a non-empty string");
  if (k.size() > 128) {
    return InvalidArgument("content field name must be 128 characters or less, got " +
                           std::to_string(k.size()));
  }
  if (!IsIdent(k)) {
    return InvalidArgument("content field name must match /^[a-z][a-z0-9_]*$/ (got \"" + k + "\")");
  }
  return Status::Ok();
}

// Where-fragment "col matches seen": IS NULL for a null seen value.
void Matches(const char* col, const store::Value& seen, std::string* sql,
             std::vector<store::Value>* args) {
  if (store::IsNull(seen)) {
    *sql += std::string(" AND ") + col + " IS NULL";
  } else {
    *sql += std::string(" AND ") + col + " = ?";
    args->push_back(seen);
  }
}

// ContentRepository.updateDraftAware (§6.2).
Result<json::object> UpdateOne(store::Connection& conn, const store::SiteSchema& schema,
                               const std::string& collection, const std::string& id,
                               const json::object& data) {
  std::optional<std::string> status;
  if (auto* s = data.if_contains("status"); s && s->is_string())
    status = std::string(s->get_string());
  // slug: absent -> untouched; string -> set; anything else -> NULL.
  bool slug_given = data.contains("slug");
  std::optional<std::string> slug;
  if (slug_given && data.at("slug").is_string()) slug = std::string(data.at("slug").get_string());

  std::vector<std::pair<std::string, const json::value*>> fields;
  for (const auto& kv : data) {
    std::string k(kv.key());
    if (IsSystem(k, true)) continue;
    PS_TRY(CheckContentField(k));
    fields.emplace_back(k, &kv.value());
  }

  bool revisions = false;
  std::vector<std::string> declared;
  if (!fields.empty() || slug) {
    PS_ASSIGN(auto sup, conn.Query("SELECT id, supports FROM _emdash_collections WHERE slug = ?",
                                   {collection}));
    if (!sup.empty() && SqlText(sup.rows[0][1])) {
      auto parsed = ParseJson(*SqlText(sup.rows[0][1]));
      if (parsed.ok() && parsed->is_array()) {
        for (const auto& e : parsed->get_array())
          revisions |= (e.is_string() && e.get_string() == "revisions");
      }
      if (revisions) {
        PS_ASSIGN(auto fr, conn.Query("SELECT slug FROM _emdash_fields WHERE collection_id = ?",
                                      {sup.rows[0][0]}));
        for (const auto& r : fr.rows) declared.push_back(*SqlText(r[0]));
      }
    }
  }

  std::string now = Now();
  if (!revisions) {
    std::string sets;
    std::vector<store::Value> args;
    auto set = [&](const std::string& col, store::Value v) {
      sets += (sets.empty() ? "" : ", ") + col + " = ?";
      args.push_back(std::move(v));
    };
    if (status) set("status", *status);
    if (slug_given) set("slug", slug ? store::Value(*slug) : store::Value(std::monostate{}));
    for (const auto& [k, v] : fields) set(k, ToSql(*v));
    if (!sets.empty()) set("updated_at", now);
    sets += (sets.empty() ? "" : ", ") + std::string("version = version + 1");
    args.push_back(id);
    PS_ASSIGN(int64_t n, conn.Exec("UPDATE ec_" + collection + " SET " + sets +
                                       " WHERE id = ? AND deleted_at IS NULL",
                                   args));
    if (n == 0) return NotFound("Content not found");
    if (status) {
      PS_TRY(RestampTermLinks(conn, schema, collection, id));
    }
    PS_ASSIGN(auto rows, ReadRow(conn, collection, id));
    if (rows.empty()) return NotFound("Content not found");
    return MapRow(rows, 0, collection, true);
  }

  // Revision path: the new values are staged in a draft revision, not written to the columns.
  for (const auto& [k, v] : fields) {
    if (std::find(declared.begin(), declared.end(), k) == declared.end()) {
      return InvalidArgument("Unknown field '" + k + "' in collection '" + collection + "'");
    }
  }
  for (int attempt = 0; attempt < 32; ++attempt) {
    PS_ASSIGN(auto rows, ReadRow(conn, collection, id));
    if (rows.empty()) return NotFound("Content not found");
    const auto& row = rows.rows[0];
    store::Value version = row[rows.Column("version")];
    store::Value live = row[rows.Column("live_revision_id")];
    store::Value draft = row[rows.Column("draft_revision_id")];
    json::object base;
    bool from_draft = false;
    if (const std::string* d = SqlText(draft)) {
      PS_ASSIGN(auto rev, conn.Query("SELECT data FROM revisions WHERE id = ?", {*d}));
      if (!rev.empty() && SqlText(rev.rows[0][0])) {
        auto parsed = ParseJson(*SqlText(rev.rows[0][0]));
        if (parsed.ok() && parsed->is_object()) {
          base = std::move(parsed->get_object());
          from_draft = true;
        }
      }
    }
    if (!from_draft) base = MapRow(rows, 0, collection, true)["data"].get_object();
    json::object merged = base;
    for (const auto& [k, v] : fields) merged[k] = *v;
    if (slug) merged["_slug"] = *slug;

    std::string rev_id = RevisionIds().Next();
    // created_at is the column's default, as EmDash's revision repository leaves it.
    PS_ASSIGN(int64_t ins, conn.Exec("INSERT INTO revisions (id, collection, entry_id, data) "
                                     "VALUES (?, ?, ?, ?)",
                                     {rev_id, collection, id, Stringify(merged)}));
    (void)ins;
    // Only EmDash's main branch has the prune queue; on PostgreSQL a failed statement would
    // abort the whole transaction, so it is never attempted where the table is missing.
    if (schema.revision_prune_queue()) {
      auto pq = conn.Exec(
          "INSERT INTO _emdash_revision_prune_queue (collection, entry_id, revision_id) VALUES "
          "(?, ?, ?) ON CONFLICT (collection, entry_id) DO UPDATE SET revision_id = "
          "excluded.revision_id",
          {collection, id, rev_id});
      if (!pq.ok()) spdlog::warn("revision prune queue: {}", pq.status().message());
    }

    std::string sql = "UPDATE ec_" + collection + " SET draft_revision_id = ?";
    std::vector<store::Value> args = {rev_id};
    if (status) {
      sql += ", status = ?";
      args.push_back(*status);
    }
    if (slug_given && !slug) sql += ", slug = NULL";
    if (status || (slug_given && !slug)) {
      sql += ", updated_at = ?";
      args.push_back(now);
    }
    sql += ", version = version + 1 WHERE id = ? AND deleted_at IS NULL AND version = ?";
    args.push_back(id);
    args.push_back(version);
    Matches("live_revision_id", live, &sql, &args);
    Matches("draft_revision_id", draft, &sql, &args);
    sql += " AND EXISTS (SELECT 1 FROM revisions WHERE id = ? AND collection = ? AND entry_id = ?)";
    args.push_back(rev_id);
    args.push_back(collection);
    args.push_back(id);
    PS_ASSIGN(int64_t n, conn.Exec(sql, args));
    if (n == 0) {
      (void)conn.Exec("DELETE FROM revisions WHERE id = ?", {rev_id});
      continue;
    }
    if (status) {
      PS_TRY(RestampTermLinks(conn, schema, collection, id));
    }
    PS_ASSIGN(auto after, ReadRow(conn, collection, id));
    if (after.empty()) return NotFound("Content not found");
    json::object item = MapRow(after, 0, collection, true);
    auto& out = item["data"].get_object();
    for (const auto& kv : merged) {
      if (!kv.key().empty() && kv.key().front() == '_') continue;
      out[kv.key()] = kv.value();
    }
    return item;
  }
  return Status(Code::kConflict, "Content changed while the operation was in progress");
}

Result<bool> DeleteOne(store::Connection& conn, const store::SiteSchema& schema,
                       const std::string& collection, const std::string& id) {
  std::string now = Now();
  PS_ASSIGN(int64_t n, conn.Exec("UPDATE ec_" + collection +
                                     " SET deleted_at = ?, updated_at = ? WHERE id = ? AND "
                                     "deleted_at IS NULL",
                                 {now, now, id}));
  if (n > 0) {
    PS_TRY(RestampTermLinks(conn, schema, collection, id));
  }
  return n > 0;
}

// ---- methods ------------------------------------------------------------------------------

Result<CallResult> ContentGet(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kContentRead));
  PS_ASSIGN(std::string coll, params::RequiredString(c.params, "collection"));
  PS_ASSIGN(std::string id, params::RequiredString(c.params, "id"));
  PS_TRY(CheckCollection(coll));
  auto conn = c.db.Acquire();
  auto rows = ReadRow(*conn, coll, id);
  if (!rows.ok() || rows->empty()) return Value(nullptr);  // a missing table reads as "no item"
  return Value(MapRow(*rows, 0, coll));
}

Result<CallResult> ContentList(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kContentRead));
  PS_ASSIGN(std::string coll, params::RequiredString(c.params, "collection"));
  PS_TRY(CheckCollection(coll));
  int64_t limit = params::ListLimit(c.params);
  std::string sql = "SELECT * FROM ec_" + coll + " WHERE deleted_at IS NULL";
  std::vector<store::Value> args;
  AppendIdPage(c.params, limit, &sql, &args);
  auto conn = c.db.Acquire();
  auto rows = conn->Query(sql, args);
  if (!rows.ok()) rows = store::Rows{};  // a missing table lists as empty, as on EmDash
  return Value(IdPage(
      *rows, limit, [&](size_t i) { return json::value(MapRow(*rows, i, coll)); }, "cursor", true));
}

Result<CallResult> ContentCreate(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kContentWrite));
  PS_ASSIGN(const json::object* options, params::OptionalObject(c.params, "options"));
  std::optional<std::string> locale;
  if (options) {
    PS_ASSIGN(locale, params::OptionalString(*options, "locale"));
  }
  PS_ASSIGN(std::string resolved, ResolveLocale(c.options.site, locale));
  PS_TRY(Fence(c.db));
  PS_ASSIGN(std::string coll, params::RequiredString(c.params, "collection"));
  PS_ASSIGN(const json::object* data, params::RequiredObject(c.params, "data"));
  PS_TRY(CheckCollection(coll));
  auto conn = c.db.Acquire();
  PS_ASSIGN(json::object item, CreateOne(*conn, coll, *data, resolved));
  return Value(std::move(item));
}

Result<CallResult> ContentUpdate(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kContentWrite));
  PS_TRY(Fence(c.db));
  PS_ASSIGN(std::string coll, params::RequiredString(c.params, "collection"));
  PS_ASSIGN(std::string id, params::RequiredString(c.params, "id"));
  PS_ASSIGN(const json::object* data, params::RequiredObject(c.params, "data"));
  PS_TRY(CheckCollection(coll));
  auto conn = c.db.Acquire();
  Result<json::object> item = Status(Code::kInternal, "unreachable");
  // One transaction so the revision path's read-insert-update is atomic.
  PS_TRY(conn->Transaction([&]() -> Status {
    item = UpdateOne(*conn, c.db.schema(), coll, id, *data);
    return item.status();
  }));
  return Value(std::move(item).value());
}

Result<CallResult> ContentDelete(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kContentWrite));
  PS_TRY(Fence(c.db));
  PS_ASSIGN(std::string coll, params::RequiredString(c.params, "collection"));
  PS_ASSIGN(std::string id, params::RequiredString(c.params, "id"));
  PS_TRY(CheckCollection(coll));
  auto conn = c.db.Acquire();
  Result<bool> deleted = false;
  // One transaction: the entry and its term links change together.
  PS_TRY(conn->Transaction([&]() -> Status {
    deleted = DeleteOne(*conn, c.db.schema(), coll, id);
    return deleted.status();
  }));
  return Value(*deleted);
}

// A single-item result as JSON, for Batch.
template <typename T>
Result<json::value> Wrap(Result<T> r) {
  if (!r.ok()) return r.status();
  return json::value(std::move(r).value());
}

constexpr size_t kMaxBatch = 100;

Status CheckBatch(size_t n) {
  if (n > kMaxBatch) {
    return InvalidArgument("Batch size " + std::to_string(n) + " exceeds maximum of " +
                           std::to_string(kMaxBatch));
  }
  return Status::Ok();
}

// The shared tail of the batch methods: size and collection checks, then `one` for every item
// in one transaction (all or nothing), each result in input order.
template <typename Items, typename One>
Result<json::array> Batch(CallContext& c, const std::string& coll, const Items& items, One one) {
  PS_TRY(CheckBatch(items.size()));
  PS_TRY(CheckCollection(coll));
  auto conn = c.db.Acquire();
  json::array out;
  PS_TRY(conn->Transaction([&]() -> Status {
    out.clear();  // the transaction may run again (store/database.h)
    for (const auto& item : items) {
      PS_ASSIGN(json::value v, one(*conn, item));
      out.push_back(std::move(v));
    }
    return Status::Ok();
  }));
  return out;
}

Result<CallResult> ContentCreateMany(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kContentWrite));
  PS_ASSIGN(std::string locale, ResolveLocale(c.options.site, std::nullopt));
  PS_TRY(Fence(c.db));
  PS_ASSIGN(std::string coll, params::RequiredString(c.params, "collection"));
  PS_ASSIGN(auto items, params::ObjectArray(c.params, "items"));
  PS_ASSIGN(json::array out,
            Batch(c, coll, items, [&](store::Connection& conn, const json::object* data) {
              return Wrap(CreateOne(conn, coll, *data, locale));
            }));
  return Value(std::move(out));
}

Result<CallResult> ContentUpdateMany(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kContentWrite));
  PS_TRY(Fence(c.db));
  PS_ASSIGN(std::string coll, params::RequiredString(c.params, "collection"));
  PS_ASSIGN(auto items, params::UpdateItems(c.params, "items"));
  PS_ASSIGN(json::array out,
            Batch(c, coll, items, [&](store::Connection& conn, const params::UpdateItem& it) {
              return Wrap(UpdateOne(conn, c.db.schema(), coll, it.id, *it.data));
            }));
  return Value(std::move(out));
}

Result<CallResult> ContentDeleteMany(CallContext& c) {
  PS_TRY(c.caps.Require(caps::kContentWrite));
  PS_TRY(Fence(c.db));
  PS_ASSIGN(std::string coll, params::RequiredString(c.params, "collection"));
  PS_ASSIGN(auto ids, params::StringArray(c.params, "ids"));
  PS_ASSIGN(json::array deleted,
            Batch(c, coll, ids, [&](store::Connection& conn, const std::string& id) {
              return Wrap(DeleteOne(conn, c.db.schema(), coll, id));
            }));
  return Value(int64_t(std::count(deleted.begin(), deleted.end(), json::value(true))));
}

}  // namespace

void AddContentMethods(MethodTable& t) {
  t["content/get"] = ContentGet;
  t["content/list"] = ContentList;
  t["content/create"] = ContentCreate;
  t["content/update"] = ContentUpdate;
  t["content/delete"] = ContentDelete;
  t["content/createMany"] = ContentCreateMany;
  t["content/updateMany"] = ContentUpdateMany;
  t["content/deleteMany"] = ContentDeleteMany;
}

}  // namespace ps::bridge
