#include "server/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "manifest/manifest.h"

namespace ps::server {
namespace {

namespace fs = std::filesystem;

enum class Kind { kString, kInt, kList, kLimits, kPluginLimits };

struct OptionDef {
  const char* name;
  Kind kind;
  bool path = false;  // relative values in the config file are relative to the file
};

const std::vector<OptionDef>& Defs() {
  static const std::vector<OptionDef> kDefs = {
      {"config", Kind::kString, true},
      {"data", Kind::kString, true},
      {"db", Kind::kString},
      {"media-dir", Kind::kString, true},
      {"plugins", Kind::kString, true},
      {"listen", Kind::kString},
      {"admin-token", Kind::kString},
      {"admin-token-file", Kind::kString, true},
      {"allow-private", Kind::kList},
      {"limit", Kind::kLimits},
      {"plugin-limit", Kind::kPluginLimits},
      {"isolation", Kind::kString},
      {"idle-stop-s", Kind::kString},
      {"always-on", Kind::kList},
      {"memory-budget-mb", Kind::kInt},
      {"cache-dir", Kind::kString, true},
      {"invocations", Kind::kString},
      {"email-transport", Kind::kString},
      {"smtp-url", Kind::kString},
      {"smtp-from", Kind::kString},
      {"smtp-username", Kind::kString},
      {"smtp-password", Kind::kString},
      {"site-name", Kind::kString},
      {"site-url", Kind::kString},
      {"site-locale", Kind::kString},
      {"site-trailing-slash", Kind::kString},
      {"site-locales", Kind::kList},
      {"workers", Kind::kInt},
      {"max-body-mb", Kind::kInt},
      {"max-upload-mb", Kind::kInt},
      {"hook-timeout-ms", Kind::kInt},
      {"shutdown-timeout-ms", Kind::kInt},
      {"plugin-sync-ms", Kind::kInt},
      {"log-level", Kind::kString},
      {"env-passthrough", Kind::kList},
      {"workerd", Kind::kString, true},
      {"embedded", Kind::kString},
  };
  return kDefs;
}

const OptionDef* FindDef(const std::string& name) {
  for (const auto& d : Defs())
    if (name == d.name) return &d;
  return nullptr;
}

std::string EnvName(const std::string& option) {
  std::string out = "PLUGIN_SANDBOX_";
  for (char c : option) out += c == '-' ? '_' : char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ' && c != '\t') {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

Result<int64_t> PositiveInt(const std::string& where, const json::value& v) {
  if (v.is_int64() && v.as_int64() > 0) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() > 0 && v.as_uint64() < (uint64_t(1) << 62))
    return int64_t(v.as_uint64());
  if (v.is_string()) {
    std::string s(v.get_string());
    char* end = nullptr;
    long long n = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0' && n > 0) return int64_t(n);
    return InvalidArgument(where + ": expected a positive integer, got " + Quote(s));
  }
  return InvalidArgument(where + ": expected a positive integer, got " + Stringify(v));
}

Result<std::vector<std::string>> StringList(const std::string& where, const json::value& v) {
  if (v.is_string()) return SplitComma(std::string(v.get_string()));
  if (!v.is_array()) return InvalidArgument(where + ": expected a list of strings");
  std::vector<std::string> out;
  for (const auto& e : v.get_array()) {
    if (!e.is_string()) return InvalidArgument(where + ": expected a list of strings");
    out.emplace_back(e.get_string());
  }
  return out;
}

// Limits as "NAME=N" strings: from an object {"cpu-ms": 50}, a list or a comma-separated string.
Result<std::vector<std::string>> LimitSpecs(const std::string& where, const json::value& v) {
  if (v.is_object()) {
    std::vector<std::string> out;
    for (const auto& kv : v.get_object()) {
      auto n = PositiveInt(where + ": " + std::string(kv.key()), kv.value());
      if (!n.ok()) return n.status();
      out.push_back(std::string(kv.key()) + "=" + std::to_string(*n));
    }
    return out;
  }
  return StringList(where, v);
}

struct Layer {
  std::string source;  // "config file X", "environment", "flag"
  // option -> (where, value)
  std::vector<std::tuple<std::string, std::string, json::value>> values;
};

class Builder {
 public:
  explicit Builder(ServeConfig* c) : c_(c) {}

  Status Apply(const std::string& name, const std::string& where, const json::value& v,
               const fs::path& base) {
    const OptionDef* def = FindDef(name);
    if (!def) return InvalidArgument(where + ": unknown option");
    switch (def->kind) {
      case Kind::kString: {
        if (!v.is_string()) return InvalidArgument(where + ": expected a string");
        std::string s(v.get_string());
        if (def->path && !base.empty() && !s.empty() && fs::path(s).is_relative()) {
          s = (base / s).lexically_normal().string();
        }
        if (name == "db" && !base.empty() && s.rfind("sqlite:", 0) == 0 &&
            fs::path(s.substr(7)).is_relative()) {
          s = "sqlite:" + (base / s.substr(7)).lexically_normal().string();
        }
        return SetString(name, where, s);
      }
      case Kind::kInt: {
        PS_ASSIGN(int64_t n, PositiveInt(where, v));
        return SetInt(name, where, n);
      }
      case Kind::kList: {
        PS_ASSIGN(auto list, StringList(where, v));
        if (name == "allow-private") c_->allow_private = list;
        if (name == "site-locales") c_->site_locales = list;
        if (name == "env-passthrough") c_->env_passthrough = list;
        if (name == "always-on") c_->always_on = list;
        return Status::Ok();
      }
      case Kind::kLimits: {
        PS_ASSIGN(auto specs, LimitSpecs(where, v));
        for (const auto& s : specs) PS_TRY(runner::ApplyLimit(where, s, &c_->limits));
        return Status::Ok();
      }
      case Kind::kPluginLimits:
        return ApplyPluginLimits(where, v);
    }
    return Status::Ok();
  }

  // After every layer: per-plugin limits start from the host-wide ones.
  void Finish() {
    for (auto& [id, over] : plugin_specs_) {
      runner::Limits l = c_->limits;
      for (const auto& [where, spec] : over) (void)runner::ApplyLimit(where, spec, &l);
      c_->plugin_limits[id] = l;
    }
  }

 private:
  Status SetString(const std::string& name, const std::string& where, const std::string& s) {
    if (name == "config") c_->config_file = s;
    if (name == "data") c_->data_dir = s;
    if (name == "media-dir") c_->media_dir = s;
    if (name == "db") c_->db = s;
    if (name == "plugins") c_->plugins_dir = s;
    if (name == "listen") c_->listen = s;
    if (name == "admin-token") c_->admin_token = s;
    if (name == "admin-token-file") c_->admin_token_file = s;
    if (name == "isolation") {
      if (s == "per-plugin") {
        c_->isolation = runner::IsolationMode::kPerPlugin;
      } else if (s == "shared") {
        c_->isolation = runner::IsolationMode::kShared;
      } else {
        return InvalidArgument(where + ": expected per-plugin or shared, got " + Quote(s));
      }
    }
    if (name == "idle-stop-s") {
      if (s == "never") {
        c_->idle_stop_s = 0;
      } else {
        PS_ASSIGN(int64_t n, PositiveInt(where, json::value(s)));
        if (n > 30 * 24 * 3600) return InvalidArgument(where + ": at most 2592000 (30 days)");
        c_->idle_stop_s = n;
      }
    }
    if (name == "cache-dir") c_->cache_dir = s;
    if (name == "invocations") {
      if (s != "channel" && s != "requests")
        return InvalidArgument(where + ": expected channel or requests, got " + Quote(s));
      c_->invoke_channel = s == "channel";
    }
    if (name == "email-transport") {
      if (s != "log" && s != "smtp")
        return InvalidArgument(where + ": expected log or smtp, got " + Quote(s));
      c_->email.transport = s;
    }
    if (name == "smtp-url") c_->email.smtp_url = s;
    if (name == "smtp-from") c_->email.smtp_from = s;
    if (name == "smtp-username") c_->email.smtp_username = s;
    if (name == "smtp-password") c_->email.smtp_password = s;
    if (name == "site-name") c_->site.name = s;
    if (name == "site-url") c_->site.url = s;
    if (name == "site-locale") c_->site.locale = s;
    if (name == "site-trailing-slash") {
      if (s != "always" && s != "never" && s != "ignore")
        return InvalidArgument(where + ": expected always, never or ignore, got " + Quote(s));
      c_->site.trailing_slash = s;
    }
    if (name == "log-level") {
      static const std::vector<std::string> kLevels = {"trace", "debug", "info",
                                                       "warn",  "error", "off"};
      if (std::find(kLevels.begin(), kLevels.end(), s) == kLevels.end()) {
        return InvalidArgument(where + ": expected trace, debug, info, warn, error or off, got " +
                               Quote(s));
      }
      c_->log_level = s;
    }
    if (name == "workerd") c_->workerd = s;
    if (name == "embedded") {
      if (s != "true" && s != "false")
        return InvalidArgument(where + ": expected true or false, got " + Quote(s));
      c_->embedded = s == "true";
    }
    return Status::Ok();
  }

  Status SetInt(const std::string& name, const std::string& where, int64_t n) {
    auto mb = [&](size_t* out) -> Status {
      if (n > 4096) return InvalidArgument(where + ": at most 4096 (MiB)");
      *out = size_t(n) << 20;
      return Status::Ok();
    };
    if (name == "workers") {
      if (n > 1024) return InvalidArgument(where + ": at most 1024");
      c_->workers = int(n);
    }
    if (name == "max-body-mb") PS_TRY(mb(&c_->max_body_bytes));
    if (name == "max-upload-mb") PS_TRY(mb(&c_->max_upload_bytes));
    if (name == "hook-timeout-ms") c_->hook_timeout_ms = n;
    if (name == "shutdown-timeout-ms") c_->shutdown_timeout_ms = n;
    if (name == "plugin-sync-ms") c_->plugin_sync_ms = n;
    if (name == "memory-budget-mb") c_->memory_budget_mb = n;
    return Status::Ok();
  }

  // {"<id>": {"cpu-ms": N}} or "ID:NAME=N" strings.
  Status ApplyPluginLimits(const std::string& where, const json::value& v) {
    if (v.is_object()) {
      for (const auto& kv : v.get_object()) {
        std::string id(kv.key());
        PS_ASSIGN(auto specs, LimitSpecs(where + ": " + id, kv.value()));
        for (const auto& s : specs) PS_TRY(AddPluginSpec(where, id + ":" + s));
      }
      return Status::Ok();
    }
    PS_ASSIGN(auto specs, StringList(where, v));
    for (const auto& s : specs) PS_TRY(AddPluginSpec(where, s));
    return Status::Ok();
  }

  Status AddPluginSpec(const std::string& where, const std::string& spec) {
    size_t colon = spec.find(':');
    if (colon == std::string::npos || colon == 0) {
      return InvalidArgument(where + ": " + Quote(spec) +
                             ": expected PLUGIN-ID:NAME=N, e.g. hello:cpu-ms=100");
    }
    runner::Limits probe;
    PS_TRY(runner::ApplyLimit(where, spec.substr(colon + 1), &probe));
    plugin_specs_[spec.substr(0, colon)].emplace_back(where, spec.substr(colon + 1));
    return Status::Ok();
  }

  ServeConfig* c_;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> plugin_specs_;
};

Result<json::object> ReadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("config file " + path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  PS_ASSIGN(json::value doc, manifest::ParseJsonFile(ss.str(), "config file " + path));
  if (!doc.is_object())
    return InvalidArgument("config file " + path + ": expected a JSON object of options");
  return doc.get_object();
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

const std::vector<std::string>& OptionNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> out;
    for (const auto& d : Defs()) out.push_back(d.name);
    return out;
  }();
  return kNames;
}

std::string DatabaseUrl(const ServeConfig& c) {
  if (!c.db.empty()) return c.db;
  return "sqlite:" + (fs::path(c.data_dir) / "site.db").string();
}

Result<ServeConfig> ResolveServeConfig(const FlagValues& flags, const EnvLookup& env) {
  ServeConfig c;
  Builder b(&c);

  // Which config file: the flag, else the environment.
  std::string config_path;
  if (auto it = flags.find("config"); it != flags.end() && !it->second.empty()) {
    config_path = it->second.back();
  } else if (auto e = env(EnvName("config")); e && !e->empty()) {
    config_path = *e;
  }

  if (!config_path.empty()) {
    PS_ASSIGN(json::object file, ReadConfigFile(config_path));
    fs::path base = fs::absolute(config_path).parent_path();
    for (const auto& kv : file) {
      std::string name(kv.key());
      std::string where = "config file " + config_path + ": " + Quote(name);
      if (name == "config") return InvalidArgument(where + ": a config file cannot name another");
      PS_TRY(b.Apply(name, where, kv.value(), base));
    }
    c.config_file = config_path;
  }

  for (const auto& def : Defs()) {
    std::string name = def.name;
    if (name == "config") continue;
    auto e = env(EnvName(name));
    if (!e) continue;
    PS_TRY(b.Apply(name, "environment " + EnvName(name), json::string(*e), {}));
  }

  for (const auto& [name, values] : flags) {
    if (name == "config" || values.empty()) continue;
    const OptionDef* def = FindDef(name);
    std::string where = "--" + name;
    if (!def) return InvalidArgument(where + ": unknown option");
    json::value v;
    if (def->kind == Kind::kString || def->kind == Kind::kInt) {
      v = json::string(values.back());
    } else {
      json::array a;
      for (const auto& s : values) a.emplace_back(json::string(s));
      v = std::move(a);
    }
    PS_TRY(b.Apply(name, where, v, {}));
  }
  b.Finish();

  if (c.email.transport == "smtp" && (c.email.smtp_url.empty() || c.email.smtp_from.empty())) {
    return InvalidArgument(
        "email-transport smtp needs smtp-url (smtp://HOST:PORT or smtps://HOST:PORT) and "
        "smtp-from");
  }
  if (c.listen.rfind("unix:", 0) != 0 && c.listen.rfind(':') == std::string::npos) {
    return InvalidArgument("listen: expected HOST:PORT or unix:PATH, got " + Quote(c.listen));
  }
  return c;
}

}  // namespace ps::server
