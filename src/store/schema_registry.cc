#include "store/schema_registry.h"

#include <algorithm>
#include <array>
#include <regex>

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

// The default a required column gets, so existing rows and plugin writes that omit it stay valid.
std::string_view RequiredDefault(std::string_view sql_type, const std::string& type) {
  if (sql_type == "REAL" || sql_type == "INTEGER") return "0";
  if (type == "multiSelect" || type == "repeater") return "'[]'";
  if (sql_type == "JSON") return "'{}'";
  return "''";
}

}  // namespace

bool IsSystemColumn(std::string_view column) {
  return std::find(kSystemColumns.begin(), kSystemColumns.end(), column) != kSystemColumns.end();
}

bool IsFieldType(const std::string& type) { return !SqlType(type).empty(); }

Status CreateCollection(Database& db, const CollectionSpec& spec) {
  static const std::regex ident("^[a-z][a-z0-9_]*$");
  // The table name ec_<slug> must be kept whole by the backend (PostgreSQL: 63 bytes).
  const size_t max_slug = std::min<size_t>(63, db.dialect().MaxIdentifierBytes() - 3);
  if (!std::regex_match(spec.slug, ident) || spec.slug.size() > max_slug) {
    return InvalidArgument("collection slug \"" + spec.slug +
                           "\" must match ^[a-z][a-z0-9_]*$ (at most " + std::to_string(max_slug) +
                           " characters)");
  }
  std::vector<std::string> seen;
  for (const auto& f : spec.fields) {
    if (!std::regex_match(f.slug, ident) || f.slug.size() > 63) {
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

  const std::string t = "ec_" + spec.slug;
  std::string ddl = "CREATE TABLE " + t +
                    " (\n  id TEXT PRIMARY KEY,\n  slug TEXT,\n  status TEXT DEFAULT 'draft',\n"
                    "  author_id TEXT,\n  primary_byline_id TEXT,\n"
                    "  created_at TEXT DEFAULT {NOW},\n"
                    "  updated_at TEXT DEFAULT {NOW},\n  published_at TEXT,\n"
                    "  scheduled_at TEXT,\n  deleted_at TEXT,\n  version INTEGER DEFAULT 1,\n"
                    "  live_revision_id TEXT REFERENCES revisions(id),\n"
                    "  draft_revision_id TEXT REFERENCES revisions(id),\n"
                    "  locale TEXT NOT NULL DEFAULT 'en',\n  translation_group TEXT";
  for (const auto& f : spec.fields) {
    std::string_view type = SqlType(f.type);
    ddl += ",\n  " + f.slug + " " + std::string(type == "JSON" ? "TEXT" : type);
    if (f.required) ddl += " NOT NULL DEFAULT " + std::string(RequiredDefault(type, f.type));
  }
  ddl += ",\n  CONSTRAINT " + FitIdentifier(t + "_slug_locale_unique", db.dialect()) +
         " UNIQUE (slug, locale)\n);\n";
  auto idx = [&](const std::string& name, const std::string& cols, const std::string& where = "") {
    ddl += "CREATE INDEX " + FitIdentifier("idx_" + t + "_" + name, db.dialect()) + " ON " + t +
           " (" + cols + ")" + (where.empty() ? "" : " WHERE " + where) + ";\n";
  };
  idx("slug", "slug");
  idx("scheduled", "scheduled_at", "scheduled_at IS NOT NULL");
  idx("live_revision", "live_revision_id");
  idx("draft_revision", "draft_revision_id");
  idx("author", "author_id");
  idx("primary_byline", "primary_byline_id");
  idx("locale", "locale");
  idx("translation", "translation_group, locale");
  idx("deleted_translation", "deleted_at, translation_group, locale");
  idx("deleted_updated", "deleted_at, updated_at DESC, id DESC");
  idx("deleted_status", "deleted_at, status");
  idx("deleted_created", "deleted_at, created_at DESC, id DESC");
  idx("deleted_published", "deleted_at, published_at DESC, id DESC");
  idx("deleted_locale_updated", "deleted_at, locale, updated_at DESC, id DESC");
  idx("deleted_locale_created", "deleted_at, locale, created_at DESC, id DESC");

  json::array supports;
  for (const auto& s : spec.supports) supports.emplace_back(s);
  auto conn = db.Acquire();
  return conn->Transaction([&]() -> Status {
    PS_ASSIGN(auto exists,
              conn->Query("SELECT 1 FROM _emdash_collections WHERE slug = ?", {spec.slug}));
    if (!exists.empty()) {
      return Status(Code::kConflict, "collection \"" + spec.slug + "\" already exists");
    }
    std::string cid = NewUlid();
    std::string now = NowIso();
    PS_ASSIGN(int64_t n, conn->Exec("INSERT INTO _emdash_collections (id, slug, label, supports, "
                                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                                    {cid, spec.slug, spec.label.empty() ? spec.slug : spec.label,
                                     Stringify(supports), now, now}));
    (void)n;
    int64_t order = 0;
    for (const auto& f : spec.fields) {
      PS_ASSIGN(int64_t k, conn->Exec("INSERT INTO _emdash_fields (id, collection_id, slug, label, "
                                      "type, required, sort_order, created_at) VALUES (?, ?, ?, "
                                      "?, ?, ?, ?, ?)",
                                      {NewUlid(), cid, f.slug, f.slug, f.type,
                                       int64_t(f.required ? 1 : 0), order++, now}));
      (void)k;
    }
    return conn->ExecScript(RenderDdl(ddl, db.dialect()));
  });
}

Result<std::vector<CollectionSpec>> ListCollections(Database& db) {
  auto conn = db.Acquire();
  PS_ASSIGN(auto rows,
            conn->Query("SELECT id, slug, label, supports FROM _emdash_collections ORDER BY slug"));
  std::vector<CollectionSpec> out;
  for (const auto& row : rows.rows) {
    CollectionSpec c;
    c.slug = std::get<std::string>(row[1]);
    c.label = std::get<std::string>(row[2]);
    auto sup = ParseJson(std::get<std::string>(row[3]));
    if (sup.ok() && sup->is_array()) {
      for (const auto& s : sup->get_array())
        if (s.is_string()) c.supports.emplace_back(s.get_string());
    }
    PS_ASSIGN(auto fields, conn->Query("SELECT slug, type, required FROM _emdash_fields WHERE "
                                       "collection_id = ? ORDER BY sort_order",
                                       {row[0]}));
    for (const auto& f : fields.rows) {
      c.fields.push_back(
          {std::get<std::string>(f[0]), std::get<std::string>(f[1]), std::get<int64_t>(f[2]) != 0});
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace ps::store
