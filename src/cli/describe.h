// `plugin-sandbox describe`: what this host declares, as JSON on stdout, from the tables that
// declare it: the error codes (common/error_code.h), the limits (runner/limit_table.h), the
// options of `serve` (server/config.h) and the host API's routes (server/routes.h). Docs and
// @plugin-sandbox/emdash's tests read it instead of keeping lists of their own.
#pragma once

#include <ostream>

namespace ps::cli {

int RunDescribe(std::ostream& out);

}  // namespace ps::cli
