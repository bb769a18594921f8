// EmDash's own schema, as data: what the host creates on an empty database so that the site is
// EmDash's from its first byte, and EmDash can open it later as if it had made it itself.
//
// Contract:
// - BaselineDdl() creates every table, index and seed row that EmDash 0.32.0's migrations create
//   on an empty database, with EmDash's column types, defaults and names on both dialects.
// - BaselineMigrations() are the names EmDash records for those migrations in
//   `_emdash_migrations`; recording them tells EmDash's runMigrations there is nothing to do.
// - Nothing here runs SQL; store/migrations.cc decides when the baseline applies.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/database.h"

namespace ps::store::emdash {

// The EmDash release whose schema BaselineDdl() reproduces.
inline constexpr std::string_view kBaselineVersion = "0.32.0";
// EmDash releases whose databases the host attaches to (checked by SiteSchema::Verify).
inline constexpr std::string_view kSupportedVersions = "0.31.1 and 0.32.0";

const std::vector<std::string_view>& BaselineMigrations();
std::string BaselineDdl(const Dialect& dialect);

}  // namespace ps::store::emdash
