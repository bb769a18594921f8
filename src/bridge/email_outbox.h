// The `log` email transport: every message a plugin sends is appended as one JSON line
// ({"at", "from", "message"}) to an outbox file. The default transport of `serve` and `run`.
#pragma once

#include <string>

#include "bridge/bridge.h"

namespace ps::bridge {

// Appends to `path` (created with mode 0600 if missing); thread-safe.
EmailSender MakeOutboxEmailSender(const std::string& path);

}  // namespace ps::bridge
