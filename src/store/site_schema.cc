#include "store/site_schema.h"

#include "store/emdash_schema.h"

namespace ps::store {
namespace {

struct Need {
  const char* table;
  std::vector<const char*> columns;
};

// What the bridge and the server read and write in EmDash's tables: every release the host
// supports has all of it (EmDash 0.31.1 and 0.32.0 both do).
const std::vector<Need>& Needs() {
  static const std::vector<Need> kNeeds = {
      {"_plugin_storage", {"plugin_id", "collection", "id", "data", "created_at", "updated_at"}},
      {"_plugin_indexes", {"plugin_id", "collection", "index_name", "fields", "created_at"}},
      {"options", {"name", "value"}},
      {"_emdash_collections",
       {"id", "slug", "label", "label_singular", "supports", "created_at", "updated_at"}},
      {"_emdash_fields",
       {"id", "collection_id", "slug", "label", "type", "column_type", "required", "sort_order",
        "created_at"}},
      {"revisions", {"id", "collection", "entry_id", "data", "author_id", "created_at"}},
      {"media",
       {"id", "filename", "mime_type", "size", "width", "height", "alt", "caption", "storage_key",
        "content_hash", "created_at", "author_id", "status"}},
      {"users", {"id", "email", "name", "role", "created_at"}},
      {"_emdash_taxonomy_defs",
       {"id", "name", "label", "label_singular", "hierarchical", "collections", "locale",
        "translation_group"}},
      {"taxonomies",
       {"id", "name", "slug", "label", "parent_id", "data", "locale", "translation_group"}},
      {"content_taxonomies", {"collection", "entry_id", "taxonomy_id"}},
  };
  return kNeeds;
}

}  // namespace

Result<SiteSchema> SiteSchema::Read(Connection& conn, const Dialect& dialect) {
  SiteSchema s;
  PS_ASSIGN(auto rows, conn.Query(dialect.ColumnsSql()));
  for (const auto& row : rows.rows) {
    s.columns_[std::get<std::string>(row[0])].insert(std::get<std::string>(row[1]));
  }
  return s;
}

bool SiteSchema::HasTable(std::string_view table) const { return columns_.count(table) != 0; }

bool SiteSchema::HasColumn(std::string_view table, std::string_view column) const {
  auto it = columns_.find(table);
  return it != columns_.end() && it->second.count(std::string(column)) != 0;
}

std::vector<std::string> SiteSchema::EmdashTables() const {
  std::vector<std::string> out;
  for (const auto& n : Needs())
    if (HasTable(n.table)) out.emplace_back(n.table);
  for (const auto& [table, cols] : columns_)
    if (table.rfind("ec_", 0) == 0) out.push_back(table);
  return out;
}

Status SiteSchema::Verify() const {
  const std::string versions = std::string(emdash::kSupportedVersions);
  for (const auto& n : Needs()) {
    if (!HasTable(n.table)) {
      return Status(Code::kInvalidArgument,
                    "the site's database has no table " + std::string(n.table) +
                        ", which the bridge needs; plugin-sandbox works on databases of EmDash " +
                        versions + " (run EmDash's migrations first)");
    }
    for (const char* c : n.columns) {
      if (!HasColumn(n.table, c)) {
        return Status(Code::kInvalidArgument,
                      "the site's database has no column " + std::string(n.table) + "." + c +
                          ", which the bridge needs; plugin-sandbox works on databases of "
                          "EmDash " +
                          versions + " (run EmDash's migrations first)");
      }
    }
  }
  return Status::Ok();
}

}  // namespace ps::store
