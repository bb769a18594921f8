#include "server/metrics.h"

#include <cstdio>
#include <set>
#include <sstream>

namespace ps::server {
namespace {

// A label value with \, " and newlines escaped (Prometheus text format).
std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string Bound(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

void Help(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << ' ' << help << '\n' << "# TYPE " << name << ' ' << type << '\n';
}

}  // namespace

void Metrics::RecordInvocation(const std::string& plugin, const std::string& kind, double seconds,
                               ErrorCode error_code) {
  std::lock_guard<std::mutex> lock(mu_);
  PerPlugin& p = plugins_[plugin];
  ++p.invocations[kind];
  if (error_code != ErrorCode::kNone) ++p.errors[std::string(ErrorCodeName(error_code))];
  for (size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++p.buckets[i];
  ++p.count;
  p.sum += seconds;
}

void Metrics::RecordHttp(const std::string& method, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++http_[{method, status}];
}

std::map<std::string, uint64_t> Metrics::Errors(const std::string& plugin) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = plugins_.find(plugin);
  return it == plugins_.end() ? std::map<std::string, uint64_t>{} : it->second.errors;
}

std::string Metrics::Render(
    const std::vector<PluginGauges>& plugins,
    const std::map<std::string, std::map<std::string, uint64_t>>& bridge_calls,
    uint64_t bridge_channels) const {
  std::ostringstream out;
  std::lock_guard<std::mutex> lock(mu_);

  Help(out, "plugin_sandbox_plugin_info", "gauge",
       "Installed plugins (1 each), labelled with version and state.");
  for (const auto& g : plugins) {
    out << "plugin_sandbox_plugin_info{plugin=\"" << Label(g.id) << "\",version=\""
        << Label(g.version) << "\",state=\"" << Label(g.state) << "\"} 1\n";
  }
  Help(out, "plugin_sandbox_plugin_up", "gauge",
       "1 when the plugin's process is ready, else 0 (a stopped plugin starts on its next call).");
  for (const auto& g : plugins) {
    out << "plugin_sandbox_plugin_up{plugin=\"" << Label(g.id) << "\"} "
        << (g.state == "ready" ? 1 : 0) << '\n';
  }

  Help(out, "plugin_sandbox_plugin_invocations_total", "counter",
       "Hook and route invocations, by plugin and kind.");
  for (const auto& [id, p] : plugins_) {
    for (const auto& [kind, n] : p.invocations) {
      out << "plugin_sandbox_plugin_invocations_total{plugin=\"" << Label(id) << "\",kind=\""
          << Label(kind) << "\"} " << n << '\n';
    }
  }
  Help(out, "plugin_sandbox_plugin_errors_total", "counter",
       "Failed invocations, by plugin and error code.");
  for (const auto& [id, p] : plugins_) {
    for (const auto& [code, n] : p.errors) {
      out << "plugin_sandbox_plugin_errors_total{plugin=\"" << Label(id) << "\",code=\""
          << Label(code) << "\"} " << n << '\n';
    }
  }
  Help(out, "plugin_sandbox_plugin_invocation_duration_seconds", "histogram",
       "Invocation latency as the host measured it.");
  for (const auto& [id, p] : plugins_) {
    std::string l = "plugin=\"" + Label(id) + "\"";
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      out << "plugin_sandbox_plugin_invocation_duration_seconds_bucket{" << l << ",le=\""
          << Bound(kBuckets[i]) << "\"} " << p.buckets[i] << '\n';
    }
    out << "plugin_sandbox_plugin_invocation_duration_seconds_bucket{" << l << ",le=\"+Inf\"} "
        << p.count << '\n';
    out << "plugin_sandbox_plugin_invocation_duration_seconds_sum{" << l << "} " << Num(p.sum)
        << '\n';
    out << "plugin_sandbox_plugin_invocation_duration_seconds_count{" << l << "} " << p.count
        << '\n';
  }
  Help(out, "plugin_sandbox_plugin_bridge_calls_total", "counter",
       "Bridge (ctx API) calls, by plugin and method.");
  for (const auto& [id, methods] : bridge_calls) {
    for (const auto& [method, n] : methods) {
      out << "plugin_sandbox_plugin_bridge_calls_total{plugin=\"" << Label(id) << "\",method=\""
          << Label(method) << "\"} " << n << '\n';
    }
  }
  Help(out, "plugin_sandbox_bridge_channels_opened_total", "counter",
       "Bridge call channels (WebSockets carrying a chatty invocation's ctx calls) opened.");
  out << "plugin_sandbox_bridge_channels_opened_total " << bridge_channels << '\n';
  // One value per plugin.
  auto per_plugin = [&](const char* name, const char* type, const char* help, auto value) {
    Help(out, name, type, help);
    for (const auto& g : plugins)
      out << name << "{plugin=\"" << Label(g.id) << "\"} " << value(g) << '\n';
  };
  per_plugin("plugin_sandbox_plugin_restarts_total", "counter",
             "Restarts of the plugin's process after a crash or a limit kill (current load).",
             [](const PluginGauges& g) { return g.restarts; });
  per_plugin("plugin_sandbox_plugin_starts_total", "counter",
             "Times the plugin's process became ready: its load, restarts and starts on demand "
             "(current load).",
             [](const PluginGauges& g) { return g.starts; });
  Help(out, "plugin_sandbox_plugin_stops_total", "counter",
       "Times the plugin's process was stopped while installed, by reason: idle (no call for "
       "idle-stop-s) or memory (the memory budget).");
  for (const auto& g : plugins) {
    for (const auto& [reason, n] : {std::pair{"idle", g.idle_stops}, {"memory", g.budget_stops}}) {
      out << "plugin_sandbox_plugin_stops_total{plugin=\"" << Label(g.id) << "\",reason=\""
          << reason << "\"} " << n << '\n';
    }
  }
  per_plugin("plugin_sandbox_plugin_limit_kills_total", "counter",
             "Times the plugin's process was killed for its CPU or memory limit (current load).",
             [](const PluginGauges& g) { return g.limit_kills; });
  per_plugin("plugin_sandbox_plugin_cpu_reprieves_total", "counter",
             "Invocations over their CPU budget during a V8 garbage collection, spared (current "
             "load).",
             [](const PluginGauges& g) { return g.cpu_reprieves; });
  per_plugin("plugin_sandbox_plugin_memory_bytes", "gauge",
             "Resident memory of the plugin's process (0 when not running).",
             [](const PluginGauges& g) { return g.rss_bytes; });
  Help(out, "plugin_sandbox_http_requests_total", "counter",
       "HTTP requests served, by method and status.");
  for (const auto& [key, n] : http_) {
    out << "plugin_sandbox_http_requests_total{method=\"" << Label(key.first) << "\",status=\""
        << key.second << "\"} " << n << '\n';
  }
  return out.str();
}

}  // namespace ps::server
