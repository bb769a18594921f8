// `plugin-sandbox serve`: the host process (host-api.md).
//
// Start: data directory (0700), admin token, database (migrated), media storage, outbound HTTP,
// runner, installed plugins (from the database, then every bundle in --plugins), then the HTTP
// server. Once listening it logs the address and writes it to <data>/address ("HOST:PORT" or
// "unix:PATH", one line; removed at exit), so scripts and tests can find a port-0 listener.
// Stop (SIGINT or SIGTERM): stop accepting; in-flight requests finish or time out
// (shutdown-timeout-ms); background hooks finish (each bounded by its timeout); plugin processes
// are stopped; the database is closed. A second signal exits at once.
// Returns the exit code: 0 after a clean stop, 2 for bad configuration, 1 when the host cannot
// start (database, workerd, listen address).
// May call: every server/ file, runner/, bridge/, store/, manifest/, http/, common/.
// Called by: cli/serve.cc.
#pragma once

#include <ostream>
#include <string>

#include "common/status.h"
#include "server/config.h"

namespace ps::server {

int RunServe(const ServeConfig& config, std::ostream& out, std::ostream& err);

// The admin token: from admin-token-file, else the admin-token value, else <data>/admin-token
// (read if it exists, else generated with 32 random bytes and written with mode 0600).
// `where` says where it came from, for the startup log.
Result<std::string> ResolveAdminToken(const ServeConfig& config, std::string* where);

}  // namespace ps::server
