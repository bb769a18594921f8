// The versioned schema. Each migration runs once, in order, inside a transaction, and is
// recorded in `_ps_migrations`. Tables and columns follow EmDash's (bridge.md §4) so that a site's
// data means the same thing here as there.
#pragma once

#include "common/status.h"
#include "store/database.h"

namespace ps::store {

// Applies every migration not yet applied. Returns the failing migration's error, naming it.
Status Migrate(Connection& conn, const Dialect& dialect);

// The newest schema version this build knows.
int LatestSchemaVersion();

}  // namespace ps::store
