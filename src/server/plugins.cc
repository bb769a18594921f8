#include "server/plugins.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "capabilities/capabilities.h"
#include "common/ids.h"

namespace ps::server {
namespace {

using Clock = std::chrono::steady_clock;

const manifest::HookDecl* FindDecl(const manifest::Manifest& m, const std::string& hook) {
  for (const auto& h : m.hooks)
    if (h.name == hook) return &h;
  return nullptr;
}

const manifest::RouteDecl* FindRoute(const manifest::Manifest& m, const std::string& route) {
  for (const auto& r : m.routes)
    if (r.name == route) return &r;
  return nullptr;
}

// A logfmt value: quoted when it holds spaces, quotes or '='.
std::string LogValue(const std::string& v) {
  bool plain = !v.empty();
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\\') plain = false;
  return plain ? v : Quote(v);
}

}  // namespace

bool IsSequentialHook(const std::string& hook) {
  return hook == "content:beforeSave" || hook == "content:beforeDelete" ||
         hook == "media:beforeUpload" || hook == "email:beforeSend" ||
         hook == "comment:beforeCreate";
}

PluginRegistry::PluginRegistry(store::Database& db, runner::Runner& runner, Metrics& metrics,
                               RegistryOptions options)
    : db_(db), runner_(runner), metrics_(metrics), options_(std::move(options)) {
  if (!options_.limits_for) {
    options_.limits_for = [](const std::string&) { return runner::Limits{}; };
  }
}

std::chrono::milliseconds PluginRegistry::DefaultHookTimeout(const std::string& id) const {
  return std::chrono::milliseconds(
      std::min(options_.default_hook_timeout_ms, options_.limits_for(id).wall_ms));
}

void PluginRegistry::Describe(const std::string& id, Entry& e) {
  e.hooks.clear();
  e.skipped_hooks.clear();
  e.routes.clear();
  auto info = runner_.Info(id);
  if (!info) return;
  const manifest::Manifest& m = e.bundle.manifest;
  caps::CapabilitySet caps(m.capabilities);
  const int64_t wall = options_.limits_for(id).wall_ms;

  if (auto* hooks = info->described.if_contains("hooks"); hooks && hooks->is_object()) {
    for (const auto& kv : hooks->get_object()) {
      std::string name(kv.key());
      if (!manifest::IsHookName(name)) {
        spdlog::warn("plugin {}: its module defines an unknown hook {}; ignored", id, name);
        continue;
      }
      const manifest::HookDecl* decl = FindDecl(m, name);
      if (m.has_hooks && !decl) {
        spdlog::info(
            "plugin {}: hook {} is defined by the module but not listed in the "
            "manifest's hooks; not registered",
            id, name);
        continue;
      }
      std::string_view need = manifest::HookRequiredCapability(name);
      if (!need.empty() && !caps.Has(need)) {
        e.skipped_hooks.push_back(name + ": needs " + std::string(need));
        spdlog::warn(
            "plugin {}: hook {} needs capability {}, which the manifest does not declare; "
            "it is not registered",
            id, name, need);
        continue;
      }
      const json::object empty;
      const json::object& opts = kv.value().is_object() ? kv.value().get_object() : empty;
      HookRegistration reg;
      reg.hook = name;
      if (auto* p = opts.if_contains("priority"); p && IsNumber(*p)) {
        reg.priority = int64_t(ToDouble(*p));
      } else if (decl && decl->priority) {
        reg.priority = *decl->priority;
      }
      int64_t timeout = options_.default_hook_timeout_ms;
      if (auto* t = opts.if_contains("timeout"); t && IsNumber(*t) && ToDouble(*t) >= 1) {
        timeout = int64_t(ToDouble(*t));
      } else if (decl && decl->timeout_ms) {
        timeout = *decl->timeout_ms;
      }
      reg.timeout_ms = std::min(timeout, wall);
      if (auto* d = opts.if_contains("dependencies"); d && d->is_array()) {
        for (const auto& dep : d->get_array())
          if (dep.is_string()) reg.dependencies.emplace_back(dep.get_string());
      } else if (decl) {
        reg.dependencies = decl->dependencies;
      }
      if (auto* p = opts.if_contains("errorPolicy"); p && p->is_string()) {
        reg.error_policy = p->get_string() == "abort" ? "abort" : "continue";
      } else if (decl && decl->error_policy) {
        reg.error_policy = *decl->error_policy == "abort" ? "abort" : "continue";
      }
      if (auto* x = opts.if_contains("exclusive"); x && x->is_bool()) {
        reg.exclusive = x->as_bool();
      } else if (decl) {
        reg.exclusive = decl->exclusive;
      }
      e.hooks.push_back(std::move(reg));
    }
  }
  if (auto* routes = info->described.if_contains("routes"); routes && routes->is_object()) {
    for (const auto& kv : routes->get_object()) {
      std::string name(kv.key());
      bool is_public = false;
      if (kv.value().is_object()) {
        if (auto* p = kv.value().get_object().if_contains("public"); p && p->is_bool())
          is_public = p->as_bool();
      }
      if (const auto* r = FindRoute(m, name); r && r->is_public) is_public = true;
      e.routes[name] = is_public;
    }
  }
}

Status PluginRegistry::StartEntry(const std::string& id, Entry& e) {
  auto h = runner_.Load(e.bundle);
  if (!h.ok()) {
    e.handle.reset();
    e.error = h.status().message();
    spdlog::error("plugin {} {} failed to start: {}", id, e.bundle.manifest.version, e.error);
    return h.status();
  }
  e.handle = *h;
  e.error.clear();
  Describe(id, e);
  auto info = runner_.Info(id);
  bool running = info && info->pid != 0;
  spdlog::info("plugin {} {} {} ({} hooks registered, {} routes)", id, h->version,
               running ? "started" : "loaded; its process starts on its first call", e.hooks.size(),
               e.routes.size());
  return Status::Ok();
}

void PluginRegistry::FireLifecycle(const std::string& id, const std::string& hook,
                                   const json::value& event) {
  if (options_.embedded) return;
  std::optional<std::chrono::milliseconds> timeout;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.handle) return;
    for (const auto& h : it->second.hooks)
      if (h.hook == hook) timeout = std::chrono::milliseconds(h.timeout_ms);
  }
  if (!timeout) return;  // the plugin does not define it
  auto r = InvokeHook(id, hook, event, timeout);
  if (!r.ok()) {
    spdlog::warn("plugin {}: {} failed ({}): {}", id, hook, ErrorCodeName(r.status().error_code()),
                 r.status().message());
  }
}

PluginRegistry::~PluginRegistry() { StopWatching(); }

void PluginRegistry::Start(const std::vector<std::pair<manifest::Bundle, std::string>>& bundles) {
  std::lock_guard<std::mutex> life(lifecycle_mu_);
  std::map<std::string, std::pair<manifest::Bundle, std::string>> given;
  std::vector<std::string> given_order;
  for (const auto& [b, source] : bundles) {
    if (given.count(b.manifest.id)) {
      spdlog::error("{}: plugin id {} is also given by {}; ignored", source, b.manifest.id,
                    given[b.manifest.id].second);
      continue;
    }
    given[b.manifest.id] = {b, source};
    given_order.push_back(b.manifest.id);
  }

  std::vector<Entry> stored;
  if (!options_.embedded) {
    auto conn = db_.Acquire();
    auto rows =
        conn->Query(std::string("SELECT ") + kStoredColumns + " FROM _ps_plugins ORDER BY id");
    if (!rows.ok()) {
      spdlog::error("cannot read the installed plugins: {}", rows.status().message());
    } else {
      for (const auto& row : rows->rows) {
        if (auto e = EntryFromRow(row)) stored.push_back(std::move(*e));
      }
    }
  }

  {
    // Every module about to be started: those the validation cache does not know start together
    // in one process first, so that a first start with many new plugins costs one workerd start.
    std::vector<const manifest::Bundle*> starting;
    for (const auto& e : stored) {
      if (!e.enabled) continue;
      auto it = given.find(e.bundle.manifest.id);
      starting.push_back(it != given.end() ? &it->second.first : &e.bundle);
    }
    for (const auto& id : given_order) {
      auto it = given.find(id);
      bool stored_too = std::any_of(stored.begin(), stored.end(),
                                    [&](const Entry& e) { return e.bundle.manifest.id == id; });
      if (it != given.end() && !stored_too) starting.push_back(&it->second.first);
    }
    runner_.Validate(starting);
  }

  std::vector<std::pair<std::string, std::vector<std::string>>> to_fire;
  for (auto& e : stored) {
    std::string id = e.bundle.manifest.id;
    bool updated = false;
    if (auto it = given.find(id); it != given.end()) {
      if (!manifest::SameBundle(it->second.first, e.bundle) || e.source != it->second.second) {
        updated = !manifest::SameBundle(it->second.first, e.bundle);
        e.bundle = it->second.first;
        e.source = it->second.second;
        e.updated_at = NowIso();
        if (Status st = Persist(e); !st.ok()) spdlog::error("{}", st.message());
        if (updated) spdlog::info("plugin {} updated from {}", id, e.source);
      }
      given.erase(it);
    }
    if (e.enabled && StartEntry(id, e).ok() && updated) {
      to_fire.push_back({id, {"plugin:activate"}});
    }
    std::unique_lock<std::shared_mutex> lock(mu_);
    entries_[id] = std::move(e);
  }
  for (const auto& id : given_order) {
    auto it = given.find(id);
    if (it == given.end()) continue;
    Entry e;
    e.bundle = it->second.first;
    e.source = it->second.second;
    e.installed_at = e.updated_at = NowIso();
    for (const auto& w : e.bundle.manifest.warnings) spdlog::warn("{}", w);
    bool started = StartEntry(id, e).ok();
    if (Status st = Persist(e); !st.ok()) spdlog::error("{}", st.message());
    spdlog::info("plugin {} {} installed from {}", id, e.bundle.manifest.version, e.source);
    if (started) to_fire.push_back({id, {"plugin:install", "plugin:activate"}});
    std::unique_lock<std::shared_mutex> lock(mu_);
    entries_[id] = std::move(e);
  }
  for (const auto& [id, hooks] : to_fire) {
    for (const auto& h : hooks) FireLifecycle(id, h, json::object());
  }
}

Result<InstallOutcome> PluginRegistry::Install(const manifest::Bundle& bundle,
                                               const std::string& source) {
  std::lock_guard<std::mutex> life(lifecycle_mu_);
  const std::string id = bundle.manifest.id;
  std::optional<Entry> existing;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (auto it = entries_.find(id); it != entries_.end()) existing = it->second;
  }
  Entry e;
  e.bundle = bundle;
  e.source = source;
  std::string now = NowIso();
  e.installed_at = existing ? existing->installed_at : now;
  e.updated_at = now;
  e.enabled = existing ? existing->enabled : true;
  for (const auto& w : bundle.manifest.warnings) spdlog::warn("{}", w);
  if (e.enabled) PS_TRY(StartEntry(id, e));
  if (Status st = Persist(e); !st.ok()) {
    if (!existing && e.handle) (void)runner_.Terminate(*e.handle);
    return st;
  }
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    entries_[id] = e;
  }
  spdlog::info("plugin {} {} {} from {}", id, bundle.manifest.version,
               existing ? "updated" : "installed", source);
  if (e.handle) {
    if (!existing) FireLifecycle(id, "plugin:install", json::object());
    FireLifecycle(id, "plugin:activate", json::object());
  }
  return existing ? InstallOutcome::kUpdated : InstallOutcome::kInstalled;
}

Status PluginRegistry::Uninstall(const std::string& id, bool keep_data) {
  std::lock_guard<std::mutex> life(lifecycle_mu_);
  std::optional<runner::PluginHandle> handle;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return Status(ErrorCode::kNotFound, "Plugin not installed: " + id);
    handle = it->second.handle;
  }
  if (handle) {
    FireLifecycle(id, "plugin:deactivate", json::object());
    json::object ev;
    ev["deleteData"] = !keep_data;
    FireLifecycle(id, "plugin:uninstall", ev);
  }
  if (options_.embedded) {
    keep_data = true;
  } else {
    auto conn = db_.Acquire();
    auto r = conn->Exec("DELETE FROM _ps_plugins WHERE id = ?", {id});
    if (!r.ok())
      return Status(r.status().code(), "cannot uninstall " + id + ": " + r.status().message());
  }
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    entries_.erase(id);
  }
  if (handle) (void)runner_.Terminate(*handle);
  if (!keep_data) {
    if (Status st = runner_.bridge().DeletePluginData(id); !st.ok()) {
      spdlog::error("plugin {} uninstalled, but its data could not be deleted: {}", id,
                    st.message());
    }
  }
  spdlog::info("plugin {} uninstalled{}", id, keep_data ? " (data kept)" : "");
  return Status::Ok();
}

Status PluginRegistry::Disable(const std::string& id) {
  std::lock_guard<std::mutex> life(lifecycle_mu_);
  Entry e;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return Status(ErrorCode::kNotFound, "Plugin not installed: " + id);
    e = it->second;
  }
  if (!e.enabled) return Status::Ok();
  if (e.handle) FireLifecycle(id, "plugin:deactivate", json::object());
  e.enabled = false;
  e.updated_at = NowIso();
  PS_TRY(Persist(e));
  std::optional<runner::PluginHandle> handle = e.handle;
  e.handle.reset();
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    entries_[id] = e;
  }
  if (handle) (void)runner_.Terminate(*handle);
  spdlog::info("plugin {} disabled", id);
  return Status::Ok();
}

Status PluginRegistry::Enable(const std::string& id) {
  std::lock_guard<std::mutex> life(lifecycle_mu_);
  Entry e;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return Status(ErrorCode::kNotFound, "Plugin not installed: " + id);
    e = it->second;
  }
  if (e.enabled && e.handle) {
    auto info = runner_.Info(id);
    if (info && info->state == workerd::ProcessState::kQuarantined) {
      PS_TRY(runner_.Enable(id));
      spdlog::info("plugin {} enabled again after quarantine", id);
    }
    return Status::Ok();
  }
  bool was_enabled = e.enabled;
  Status started = StartEntry(id, e);
  if (!started.ok()) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    entries_[id].error = e.error;
    return started;
  }
  e.enabled = true;
  e.updated_at = NowIso();
  if (Status st = Persist(e); !st.ok()) {
    (void)runner_.Terminate(*e.handle);
    return st;
  }
  {
    std::unique_lock<std::shared_mutex> lock(mu_);
    entries_[id] = e;
  }
  spdlog::info("plugin {} {}", id, was_enabled ? "started again" : "enabled");
  FireLifecycle(id, "plugin:activate", json::object());
  return Status::Ok();
}

PluginView PluginRegistry::View(const std::string& id, const Entry& e) const {
  PluginView v;
  v.id = id;
  v.version = e.bundle.manifest.version;
  v.source = e.source;
  v.manifest = e.bundle.manifest;
  v.enabled = e.enabled;
  v.hooks = e.hooks;
  v.skipped_hooks = e.skipped_hooks;
  v.routes = e.routes;
  v.error = e.error;
  v.installed_at = e.installed_at;
  v.updated_at = e.updated_at;
  if (!e.enabled) {
    v.state = "disabled";
  } else if (!e.handle) {
    v.state = "quarantined";
  } else {
    v.info = runner_.Info(id);
    if (!v.info || v.info->handle.epoch != e.handle->epoch) {
      v.state = "starting";
    } else {
      v.state = runner::StateName(*v.info);
    }
  }
  return v;
}

std::vector<PluginView> PluginRegistry::List() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<PluginView> out;
  for (const auto& [id, e] : entries_) out.push_back(View(id, e));
  return out;
}

std::optional<PluginView> PluginRegistry::Get(const std::string& id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return View(id, it->second);
}

std::vector<std::pair<std::string, HookRegistration>> PluginRegistry::Registered(
    const std::string& hook) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<std::pair<std::string, HookRegistration>> out;
  for (const auto& [id, e] : entries_) {
    if (!e.enabled || !e.handle) continue;
    for (const auto& h : e.hooks)
      if (h.hook == hook) out.emplace_back(id, h);
  }
  return out;
}

std::optional<runner::PluginHandle> PluginRegistry::HandleOf(
    const std::string& id, Status* why, const std::string* hook,
    std::optional<std::chrono::milliseconds>* hook_timeout) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  auto it = entries_.find(id);
  if (hook && it != entries_.end()) {
    for (const auto& h : it->second.hooks)
      if (h.hook == *hook) *hook_timeout = std::chrono::milliseconds(h.timeout_ms);
  }
  if (it == entries_.end()) {
    *why = Status(ErrorCode::kNotFound, "Plugin not installed: " + id);
    return std::nullopt;
  }
  if (!it->second.enabled) {
    *why = Status(ErrorCode::kPluginUnavailable,
                  "Plugin sandbox unavailable for " + id + ": the plugin is disabled");
    return std::nullopt;
  }
  if (!it->second.handle) {
    *why = Status(ErrorCode::kPluginUnavailable, "Plugin sandbox unavailable for " + id +
                                                     ": it failed to start: " + it->second.error);
    return std::nullopt;
  }
  return it->second.handle;
}

Result<json::value> PluginRegistry::InvokeHook(const std::string& id, const std::string& hook,
                                               const std::optional<json::value>& event,
                                               std::optional<std::chrono::milliseconds> timeout) {
  Status why;
  std::optional<std::chrono::milliseconds> registered;
  auto handle = HandleOf(id, &why, &hook, &registered);
  if (!handle) return why;
  std::chrono::milliseconds limit = timeout      ? *timeout
                                    : registered ? *registered
                                                 : DefaultHookTimeout(id);
  return Invoke(id, "hook", hook, *handle, [&](const runner::PluginHandle& h) {
    return runner_.InvokeHook(h, hook, event, limit);
  });
}

Result<json::value> PluginRegistry::InvokeRoute(const std::string& id, const std::string& route,
                                                const std::optional<json::value>& input,
                                                const json::value& request) {
  Status why;
  auto handle = HandleOf(id, &why);
  if (!handle) return why;
  return Invoke(id, "route", route, *handle, [&](const runner::PluginHandle& h) {
    return runner_.InvokeRoute(h, route, input, request);
  });
}

Result<json::value> PluginRegistry::Invoke(
    const std::string& id, const char* kind, const std::string& name,
    const runner::PluginHandle& handle,
    const std::function<Result<json::value>(const runner::PluginHandle&)>& call) {
  auto start = Clock::now();
  auto r = call(handle);
  // An update between resolving the handle and invoking it: try the new load once.
  if (!r.ok() && r.status().error_code() == ErrorCode::kPluginUnavailable) {
    Status why;
    auto again = HandleOf(id, &why);
    if (again && again->epoch != handle.epoch) {
      start = Clock::now();
      r = call(*again);
    }
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ErrorCode code = r.ok() ? ErrorCode::kNone : r.status().error_code();
  if (!r.ok() && code == ErrorCode::kNone) code = ErrorCode::kInternalError;
  // An unknown route is the caller's mistake, not the plugin's failure.
  bool callers_mistake = std::string_view(kind) == "route" && code == ErrorCode::kNotFound;
  metrics_.RecordInvocation(id, kind, seconds, callers_mistake ? ErrorCode::kNone : code);
  if (r.ok()) {
    spdlog::info("invocation plugin={} {}={} ms={:.1f} outcome=ok", id, kind, LogValue(name),
                 seconds * 1000);
  } else {
    spdlog::warn("invocation plugin={} {}={} ms={:.1f} outcome=error code={} message={}", id, kind,
                 LogValue(name), seconds * 1000, ErrorCodeName(code),
                 LogValue(r.status().message()));
  }
  return r;
}

}  // namespace ps::server
