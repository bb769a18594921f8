// What the site's database holds: its tables and their columns, read once at start.
//
// A site's database is EmDash's: EmDash (or the host, on an empty database) created it, and
// EmDash releases differ in what they have (`taxonomies.sort_order`, the revision prune queue and
// the media-usage fence exist only on EmDash's main branch). The bridge asks this class instead
// of assuming, so a released site never sees an error for a table only main has.
//
// Contract:
// - Read() only reads. Verify() says, before anything is written, whether every table and column
//   the bridge needs is there; its error names the table, the column and the EmDash versions the
//   host supports.
// - Content tables (`ec_*`) are not checked here: they come and go with collections, and the
//   content code reads `_emdash_fields` for them.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/database.h"

namespace ps::store {

class SiteSchema {
 public:
  static Result<SiteSchema> Read(Connection& conn, const Dialect& dialect);

  bool HasTable(std::string_view table) const;
  bool HasColumn(std::string_view table, std::string_view column) const;
  // EmDash's migrations table is there: EmDash (or the host's baseline) migrated this database.
  bool EmdashMigrated() const { return HasTable("_emdash_migrations"); }
  // Tables of EmDash's schema that are present (any of them without `_emdash_migrations` means
  // a database that is neither empty nor EmDash's).
  std::vector<std::string> EmdashTables() const;

  // Every table and column the bridge reads or writes is present.
  Status Verify() const;

  // Optional parts, used where present.
  bool taxonomy_sort_order() const { return HasColumn("taxonomies", "sort_order"); }
  bool revision_prune_queue() const { return HasTable("_emdash_revision_prune_queue"); }
  bool media_usage_fence() const { return HasTable("_emdash_media_usage_activation"); }
  bool content_taxonomies_denormalized() const {
    return HasColumn("content_taxonomies", "deleted_at");
  }

 private:
  std::map<std::string, std::set<std::string>, std::less<>> columns_;
};

}  // namespace ps::store
