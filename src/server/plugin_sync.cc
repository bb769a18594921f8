// The registry's record in the database (`_ps_plugins`) and what other hosts on the same
// database did to it: Persist() writes an install, update, enable or disable; Sync(), every
// plugin-sync-ms on its own thread, loads, updates, enables, disables and unloads what the
// record says another host changed. The rest of PluginRegistry is in plugins.cc.
#include <spdlog/spdlog.h>

#include "server/plugins.h"

namespace ps::server {

Status PluginRegistry::Persist(const Entry& e) {
  if (options_.embedded) return Status::Ok();
  auto conn = db_.Acquire();
  auto r = conn->Exec(
      "INSERT INTO _ps_plugins (id, version, manifest, module, source, enabled, installed_at, "
      "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET version = "
      "excluded.version, manifest = excluded.manifest, module = excluded.module, source = "
      "excluded.source, enabled = excluded.enabled, updated_at = excluded.updated_at",
      {e.bundle.manifest.id, e.bundle.manifest.version, Stringify(e.bundle.manifest.raw),
       e.bundle.module_source, e.source, int64_t(e.enabled ? 1 : 0), e.installed_at, e.updated_at});
  if (!r.ok()) {
    return Status(r.status().code(),
                  "cannot record plugin " + e.bundle.manifest.id + ": " + r.status().message());
  }
  return Status::Ok();
}

const char* const PluginRegistry::kStoredColumns =
    "id, manifest, module, source, enabled, installed_at, updated_at";

std::optional<PluginRegistry::Entry> PluginRegistry::EntryFromRow(
    const std::vector<store::Value>& row) {
  auto text = [&](int i) {
    const std::string* s = std::get_if<std::string>(&row[i]);
    return s ? *s : std::string();
  };
  std::string id = text(0);
  auto m = manifest::ParseManifestText(text(1), "installed plugin " + id + " (database)");
  if (!m.ok()) {
    spdlog::error("installed plugin {} cannot be loaded: {}", id, m.status().message());
    return std::nullopt;
  }
  Entry e;
  e.bundle.manifest = std::move(m).value();
  e.bundle.module_source = text(2);
  e.source = text(3);
  e.bundle.module_path = e.source;
  e.bundle.manifest_path = e.source;
  const int64_t* en = std::get_if<int64_t>(&row[4]);
  e.enabled = !en || *en != 0;
  e.installed_at = text(5);
  e.updated_at = text(6);
  return e;
}

void PluginRegistry::Sync() {
  if (options_.embedded) return;  // nothing of ours is in _ps_plugins
  std::lock_guard<std::mutex> life(lifecycle_mu_);
  // Connections are held for one query at a time, never across a plugin's start (which takes one
  // of its own to register the plugin's indexes).
  auto rows = db_.Acquire()->Query("SELECT id, version, enabled, updated_at FROM _ps_plugins");
  if (!rows.ok()) {
    if (!sync_failing_) {
      spdlog::warn("cannot read the installed plugins (retrying): {}", rows.status().message());
    }
    sync_failing_ = true;
    return;
  }
  if (sync_failing_) spdlog::info("installed plugins readable again");
  sync_failing_ = false;

  std::vector<std::string> changed, removed;
  {
    std::set<std::string> listed;
    std::shared_lock<std::shared_mutex> lock(mu_);
    for (const auto& row : rows->rows) {
      const std::string* id = std::get_if<std::string>(&row[0]);
      const std::string* version = std::get_if<std::string>(&row[1]);
      const int64_t* enabled = std::get_if<int64_t>(&row[2]);
      const std::string* updated = std::get_if<std::string>(&row[3]);
      if (!id || !version || !updated) continue;
      listed.insert(*id);
      auto it = entries_.find(*id);
      if (it == entries_.end() || it->second.bundle.manifest.version != *version ||
          it->second.enabled != (!enabled || *enabled != 0) || it->second.updated_at != *updated) {
        changed.push_back(*id);
      }
    }
    for (const auto& [id, e] : entries_)
      if (!listed.count(id)) removed.push_back(id);
  }

  for (const auto& id : removed) {
    std::optional<runner::PluginHandle> handle;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;
      handle = it->second.handle;
      entries_.erase(it);
    }
    if (handle) (void)runner_.Terminate(*handle);
    spdlog::info("plugin {} uninstalled by another host", id);
  }

  for (const auto& id : changed) {
    auto row = db_.Acquire()->Query(
        std::string("SELECT ") + kStoredColumns + " FROM _ps_plugins WHERE id = ?", {id});
    if (!row.ok() || row->empty()) continue;  // removed meanwhile: the next round sees it
    auto e = EntryFromRow(row->rows[0]);
    if (!e) continue;
    std::optional<Entry> existing;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      if (auto it = entries_.find(id); it != entries_.end()) existing = it->second;
    }
    std::optional<runner::PluginHandle> stop;
    if (!e->enabled) {
      if (existing && existing->handle) stop = existing->handle;
    } else if (existing && existing->handle && manifest::SameBundle(existing->bundle, e->bundle)) {
      e->handle = existing->handle;  // only metadata changed: keep the running process
      e->hooks = existing->hooks;
      e->skipped_hooks = existing->skipped_hooks;
      e->routes = existing->routes;
    } else {
      (void)StartEntry(id, *e);  // replaces a running older version; a failure is recorded
    }
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      entries_[id] = *e;
    }
    if (stop) (void)runner_.Terminate(*stop);
    spdlog::info("plugin {} {} {} by another host", id, e->bundle.manifest.version,
                 !existing            ? "installed"
                 : !e->enabled        ? "disabled"
                 : !existing->enabled ? "enabled"
                                      : "updated");
  }
}

void PluginRegistry::StartWatching(std::chrono::milliseconds period) {
  StopWatching();
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    stop_watching_ = false;
  }
  watcher_ = std::thread([this, period] {
    std::unique_lock<std::mutex> l(watch_mu_);
    while (!watch_cv_.wait_for(l, period, [this] { return stop_watching_; })) {
      l.unlock();
      Sync();
      l.lock();
    }
  });
}

void PluginRegistry::StopWatching() {
  {
    std::lock_guard<std::mutex> l(watch_mu_);
    stop_watching_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace ps::server
