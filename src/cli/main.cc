// The plugin-sandbox executable: one function per subcommand registers its options and, when
// chosen, sets the action main() runs. Add `run` and `serve` the same way.
//
// Exit codes: 0 success; 2 bad arguments or a bad bundle; a subcommand may define others
// (`run`: 1 when the invocation fails).
#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <memory>

#include "cli/check.h"

namespace {

using Action = std::function<int()>;

void AddCheckCommand(CLI::App& app, Action* action) {
  auto opts = std::make_shared<ps::cli::CheckOptions>();
  auto manifest = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "check", "Validate a plugin bundle and print its normalized manifest as JSON");
  cmd->add_option("PLUGIN", opts->plugin,
                  "A bundle directory (manifest.json + backend.js), an npm package directory, "
                  "or a .tar.gz of either")
      ->required();
  CLI::Option* manifest_opt =
      cmd->add_option("--manifest", *manifest, "Read the manifest from FILE instead")
          ->type_name("FILE");
  cmd->callback([opts, manifest, manifest_opt, action] {
    if (manifest_opt->count() > 0) opts->manifest = *manifest;
    *action = [opts] { return ps::cli::RunCheck(*opts, std::cout, std::cerr); };
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plugin-sandbox: hosts EmDash CMS sandboxed plugins in workerd", "plugin-sandbox"};
  app.set_version_flag("--version", std::string("plugin-sandbox ") + PLUGIN_SANDBOX_VERSION);
  app.require_subcommand(1);
  Action action;
  AddCheckCommand(app, &action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!action) return 2;
  try {
    return action();
  } catch (const std::exception& e) {
    std::cerr << "plugin-sandbox: internal error: " << e.what() << '\n';
    return 70;
  }
}
