#include "store/schema_registry.h"

#include <algorithm>
#include <array>

#include "common/char_class.h"
#include "common/ids.h"

namespace ps::store {
namespace {

struct TypeMap {
  std::string_view type;
  std::string_view sql;
};

constexpr std::array<TypeMap, 17> kTypes = {{
    {"string", "TEXT"},
    {"text", "TEXT"},
    {"datetime", "TEXT"},
    {"select", "TEXT"},
    {"image", "TEXT"},
    {"file", "TEXT"},
    {"reference", "TEXT"},
    {"slug", "TEXT"},
    {"url", "TEXT"},
    {"number", "REAL"},
    {"integer", "INTEGER"},
    {"boolean", "INTEGER"},
    {"multiSelect", "JSON"},
    {"portableText", "JSON"},
    {"json", "JSON"},
    {"repeater", "JSON"},
    {"email", "TEXT"},
}};

constexpr std::array<std::string_view, 15> kSystemColumns = {"id",
                                                             "slug",
                                                             "status",
                                                             "author_id",
                                                             "primary_byline_id",
                                                             "created_at",
                                                             "updated_at",
                                                             "published_at",
                                                             "scheduled_at",
                                                             "deleted_at",
                                                             "version",
                                                             "live_revision_id",
                                                             "draft_revision_id",
                                                             "locale",
                                                             "translation_group"};

std::string_view SqlType(const std::string& type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t.sql;
  return {};
}

// The default a required column gets, so existing rows and plugin writes that omit it stay valid:
// EmDash's empty value for the column type.
std::string_view EmptyDefault(std::string_view sql_type) {
  if (sql_type == "INTEGER") return "0";
  if (sql_type == "REAL") return "0.0";
  if (sql_type == "JSON") return "'null'";
  return "''";
}

bool HasSupport(const CollectionSpec& spec, std::string_view what) {
  return std::find(spec.supports.begin(), spec.supports.end(), what) != spec.supports.end();
}

}  // namespace

bool IsSystemColumn(std::string_view column) {
  return std::find(kSystemColumns.begin(), kSystemColumns.end(), column) != kSystemColumns.end();
}

bool IsFieldType(const std::string& type) { return !SqlType(type).empty(); }

Status CreateCollection(Database& db, const CollectionSpec& spec) {
  // The table name ec_<slug> must be kept whole by the backend (PostgreSQL: 63 bytes).
  const size_t max_slug = std::min<size_t>(63, db.dialect().MaxIdentifierBytes() - 3);
  if (!IsWord(spec.slug, kLower, kLower | kDigit | kUnderscore) || spec.slug.size() > max_slug) {
    return InvalidArgument("collection slug \"" + spec.slug +
                           "\" must match ^[a-z][a-z0-9_]*$ (at most " + std::to_string(max_slug) +
                           " characters)");
  }
  std::vector<std::string> seen;
  for (const auto& f : spec.fields) {
    if (!IsWord(f.slug, kLower, kLower | kDigit | kUnderscore) || f.slug.size() > 63) {
      return InvalidArgument("field slug \"" + f.slug + "\" must match ^[a-z][a-z0-9_]*$");
    }
    if (IsSystemColumn(f.slug)) {
      return InvalidArgument("field slug \"" + f.slug + "\" is a reserved system column");
    }
    if (std::find(seen.begin(), seen.end(), f.slug) != seen.end()) {
      return InvalidArgument("field slug \"" + f.slug + "\" is listed twice");
    }
    seen.push_back(f.slug);
    if (!IsFieldType(f.type)) {
      std::string all;
      for (const auto& t : kTypes) all += (all.empty() ? "" : ", ") + std::string(t.type);
      return InvalidArgument("field \"" + f.slug + "\": unknown type \"" + f.type +
                             "\"; expected one of " + all);
    }
  }

  // The table as EmDash's schema registry makes it: the system columns first, then one
  // ALTER TABLE per field in field order, each with EmDash's column type (TEXT, REAL, INTEGER,
  // JSON) and, when required, NOT NULL with EmDash's empty default.
  const std::string t = "ec_" + spec.slug;
  const bool pg = db.dialect().name() == "postgres";
  const std::string now = pg ? "CURRENT_TIMESTAMP" : "(datetime('now'))";
  std::string ddl = "CREATE TABLE \"" + t +
                    "\" (\"id\" text primary key, \"slug\" text, \"status\" text default "
                    "'draft', \"author_id\" text, \"primary_byline_id\" text, \"created_at\" "
                    "text default " +
                    now + ", \"updated_at\" text default " + now +
                    ", \"published_at\" text, \"scheduled_at\" text, \"deleted_at\" text, "
                    "\"version\" integer default 1, \"live_revision_id\" text references "
                    "\"revisions\" (\"id\"), \"draft_revision_id\" text references "
                    "\"revisions\" (\"id\"), \"locale\" text default 'en' not null, "
                    "\"translation_group\" text, constraint \"" +
                    FitIdentifier(t + "_slug_locale_unique", db.dialect()) +
                    "\" unique (\"slug\", \"locale\"));\n";
  auto idx = [&](const std::string& name, const std::string& cols, const std::string& where = "") {
    ddl += "CREATE INDEX \"" + FitIdentifier("idx_" + t + "_" + name, db.dialect()) + "\" ON \"" +
           t + "\" (" + cols + ")" + (where.empty() ? "" : " WHERE " + where) + ";\n";
  };
  idx("slug", "slug");
  idx("scheduled", "scheduled_at", "scheduled_at IS NOT NULL");
  idx("live_revision", "live_revision_id");
  idx("draft_revision", "draft_revision_id");
  idx("author", "author_id");
  idx("primary_byline", "primary_byline_id");
  idx("locale", "locale");
  idx("translation_group", "translation_group");
  idx("deleted_updated_id", "deleted_at, updated_at DESC, id DESC");
  idx("deleted_status", "deleted_at, status");
  idx("deleted_created_id", "deleted_at, created_at DESC, id DESC");
  idx("deleted_published_id", "deleted_at, published_at DESC, id DESC");
  idx("loc_upd", "deleted_at, locale, updated_at DESC, id DESC");
  idx("loc_crt", "deleted_at, locale, created_at DESC, id DESC");
  for (const auto& f : spec.fields) {
    std::string_view type = SqlType(f.type);
    ddl += "ALTER TABLE \"" + t + "\" ADD COLUMN \"" + f.slug + "\" " + std::string(type);
    if (f.required) ddl += " NOT NULL DEFAULT " + std::string(EmptyDefault(type));
    ddl += ";\n";
  }

  json::array supports;
  for (const auto& s : spec.supports) supports.emplace_back(s);
  auto conn = db.Acquire();
  return conn->Transaction([&]() -> Status {
    PS_ASSIGN(auto exists,
              conn->Query("SELECT 1 FROM _emdash_collections WHERE slug = ?", {spec.slug}));
    if (!exists.empty()) {
      return Status(Code::kConflict, "collection \"" + spec.slug + "\" already exists");
    }
    // Timestamps are the columns' defaults, as EmDash leaves them.
    std::string cid = NewUlid();
    PS_ASSIGN(int64_t n,
              conn->Exec("INSERT INTO _emdash_collections (id, slug, label, supports, source, "
                         "has_seo, comments_enabled) VALUES (?, ?, ?, ?, 'manual', ?, 0)",
                         {cid, spec.slug, spec.label.empty() ? spec.slug : spec.label,
                          Stringify(supports), int64_t(HasSupport(spec, "seo") ? 1 : 0)}));
    (void)n;
    int64_t order = 0;
    for (const auto& f : spec.fields) {
      PS_ASSIGN(int64_t k,
                conn->Exec("INSERT INTO _emdash_fields (id, collection_id, slug, label, type, "
                           "column_type, required, \"unique\", sort_order, searchable, "
                           "translatable) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, 0, 1)",
                           {NewUlid(), cid, f.slug, f.slug, f.type, std::string(SqlType(f.type)),
                            int64_t(f.required ? 1 : 0), order++}));
      (void)k;
    }
    return conn->ExecScript(ddl);
  });
}

Result<std::vector<CollectionSpec>> ListCollections(Database& db) {
  auto conn = db.Acquire();
  PS_ASSIGN(auto rows,
            conn->Query("SELECT id, slug, label, supports FROM _emdash_collections ORDER BY slug"));
  std::vector<CollectionSpec> out;
  for (const auto& row : rows.rows) {
    CollectionSpec c;
    c.slug = AsText(row[1]);
    c.label = AsText(row[2]);
    // EmDash allows NULL here (and writes JSON text); anything else reads as no features.
    if (auto sup = ParseJson(AsText(row[3])); sup.ok() && sup->is_array()) {
      for (const auto& s : sup->get_array())
        if (s.is_string()) c.supports.emplace_back(s.get_string());
    }
    PS_ASSIGN(auto fields, conn->Query("SELECT slug, type, required FROM _emdash_fields WHERE "
                                       "collection_id = ? ORDER BY sort_order, slug",
                                       {row[0]}));
    for (const auto& f : fields.rows) {
      c.fields.push_back({AsText(f[0]), AsText(f[1]), AsInt(f[2]) != 0});
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace ps::store
