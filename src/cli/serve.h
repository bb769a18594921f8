// `plugin-sandbox serve` on the command line: one flag per option of server/config.h (except
// secrets: admin-token and smtp-password come from the environment or the config file only, so
// they never show in a process list), resolved with the environment and the config file, then
// handed to the server component.
// May call: server/. Called by: cli/main.cc.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace ps::cli {

void AddServeCommand(CLI::App& app, std::function<int()>* action);

}  // namespace ps::cli
