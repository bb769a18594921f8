#include "cli/serve.h"

#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "server/config.h"
#include "server/serve.h"

namespace ps::cli {
namespace {

struct FlagHelp {
  const char* name;
  const char* type;
  const char* help;
  bool list = false;
};

const std::vector<FlagHelp>& Flags() {
  static const std::vector<FlagHelp> kFlags = {
      {"config", "FILE", "Read options from this JSON file (keys are option names)"},
      {"db", "URL",
       "sqlite:PATH (default sqlite:<data>/site.db) or postgres://USER@HOST/DB (several hosts on "
       "one site)"},
      {"media-dir", "DIR",
       "Uploaded media (default <data>/media; hosts sharing a database must share it too)"},
      {"plugins", "DIR", "Install every bundle in DIR at start"},
      {"listen", "ADDR", "HOST:PORT (default 127.0.0.1:8787; port 0 picks one) or unix:PATH"},
      {"data", "DIR", "Database, media, runtime files, admin token (default ./.plugin-sandbox)"},
      {"admin-token-file", "FILE", "Read the admin token from FILE"},
      {"allow-private", "HOST[:PORT]", "Let ctx.http.fetch reach this private host", true},
      {"limit", "NAME=N", "Host-wide limit: cpu-ms, memory-mb, subrequests, wall-ms", true},
      {"plugin-limit", "ID:NAME=N", "One plugin's limit, e.g. hello:cpu-ms=200", true},
      {"isolation", "MODE", "per-plugin (default) or shared"},
      {"idle-stop-s", "N",
       "Stop a plugin's process after N seconds without a call; its next call starts it "
       "(default 300; never: keep every process running)"},
      {"always-on", "ID", "Keep this plugin's process running (* for every plugin)", true},
      {"memory-budget-mb", "N",
       "Memory for all plugin processes together; idle ones are stopped, least recently used "
       "first, to stay within it (default: no budget)"},
      {"cache-dir", "DIR",
       "What each plugin module declared at its first start, so a restart starts nothing until "
       "a plugin is called (default <data>/cache)"},
      {"invocations", "HOW",
       "channel (default: messages on WebSockets kept open to each plugin) or requests (one HTTP "
       "request each)"},
      {"email-transport", "NAME", "log (default: <data>/outbox.jsonl) or smtp"},
      {"smtp-url", "URL", "smtp://HOST:PORT or smtps://HOST:PORT"},
      {"smtp-from", "ADDR", "Sender address for smtp"},
      {"smtp-username", "NAME", "SMTP user (password: PLUGIN_SANDBOX_SMTP_PASSWORD)"},
      {"site-name", "TEXT", "ctx.site.name"},
      {"site-url", "URL", "ctx.site.url"},
      {"site-locale", "LOCALE", "Default locale (default en)"},
      {"site-trailing-slash", "MODE", "ctx.site.trailingSlash: always, never or ignore (default)"},
      {"site-locales", "LOCALE", "Configured locales (i18n)", true},
      {"workers", "N", "Threads serving requests (default 16)"},
      {"max-body-mb", "N", "JSON request body cap in MiB (default 1)"},
      {"max-upload-mb", "N", "Bundle and media upload cap in MiB (default 64)"},
      {"hook-timeout-ms", "N", "A hook's timeout when it declares none (default 5000)"},
      {"plugin-sync-ms", "N",
       "How often to pick up plugin installs made by other hosts on the same database (default "
       "1000)"},
      {"shutdown-timeout-ms", "N", "How long in-flight requests may take at shutdown"},
      {"log-level", "LEVEL", "trace, debug, info (default), warn, error, off"},
      {"env-passthrough", "NAME", "Environment variables plugin processes may see", true},
      {"workerd", "PATH", "The workerd binary (default: the pinned one in node_modules)"},
  };
  return kFlags;
}

}  // namespace

void AddServeCommand(CLI::App& app, std::function<int()>* action) {
  auto values = std::make_shared<std::map<std::string, std::vector<std::string>>>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run the host: plugins, hook pipelines and the HTTP API (host-api.md)");
  std::vector<std::pair<std::string, CLI::Option*>> options;
  for (const auto& f : Flags()) {
    CLI::Option* o = cmd->add_option(std::string("--") + f.name, (*values)[f.name], f.help)
                         ->type_name(f.type)
                         ->expected(1);
    o->multi_option_policy(f.list ? CLI::MultiOptionPolicy::TakeAll
                                  : CLI::MultiOptionPolicy::TakeLast);
    options.emplace_back(f.name, o);
  }
  CLI::Option* embedded_flag =
      cmd->add_flag("--embedded")
          ->description(
              "Run for an embedding process such as @plugin-sandbox/emdash (docs/channel.md): exit "
              "when "
              "stdin closes, plugins in memory only, no lifecycle hooks on install and uninstall");
  options.emplace_back("embedded", embedded_flag);
  cmd->footer(
      "Every option can also come from the config file (same names) and from the environment "
      "as PLUGIN_SANDBOX_<NAME> (upper case, '-' as '_'); flags win over the environment, which "
      "wins over the file. Secrets only from the environment or the file: admin-token, "
      "smtp-password.");
  cmd->callback([values, options, action] {
    server::FlagValues flags;
    for (const auto& [name, opt] : options) {
      if (opt->count() == 0) continue;
      flags[name] = name == "embedded" ? std::vector<std::string>{"true"} : (*values)[name];
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
