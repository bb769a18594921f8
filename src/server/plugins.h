// The installed plugins of a host: what is installed (kept in the database, table _ps_plugins,
// so that installs and updates survive a restart), which are enabled, and their running
// processes (through the runner). Install, update, uninstall, enable and disable touch one
// plugin only; the runner starts a new process before stopping the old one, so nothing else
// stalls. Lifecycle hooks fire as runner.md §3 lists them:
//   install (new)  -> plugin:install, then plugin:activate
//   install (update) -> plugin:activate (on the new version)
//   disable        -> plugin:deactivate, then the process stops
//   enable         -> the process starts, then plugin:activate
//   uninstall      -> plugin:deactivate, plugin:uninstall {deleteData}, then the process stops
//                     and, unless keepData, the plugin's KV and storage are deleted.
// Every invocation goes through Invoke*(): it resolves the plugin's current handle, records
// metrics and writes one structured log line (plugin, hook or route, ms, outcome).
//
// A plugin's hooks (for pipelines) are those its module defines (the isolate reports them with
// their options at readiness), limited to the manifest's `hooks` list when it has one, minus the
// ones the capability gate of runner.md §3 skips (warned at install). Options come from the
// module, then the manifest's declaration, then the defaults: priority 100, timeout = the host's
// hook timeout, errorPolicy "continue"; the timeout is capped by the plugin's wall-time limit.
//
// Thread-safe. May call: runner/, manifest/, store/, bridge/ (types), common/. Called by:
// server/ (pipeline, site, api, serve).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "manifest/bundle.h"
#include "runner/runner.h"
#include "server/metrics.h"
#include "store/database.h"

namespace ps::server {

struct HookRegistration {
  std::string hook;
  int64_t priority = 100;
  int64_t timeout_ms = 5000;  // already capped by the wall-time limit
  std::vector<std::string> dependencies;
  std::string error_policy = "continue";  // or "abort"
  bool exclusive = false;
};

// One installed plugin as callers see it (a copy).
struct PluginView {
  std::string id;
  std::string version;
  std::string source;  // where the bundle came from: a path, or "upload"
  manifest::Manifest manifest;
  bool enabled = true;
  // starting, ready, restarting, stopped (its next call starts it), idle-stopped (the same, after
  // an idle or memory-budget stop), quarantined (including "failed to start"), disabled
  std::string state;
  std::optional<runner::PluginInfo> info;  // when running
  std::vector<HookRegistration> hooks;     // registered for pipelines, in module order
  std::vector<std::string> skipped_hooks;  // "<hook>: needs <capability>"
  std::map<std::string, bool> routes;      // route name -> public
  std::string error;                       // why the last start failed
  std::string installed_at, updated_at;
};

enum class InstallOutcome { kInstalled, kUpdated };

struct RegistryOptions {
  int64_t default_hook_timeout_ms = 5000;
  // The limits the runner applies to a plugin id (for capping hook timeouts).
  std::function<runner::Limits(const std::string& id)> limits_for;
  // Embedded mode (docs/channel.md): installs live in memory only (nothing read from or written
  // to _ps_plugins), no lifecycle hook fires (the embedding CMS fires them itself), and an
  // uninstall always keeps the plugin's data.
  bool embedded = false;
};

class PluginRegistry {
 public:
  PluginRegistry(store::Database& db, runner::Runner& runner, Metrics& metrics,
                 RegistryOptions options);
  ~PluginRegistry();

  // At start: loads the stored plugins, and installs or updates the given bundles (from
  // --plugins) over them. A plugin that fails to start is logged and shown as quarantined with
  // its error; the others are unaffected.
  void Start(const std::vector<std::pair<manifest::Bundle, std::string>>& bundles);

  // Installs a new plugin or updates an installed one (same id) from a validated bundle. Nothing
  // changes when the new version cannot start. An update of a disabled plugin stores the bundle
  // and leaves it disabled.
  Result<InstallOutcome> Install(const manifest::Bundle& bundle, const std::string& source);
  Status Uninstall(const std::string& id, bool keep_data);
  Status Enable(const std::string& id);
  Status Disable(const std::string& id);

  // Brings this host in line with the shared database: installs, updates, enables, disables and
  // uninstalls another host made (several hosts on one PostgreSQL site) start, restart or stop
  // this host's process for that plugin alone. No lifecycle hook fires here: the host that made
  // the change fired it. A database that cannot be read is logged once and retried next time.
  void Sync();
  // Runs Sync every `period` on a thread of its own, until StopWatching (or destruction).
  void StartWatching(std::chrono::milliseconds period);
  void StopWatching();

  std::vector<PluginView> List() const;
  std::optional<PluginView> Get(const std::string& id) const;

  // Invokes one plugin (its current load). A hook without `timeout` gets the timeout the plugin
  // registered for it, else DefaultHookTimeout. Errors: not_found (no such plugin),
  // plugin_unavailable (disabled or not running), and the runner's codes.
  Result<json::value> InvokeHook(const std::string& id, const std::string& hook,
                                 const std::optional<json::value>& event,
                                 std::optional<std::chrono::milliseconds> timeout = {});
  Result<json::value> InvokeRoute(const std::string& id, const std::string& route,
                                  const std::optional<json::value>& input,
                                  const json::value& request);

  // The effective timeout of a hook for a plugin that does not register it.
  std::chrono::milliseconds DefaultHookTimeout(const std::string& id) const;

  // The enabled, running plugins that registered `hook`, with their registration.
  std::vector<std::pair<std::string, HookRegistration>> Registered(const std::string& hook) const;

 private:
  struct Entry {
    manifest::Bundle bundle;
    std::string source;
    bool enabled = true;
    std::optional<runner::PluginHandle> handle;
    std::vector<HookRegistration> hooks;
    std::vector<std::string> skipped_hooks;
    std::map<std::string, bool> routes;
    std::string error;
    std::string installed_at, updated_at;
  };

  // One invocation through `call`, retried once on a newer load, with its metrics and log line.
  Result<json::value> Invoke(
      const std::string& id, const char* kind, const std::string& name,
      const runner::PluginHandle& handle,
      const std::function<Result<json::value>(const runner::PluginHandle&)>& call);
  static const char* const kStoredColumns;  // of _ps_plugins, in EntryFromRow's order
  static std::optional<Entry> EntryFromRow(const std::vector<store::Value>& row);
  // Starts the entry's bundle and fills handle, hooks and routes (or error).
  Status StartEntry(const std::string& id, Entry& e);
  void Describe(const std::string& id, Entry& e);
  Status Persist(const Entry& e);
  void FireLifecycle(const std::string& id, const std::string& hook, const json::value& event);
  PluginView View(const std::string& id, const Entry& e) const;
  // The plugin's current handle, or why there is none. With `hook`, also the timeout the plugin
  // registered for it (unset when it registered none).
  std::optional<runner::PluginHandle> HandleOf(
      const std::string& id, Status* why, const std::string* hook = nullptr,
      std::optional<std::chrono::milliseconds>* hook_timeout = nullptr) const;

  store::Database& db_;
  runner::Runner& runner_;
  Metrics& metrics_;
  RegistryOptions options_;
  std::mutex lifecycle_mu_;  // one install/uninstall/enable/disable at a time
  mutable std::shared_mutex mu_;
  std::map<std::string, Entry> entries_;
  bool sync_failing_ = false;  // guarded by lifecycle_mu_
  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stop_watching_ = false;
  std::thread watcher_;
};

// Hooks whose before-semantics chain (sequential, results may replace the chained field or
// veto); every other hook runs in parallel.
bool IsSequentialHook(const std::string& hook);

}  // namespace ps::server
