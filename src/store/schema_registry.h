// Content collections: the registry rows (`_emdash_collections`, `_emdash_fields`) and the
// `ec_<slug>` table with EmDash's columns, constraints and indexes (bridge.md §4.3).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "store/database.h"

namespace ps::store {

struct FieldSpec {
  std::string slug;  // ^[a-z][a-z0-9_]*$, not a system column
  std::string type;  // string, text, number, integer, boolean, datetime, select, multiSelect, …
  bool required = false;
};

struct CollectionSpec {
  std::string slug;  // ^[a-z][a-z0-9_]*$
  std::string label;
  std::vector<FieldSpec> fields;
  std::vector<std::string> supports;  // e.g. {"revisions", "drafts"}
};

// The 15 system columns of every `ec_<slug>` table (never field slugs). The bridge's item mapping
// leaves `primary_byline_id` out of this set (bridge.md §3.3); the repository's keeps it.
bool IsSystemColumn(std::string_view column);

// The field types EmDash knows, and the SQL type each maps to.
bool IsFieldType(const std::string& type);

// Creates the collection (registry rows + table) in one transaction. Errors: InvalidArgument for
// a bad slug, field or type (naming which); Conflict if the collection exists.
Status CreateCollection(Database& db, const CollectionSpec& spec);
Result<std::vector<CollectionSpec>> ListCollections(Database& db);

}  // namespace ps::store
