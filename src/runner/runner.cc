#include "runner/runner.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/crypto.h"
#include "common/encoding.h"
#include "runner/invoke_channel.h"
#include "runner/limits.h"
#include "runner/runner_impl.h"
#include "runner/validation_cache.h"
#include "workerd/config.h"

namespace ps::runner {
namespace {

namespace fs = std::filesystem;

std::string SafeName(const std::string& s) {
  std::string out;
  for (char c : s)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out;
}

}  // namespace

const char* StateName(const PluginInfo& info) {
  if (info.state != workerd::ProcessState::kStopped) return workerd::StateName(info.state);
  switch (info.stop) {
    case StopReason::kIdle:
      return "idle-stopped";
    case StopReason::kStartFailed:
      return "start-failed";
    case StopReason::kNotStarted:
      break;
  }
  return "stopped";
}

std::string FindWorkerd(const std::string& start) {
  std::error_code ec;
  fs::path dir = fs::absolute(start, ec);
  for (int i = 0; i < 12 && !dir.empty(); ++i) {
    for (const char* plat : {"linux-64", "linux-arm64"}) {
      fs::path bin = dir / "node_modules" / "@cloudflare" / (std::string("workerd-") + plat) /
                     "bin" / "workerd";
      if (access(bin.c_str(), X_OK) == 0) return bin.string();
    }
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return "";
}

Runner::Runner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Runner>> Runner::Create(store::Database& db, RunnerOptions options,
                                               bridge::BridgeOptions bridge_options) {
  curl_global_init(CURL_GLOBAL_ALL);
  auto impl = std::make_unique<Impl>(db);
  impl->opt = std::move(options);
  auto& opt = impl->opt;

  // Where things are: explicit options, then the environment, then beside this executable.
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (opt.workerd_path.empty()) {
    if (const char* e = getenv("PLUGIN_SANDBOX_WORKERD")) opt.workerd_path = e;
  }
  if (opt.workerd_path.empty()) opt.workerd_path = FindWorkerd(fs::current_path(ec).string());
  if (opt.workerd_path.empty() && !self.empty()) {
    opt.workerd_path = FindWorkerd(self.parent_path().string());
  }
  if (opt.workerd_path.empty() || access(opt.workerd_path.c_str(), X_OK) != 0) {
    return InvalidArgument(
        "workerd not found: run scripts/bootstrap (it installs the pinned workerd into "
        "node_modules), or set PLUGIN_SANDBOX_WORKERD to the binary");
  }
  if (opt.launcher_path.empty()) {
    if (const char* e = getenv("PLUGIN_SANDBOX_LAUNCHER")) opt.launcher_path = e;
  }
  if (opt.launcher_path.empty() && !self.empty()) {
    opt.launcher_path = (self.parent_path() / "plugin-sandbox-launch").string();
  }
  if (access(opt.launcher_path.c_str(), X_OK) != 0) {
    return InvalidArgument("plugin-sandbox-launch not found at " + opt.launcher_path +
                           " (it is built beside plugin-sandbox; set PLUGIN_SANDBOX_LAUNCHER)");
  }

  // The private runtime directory: sockets and generated configs, mode 0700. Unix socket paths
  // are limited to 107 bytes, so a deep data directory falls back to one under /tmp.
  fs::path run = fs::absolute(fs::path(opt.data_dir) / "run", ec);
  if (run.string().size() > 80) {
    std::string tmpl = (fs::temp_directory_path() / "plugin-sandbox-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return Internal("cannot create a runtime directory in /tmp");
    run = tmpl;
  }
  fs::create_directories(run, ec);
  if (ec) return Internal("cannot create runtime directory " + run.string() + ": " + ec.message());
  ::chmod(run.c_str(), 0700);
  impl->run_dir = run.string();
  if (opt.mode == IsolationMode::kShared) {
    impl->shared_dir = impl->run_dir + "/shared";
    fs::create_directories(impl->shared_dir, ec);
    ::chmod(impl->shared_dir.c_str(), 0700);
    PS_TRY(WriteRefuseWorker(impl->shared_dir));
    spdlog::warn(
        "isolation mode 'shared': every plugin runs in one workerd process. This gives up "
        "containment: a plugin that loops, exhausts memory or crashes stalls or restarts every "
        "plugin, and each load or unload restarts them all. Use 'per-plugin' unless memory is "
        "too tight for it.");
  }

  Impl* raw = impl.get();
  bridge_options.email = [raw](const json::object& msg, const std::string& source) -> Status {
    bridge::EmailSender sender;
    {
      std::lock_guard<std::mutex> lock(raw->mu);
      sender = raw->email;
    }
    if (!sender) {
      return InvalidArgument("Email is not configured. No email provider is available.");
    }
    return sender(msg, source);
  };
  impl->bridge = std::make_unique<bridge::Bridge>(db, bridge::TokenAuthority::Generate(),
                                                  std::move(bridge_options));
  impl->backing = std::make_unique<bridge::BackingService>(
      *impl->bridge, [raw](const std::string& id, const std::string& version,
                           const std::string& inv) { return raw->Lookup(id, version, inv); });
  workerd::SupervisorOptions sup = opt.supervision;
  sup.launcher = opt.launcher_path;
  sup.workerd = opt.workerd_path;
  sup.env_passthrough = opt.env_passthrough;
  impl->supervisor = std::make_unique<workerd::Supervisor>(std::move(sup));
  impl->budget_mb = opt.memory_budget_mb;
  impl->cache = std::make_unique<ValidationCache>(
      opt.mode == IsolationMode::kShared ? "" : opt.validation_cache_dir, opt.workerd_path);
  impl->watchdog = std::thread([raw] { raw->Watch(); });
  return std::unique_ptr<Runner>(new Runner(std::move(impl)));
}

Runner::~Runner() {
  {
    std::lock_guard<std::mutex> lock(impl_->wd_mu);
    impl_->wd_stop = true;
  }
  impl_->wd_cv.notify_all();
  if (impl_->watchdog.joinable()) impl_->watchdog.join();
  TerminateAll();
  impl_->supervisor.reset();
  impl_->backing.reset();
  impl_->bridge.reset();
  std::error_code ec;
  fs::remove(impl_->run_dir, ec);  // only if empty
}

Result<PluginHandle> Runner::Load(const manifest::Bundle& bundle) {
  auto& impl = *impl_;
  const auto& m = bundle.manifest;
  auto p = std::make_shared<Plugin>();
  p->handle = {m.id, m.version, impl.next_epoch++};
  p->manifest = m;
  p->limits = impl.LimitsFor(m.id);
  std::string tag = std::to_string(p->handle.epoch);
  p->dir = impl.run_dir + "/" + SafeName(m.id) + "-" + tag;
  p->sock_dir = impl.run_dir + "/s" + tag;
  p->socket = p->sock_dir + "/w.sock";
  p->bridge_socket = p->sock_dir + "/b.sock";
  {
    std::error_code dir_ec;
    fs::create_directories(p->sock_dir, dir_ec);
    if (dir_ec) return Internal("cannot create " + p->sock_dir + ": " + dir_ec.message());
    ::chmod(p->sock_dir.c_str(), 0700);
  }
  const auto& tokens = impl.bridge->tokens();
  std::string invoke_token = tokens.InvokeToken(m.id, m.version);
  p->invoke_auth = "Bearer " + invoke_token;

  impl.bridge->RegisterPlugin(m);

  WrapperParams wp{m.id,
                   m.version,
                   impl.opt.site,
                   m.capabilities,
                   tokens.IssueBridgeToken(bridge::Bridge::GrantFor(m)),
                   invoke_token};
  if (impl.shared()) {
    PS_TRY(impl.backing->Listen(p->bridge_socket, m.id, m.version));
    return LoadShared(p, wp, bundle.module_source);
  }

  std::weak_ptr<Plugin> weak = p;
  Impl* raw = impl_.get();
  workerd::ProcessSpec spec;
  spec.name = m.id;
  spec.config_dir = p->dir;
  spec.config_file = kConfigFile;
  spec.ready_socket = p->socket;
  spec.ready_auth = p->invoke_auth;
  spec.heap_mb = p->limits.memory_mb;
  spec.on_ready = [raw, weak](int gen, pid_t pid, const std::string& body) {
    if (auto sp = weak.lock()) raw->OnReady(sp, gen, pid, body);
  };
  spec.on_exit = [raw, weak](const workerd::ProcessExit& ex) {
    if (auto sp = weak.lock()) raw->OnExit(sp, ex);
  };
  std::string id = m.id;
  spec.on_output = [id](const std::string& line) {
    if (!line.empty()) spdlog::info("[plugin:{}] {}", id, line);
  };
  p->always_on = impl.AlwaysOn(m.id);
  p->cache_key = impl.cache->Key(bundle.module_source, p->limits.memory_mb);
  if (!p->always_on) {
    if (auto described = impl.cache->Get(p->cache_key)) {
      // Started before with this very module and runtime: what it declares is known, and its
      // process (and the files it needs) waits for its first invocation.
      p->described = std::move(*described);
      p->pending = std::make_unique<PendingFiles>(PendingFiles{wp, bundle.module_source});
      p->proc = impl.supervisor->Register(std::move(spec));
      impl.Install(p);
      spdlog::debug("plugin {} {} loaded from the validation cache; not started", m.id, m.version);
      return p->handle;
    }
  }
  PS_TRY(impl.Prepare(*p, wp, bundle.module_source));
  p->proc = impl.supervisor->Start(std::move(spec));

  if (Status st = impl.WaitFirstReady(p); !st.ok()) {
    impl.Teardown(p);
    return st;
  }
  {
    json::object described;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      described = p->described;
    }
    impl.cache->Put(p->cache_key, described);
  }
  impl.Install(p);
  return p->handle;
}

Result<PluginHandle> Runner::LoadShared(const std::shared_ptr<Plugin>& p, const WrapperParams& wp,
                                        const std::string& source) {
  auto& impl = *impl_;
  p->dir = impl.shared_dir;
  std::string prefix = SafeName(p->handle.id) + "-" + std::to_string(p->handle.epoch) + "-";
  auto modules = WriteWorkerFiles(p->dir, prefix, wp, source);
  if (!modules.ok()) {
    impl.backing->Close(p->bridge_socket);
    return modules.status();
  }
  p->modules = *modules;
  auto members = impl.Members(p->handle.id);
  members.push_back(p);
  impl.RestartShared(members, p);
  if (Status st = impl.WaitFirstReady(p); !st.ok()) {
    // Bring the others back without the plugin that could not start.
    members.pop_back();
    impl.RestartShared(members, members.empty() ? nullptr : members.front());
    impl.Teardown(p);
    return st;
  }
  impl.Install(p);
  return p->handle;
}

Result<json::value> Runner::InvokeHook(const PluginHandle& h, const std::string& hook,
                                       const std::optional<json::value>& event) {
  json::object body;
  if (event) body["event"] = *event;
  return impl_->Invoke(h, "hook", hook, body);
}

Result<json::value> Runner::InvokeHook(const PluginHandle& h, const std::string& hook,
                                       const std::optional<json::value>& event,
                                       std::chrono::milliseconds timeout) {
  json::object body;
  if (event) body["event"] = *event;
  return impl_->Invoke(h, "hook", hook, body, int64_t(timeout.count()));
}

Result<json::value> Runner::InvokeRoute(const PluginHandle& h, const std::string& route,
                                        const std::optional<json::value>& input,
                                        const json::value& request) {
  json::object body;
  if (input) body["input"] = *input;
  body["request"] = request;
  return impl_->Invoke(h, "route", route, body);
}

Status Runner::Terminate(const PluginHandle& h) {
  std::shared_ptr<Plugin> p;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->plugins.find(h.id);
    if (it == impl_->plugins.end() || it->second->handle.epoch != h.epoch) {
      return Status(ErrorCode::kNotFound,
                    "Plugin " + h.id + " is not loaded (or the handle is stale)");
    }
    p = it->second;
    impl_->plugins.erase(it);
  }
  if (impl_->shared()) {
    auto members = impl_->Members();
    impl_->RestartShared(members, members.empty() ? nullptr : members.front());
  }
  impl_->Teardown(p);
  return Status::Ok();
}

void Runner::TerminateAll() {
  std::map<std::string, std::shared_ptr<Plugin>> all;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    all.swap(impl_->plugins);
  }
  if (impl_->shared()) impl_->RestartShared({}, nullptr);
  for (auto& [id, p] : all) impl_->Teardown(p);
}

bool Runner::IsAvailable(const PluginHandle& h) const {
  auto p = impl_->Find(h.id);
  if (!p || p->handle.epoch != h.epoch) return false;
  return impl_->supervisor->state(p->proc) != workerd::ProcessState::kQuarantined;
}

bool Runner::IsHealthy() const {
  for (const auto& p : impl_->Members()) {
    auto state = impl_->supervisor->state(p->proc);
    // A stopped plugin is healthy (its next invocation starts it) unless its last start failed.
    if (state != workerd::ProcessState::kReady && state != workerd::ProcessState::kStopped) {
      return false;
    }
    std::lock_guard<std::mutex> lock(p->mu);
    if (p->start_failed) return false;
  }
  return true;
}

void Runner::SetEmailSender(bridge::EmailSender sender) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->email = std::move(sender);
}

Status Runner::Enable(const std::string& id) {
  auto p = impl_->Find(id);
  if (!p) return Status(ErrorCode::kNotFound, "Plugin " + id + " is not loaded");
  impl_->supervisor->Enable(p->proc);
  return Status::Ok();
}

void Runner::SetMemoryBudget(int64_t mb) { impl_->budget_mb = std::max<int64_t>(0, mb); }

std::optional<PluginInfo> Runner::Info(const std::string& id) const {
  auto p = impl_->Find(id);
  if (!p) return std::nullopt;
  PluginInfo info;
  info.handle = p->handle;
  info.state = impl_->supervisor->state(p->proc);
  info.limits = p->limits;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    info.pid = p->pid;
    info.described = p->described;
    if (p->start_failed) {
      info.stop = StopReason::kStartFailed;
    } else if (!p->stopped_for.empty()) {
      info.stop = StopReason::kIdle;
    }
  }
  info.starts = p->starts;
  info.idle_stops = p->idle_stops;
  info.budget_stops = p->budget_stops;
  info.always_on = p->always_on;
  info.invocations = p->invocations;
  info.failures = p->failures;
  info.restarts = p->restarts;
  info.limit_kills = p->limit_kills;
  info.cpu_reprieves = p->cpu_reprieves;
  info.socket_path = p->socket;
  if (info.pid != 0) info.rss_bytes = ResidentBytes(info.pid).value_or(0);
  if (info.pid != 0 && p->proc != 0) info.resources = impl_->supervisor->resources(p->proc);
  return info;
}

std::vector<PluginInfo> Runner::List() const {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [id, p] : impl_->plugins) ids.push_back(id);
  }
  std::vector<PluginInfo> out;
  for (auto& id : ids)
    if (auto i = Info(id)) out.push_back(std::move(*i));
  return out;
}

std::optional<PluginHandle> Runner::Current(const std::string& id) const {
  auto p = impl_->Find(id);
  if (!p) return std::nullopt;
  return p->handle;
}

bridge::Bridge& Runner::bridge() { return *impl_->bridge; }

uint64_t Runner::invoke_channels_opened() const { return impl_->invoke_channels_opened; }

uint64_t Runner::bridge_channels_opened() const { return impl_->backing->channels_opened(); }
size_t Runner::bridge_channels_open() const { return impl_->backing->channels_open(); }

const workerd::Containment& Runner::containment() const { return impl_->supervisor->containment(); }

bool Runner::network_namespace_active() const {
  return impl_->supervisor->network_namespace_active();
}

}  // namespace ps::runner
