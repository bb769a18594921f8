// The text of EmDash's schema, private to store/ (callers use emdash_schema.h).
//
// Contract: BaselineTables() is every CREATE TABLE and CREATE INDEX of EmDash 0.32.0's
// migrations on an empty database, in the order they make them, in SQLite's spelling, with two
// placeholders that BaselineDdl() fills in per dialect: {NOW} (the timestamp default) and {BLOB}
// (the binary type). No seed rows: BaselineDdl() appends those.
#pragma once

#include <string_view>

namespace ps::store::emdash {

std::string_view BaselineTables();

}  // namespace ps::store::emdash
