// The configuration of `plugin-sandbox serve` and where each value comes from.
//
// Contract: every option has one name (the flag's, e.g. `listen`, `admin-token-file`) used in all
// three sources: the config file (a JSON object keyed by option name), the environment
// (`PLUGIN_SANDBOX_<NAME>` upper-cased with `-` as `_`, e.g. PLUGIN_SANDBOX_ADMIN_TOKEN_FILE) and
// the command line (`--<name>`). Flags win over the environment, which wins over the file, which
// wins over the defaults. A list option (allow-private, limit, …) is taken whole from the
// highest source that sets it, except `limit` and `plugin-limit`, which layer key by key.
// Every bad value fails with InvalidArgument naming the source and the option, e.g.
//   environment PLUGIN_SANDBOX_WORKERS: expected a positive integer, got "many"
// May call: common/, runner/ (types only). Called by: cli/serve.cc, server/serve.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "runner/runner.h"

namespace ps::server {

struct EmailConfig {
  std::string transport = "log";  // "log" (<data>/outbox.jsonl) or "smtp"
  std::string smtp_url;           // smtp://host:port or smtps://host:port
  std::string smtp_from;          // envelope and header sender
  std::string smtp_username;
  std::string smtp_password;
};

struct ServeConfig {
  std::string config_file;  // where the file values came from (empty: none)
  std::string data_dir = ".plugin-sandbox";
  std::string db;         // empty: sqlite:<data>/site.db
  std::string media_dir;  // empty: <data>/media (hosts sharing a database share this too)
  std::string plugins_dir;
  std::string listen = "127.0.0.1:8787";  // HOST:PORT or unix:PATH
  std::string admin_token;                // literal (environment or config file)
  std::string admin_token_file;
  std::vector<std::string> allow_private;
  runner::Limits limits;
  std::map<std::string, runner::Limits> plugin_limits;
  runner::IsolationMode isolation = runner::IsolationMode::kPerPlugin;
  bool containment = true;           // "containment": on (default) or off
  bool require_containment = false;  // "require-containment": full
  std::string plugin_user = "nobody";
  int plugin_cpu_percent = 100;
  bool invoke_channel = true;  // "invocations": channel (default) or requests
  int64_t idle_stop_s = 300;   // "idle-stop-s": 0 (given as "never") keeps processes running
  std::vector<std::string> always_on;  // plugin ids, or "*"
  int64_t memory_budget_mb = 0;        // 0: none
  std::string cache_dir;               // empty: <data>/cache
  EmailConfig email;
  runner::SiteInfo site;
  std::vector<std::string> site_locales;  // configured locales (i18n); empty: none
  int workers = 16;                       // threads that run handlers (plugin calls, SQL)
  size_t max_body_bytes = 1u << 20;       // JSON request bodies
  size_t max_upload_bytes = 64u << 20;    // bundle uploads and media
  int64_t hook_timeout_ms = 5000;         // a hook's timeout when it declares none
  int64_t shutdown_timeout_ms = 35000;    // how long in-flight requests may take at shutdown
  int64_t plugin_sync_ms = 1000;          // how often installs made by other hosts are looked for
  std::string log_level = "info";
  std::vector<std::string> env_passthrough;
  // Run for an embedding process (docs/channel.md): exit when stdin closes, plugins in memory
  // only, no lifecycle hooks on install and uninstall, email and media through the channel.
  bool embedded = false;
  std::string workerd;  // empty: found by the runner
};

// Raw values given on the command line: option name -> values in order (one for scalars).
using FlagValues = std::map<std::string, std::vector<std::string>>;
// Looks up an environment variable (tests pass their own).
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnvironment();

// PLUGIN_SANDBOX_<NAME>: an option's environment variable.
std::string EnvName(const std::string& option);

// Resolves the configuration: reads the config file named by `config` (flag, then environment),
// then layers environment and flags over it. Relative paths in the file are relative to the file.
Result<ServeConfig> ResolveServeConfig(const FlagValues& flags, const EnvLookup& env);

// The database URL to open: the configured one, or sqlite:<data>/site.db.
std::string DatabaseUrl(const ServeConfig& c);

// One option's value, read for its kind.
struct OptionValue {
  std::string text;               // kString; kSwitch: "true" or "false"
  int64_t number = 0;             // kInt: positive
  std::vector<std::string> list;  // kList
};

enum class OptionKind {
  kString,
  kInt,           // a positive integer
  kList,          // repeated flags, comma-separated in the environment, an array in the file
  kLimits,        // NAME=N, layered key by key (runner/limit_table.h)
  kPluginLimits,  // ID:NAME=N, layered over the host-wide limits
  kSwitch,        // a flag without a value (true/false in the environment and the file)
};

// Whether a flag of this kind may repeat (every value kept) rather than take its last value.
inline bool RepeatsAsFlag(OptionKind k) {
  return k == OptionKind::kList || k == OptionKind::kLimits || k == OptionKind::kPluginLimits;
}

// One option of `serve`. The table of them is the only list: it drives the flags (cli/serve.cc),
// the environment, the config file, --help and the docs check (tests/server/config_test.cc).
struct ServeOption {
  std::string name;
  OptionKind kind;
  std::string value_name;  // the flag's value in --help (FILE, N, …); empty: not a flag (a secret,
                           // or a kSwitch)
  std::string help;   // one line for --help
  bool path = false;  // in the config file, relative to the file
  // Stores a value read for `kind`; checks what the kind alone does not (one of a set, a
  // maximum). Null for the limits, which the resolver layers key by key.
  Status (*set)(ServeConfig& c, const std::string& where, const OptionValue& v) = nullptr;
};

// Every option, in --help order.
const std::vector<ServeOption>& ServeOptions();

}  // namespace ps::server
