// The plugin-sandbox executable: one function per subcommand registers its options and, when
// chosen, sets the action main() runs.
//
// Exit codes: 0 success; 2 bad arguments or a bad bundle; a subcommand may define others
// (`run`: 1 when the invocation fails).
#include <CLI/CLI.hpp>
#include <functional>
#include <iostream>
#include <memory>

#include "cli/check.h"
#include "cli/describe.h"
#include "cli/run.h"
#include "cli/serve.h"
#include "runner/limit_table.h"

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

void AddRunCommand(CLI::App& app, Action* action) {
  auto o = std::make_shared<ps::cli::RunOptions>();
  auto manifest = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("run", "Invoke one hook or route of a plugin and print the result");
  cmd->add_option("PLUGIN", o->plugin, "A bundle directory, an npm package directory, or a .tar.gz")
      ->required();
  CLI::Option* manifest_opt =
      cmd->add_option("--manifest", *manifest, "Read the manifest from FILE instead")
          ->type_name("FILE");
  cmd->add_option("--db", o->db, "sqlite:PATH (default sqlite:<data>/site.db) or postgres://…")
      ->type_name("URL");
  cmd->add_option("--data", o->data, "Where the database, media and runtime files live")
      ->type_name("DIR");
  CLI::Option* hook = cmd->add_option("--hook", o->hook, "The hook to invoke")->type_name("NAME");
  CLI::Option* route =
      cmd->add_option("--route", o->route, "The route to invoke")->type_name("NAME");
  hook->excludes(route);
  cmd->add_option("--event", o->event, "The hook's event: JSON, or @FILE")->type_name("JSON|@FILE");
  cmd->add_option("--input", o->input, "The route's input: JSON, or @FILE")
      ->type_name("JSON|@FILE");
  cmd->add_option("--limit", o->limits, "A limit for this invocation: " + ps::runner::LimitNames())
      ->type_name("NAME=N");
  cmd->add_option("--allow-private", o->allow_private,
                  "Let ctx.http.fetch reach this private host (SSRF exception)")
      ->type_name("HOST[:PORT]");
  cmd->callback([o, manifest, manifest_opt, action] {
    if (manifest_opt->count() > 0) o->manifest = *manifest;
    *action = [o] { return ps::cli::RunInvoke(*o, std::cout, std::cerr); };
  });
}

void AddDescribeCommand(CLI::App& app, Action* action) {
  CLI::App* cmd = app.add_subcommand(
      "describe", "Print this host's error codes, limits and serve options as JSON");
  cmd->callback([action] { *action = [] { return ps::cli::RunDescribe(std::cout); }; });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plugin-sandbox: hosts EmDash CMS sandboxed plugins in workerd", "plugin-sandbox"};
  app.set_version_flag("--version", std::string("plugin-sandbox ") + PLUGIN_SANDBOX_VERSION);
  app.require_subcommand(1);
  Action action;
  AddCheckCommand(app, &action);
  AddRunCommand(app, &action);
  ps::cli::AddServeCommand(app, &action);
  AddDescribeCommand(app, &action);
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
