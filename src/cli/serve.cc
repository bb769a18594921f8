#include "cli/serve.h"

#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "server/config.h"
#include "server/serve.h"

namespace ps::cli {

void AddServeCommand(CLI::App& app, std::function<int()>* action) {
  auto values = std::make_shared<std::map<std::string, std::vector<std::string>>>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run the host: plugins, hook pipelines and the HTTP API (host-api.md)");
  std::vector<std::pair<std::string, CLI::Option*>> options;
  std::set<std::string> switches;
  std::string secrets;
  for (const auto& f : server::ServeOptions()) {
    CLI::Option* o = nullptr;
    if (f.kind == server::OptionKind::kSwitch) {
      switches.insert(f.name);
      o = cmd->add_flag("--" + f.name)->description(f.help);
    } else if (!f.value_name.empty()) {
      o = cmd->add_option("--" + f.name, (*values)[f.name], f.help)
              ->type_name(f.value_name)
              ->expected(1);
      o->multi_option_policy(server::RepeatsAsFlag(f.kind) ? CLI::MultiOptionPolicy::TakeAll
                                                           : CLI::MultiOptionPolicy::TakeLast);
    } else {
      secrets += (secrets.empty() ? "" : ", ") + f.name;
      continue;  // a secret: environment or config file only
    }
    options.emplace_back(f.name, o);
  }
  cmd->footer(
      "Every option can also come from the config file (same names) and from the environment "
      "as PLUGIN_SANDBOX_<NAME> (upper case, '-' as '_'); flags win over the environment, which "
      "wins over the file. Secrets only from the environment or the file: " +
      secrets + ".");
  cmd->callback([values, options, switches, action] {
    server::FlagValues flags;
    for (const auto& [name, opt] : options) {
      if (opt->count() == 0) continue;
      flags[name] = switches.count(name) ? std::vector<std::string>{"true"} : (*values)[name];
    }
    *action = [flags] {
      auto cfg = server::ResolveServeConfig(flags, server::ProcessEnvironment());
      if (!cfg.ok()) {
        std::cerr << "plugin-sandbox serve: " << cfg.status().message() << '\n';
        return 2;
      }
      return server::RunServe(*cfg, std::cout, std::cerr);
    };
  });
}

}  // namespace ps::cli
