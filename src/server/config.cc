#include "server/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "manifest/manifest.h"

namespace ps::server {
namespace {

namespace fs = std::filesystem;

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

using Kind = OptionKind;

Status OneOf(const std::string& where, const std::string& s,
             std::initializer_list<const char*> allowed) {
  std::string list;
  size_t i = 0;
  for (const char* a : allowed) {
    if (s == a) return Status::Ok();
    list += (i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ") + std::string(a);
    ++i;
  }
  return InvalidArgument(where + ": expected " + list + ", got " + Quote(s));
}

Status Mebibytes(const std::string& where, int64_t n, size_t* out) {
  if (n > 4096) return InvalidArgument(where + ": at most 4096 (MiB)");
  *out = size_t(n) << 20;
  return Status::Ok();
}

// Setters: the value is already read for its kind (a string, a positive integer, a list).
#define PS_SET(expr)                                                             \
  [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status { \
    (void)where;                                                                 \
    (void)v;                                                                     \
    expr;                                                                        \
    return Status::Ok();                                                         \
  }

const std::vector<ServeOption>& Table() {
  static const std::vector<ServeOption> kOptions = {
      {"config", Kind::kString, "FILE", "Read options from this JSON file (keys are option names)",
       true, PS_SET(c.config_file = v.text)},
      {"db", Kind::kString, "URL",
       "sqlite:PATH (default sqlite:<data>/site.db) or postgres://USER@HOST/DB (several hosts on "
       "one site)",
       false, PS_SET(c.db = v.text)},
      {"media-dir", Kind::kString, "DIR",
       "Uploaded media (default <data>/media; hosts sharing a database must share it too)", true,
       PS_SET(c.media_dir = v.text)},
      {"plugins", Kind::kString, "DIR", "Install every bundle in DIR at start", true,
       PS_SET(c.plugins_dir = v.text)},
      {"listen", Kind::kString, "ADDR",
       "HOST:PORT (default 127.0.0.1:8787; port 0 picks one) or unix:PATH", false,
       PS_SET(c.listen = v.text)},
      {"data", Kind::kString, "DIR",
       "Database, media, runtime files, admin token (default ./.plugin-sandbox)", true,
       PS_SET(c.data_dir = v.text)},
      {"admin-token-file", Kind::kString, "FILE", "Read the admin token from FILE", true,
       PS_SET(c.admin_token_file = v.text)},
      {"admin-token", Kind::kString, "", "The admin token (environment or config file only)", false,
       PS_SET(c.admin_token = v.text)},
      {"allow-private", Kind::kList, "HOST[:PORT]", "Let ctx.http.fetch reach this private host",
       false, PS_SET(c.allow_private = v.list)},
      {"limit", Kind::kLimits, "NAME=N", "Host-wide limit: " + runner::LimitNames(), false,
       nullptr},
      {"plugin-limit", Kind::kPluginLimits, "ID:NAME=N",
       "One plugin's limit, e.g. hello:cpu-ms=200", false, nullptr},
      {"isolation", Kind::kString, "MODE", "per-plugin (default) or shared", false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         PS_TRY(OneOf(where, v.text, {"per-plugin", "shared"}));
         c.isolation = v.text == "shared" ? runner::IsolationMode::kShared
                                          : runner::IsolationMode::kPerPlugin;
         return Status::Ok();
       }},
      {"containment", Kind::kString, "on|off",
       "The kernel's wall around each plugin process: identity, namespaces, a new root, "
       "seccomp, cgroups (default on; off only to diagnose)",
       false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         PS_TRY(OneOf(where, v.text, {"on", "off"}));
         c.containment = v.text == "on";
         return Status::Ok();
       }},
      {"require-containment", Kind::kString, "LEVEL",
       "full: start no plugin unless every containment layer is available (default none)", false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         PS_TRY(OneOf(where, v.text, {"none", "full"}));
         c.require_containment = v.text == "full";
         return Status::Ok();
       }},
      {"plugin-user", Kind::kString, "USER[:GID]",
       "When serve runs as root: the unprivileged identity plugin processes run as, a name or a "
       "uid (default nobody)",
       false, PS_SET(c.plugin_user = v.text)},
      {"plugin-cpu-percent", Kind::kInt, "N",
       "Kernel CPU cap of each plugin process, in % of one CPU (default 100)", false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         if (v.number > 6400) return InvalidArgument(where + ": at most 6400");
         c.plugin_cpu_percent = int(v.number);
         return Status::Ok();
       }},
      {"idle-stop-s", Kind::kString, "N",
       "Stop a plugin's process after N seconds without a call; its next call starts it "
       "(default 300; never: keep every process running)",
       false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         if (v.text == "never") {
           c.idle_stop_s = 0;
           return Status::Ok();
         }
         PS_ASSIGN(int64_t n, PositiveInt(where, json::value(v.text)));
         if (n > 30 * 24 * 3600) return InvalidArgument(where + ": at most 2592000 (30 days)");
         c.idle_stop_s = n;
         return Status::Ok();
       }},
      {"always-on", Kind::kList, "ID", "Keep this plugin's process running (* for every plugin)",
       false, PS_SET(c.always_on = v.list)},
      {"memory-budget-mb", Kind::kInt, "N",
       "Memory for all plugin processes together; idle ones are stopped, least recently used "
       "first, to stay within it (default: no budget)",
       false, PS_SET(c.memory_budget_mb = v.number)},
      {"cache-dir", Kind::kString, "DIR",
       "What each plugin module declared at its first start, so a restart starts nothing until "
       "a plugin is called (default <data>/cache)",
       true, PS_SET(c.cache_dir = v.text)},
      {"invocations", Kind::kString, "HOW",
       "channel (default: messages on WebSockets kept open to each plugin) or requests (one HTTP "
       "request each)",
       false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         PS_TRY(OneOf(where, v.text, {"channel", "requests"}));
         c.invoke_channel = v.text == "channel";
         return Status::Ok();
       }},
      {"email-transport", Kind::kString, "NAME", "log (default: <data>/outbox.jsonl) or smtp",
       false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         PS_TRY(OneOf(where, v.text, {"log", "smtp"}));
         c.email.transport = v.text;
         return Status::Ok();
       }},
      {"smtp-url", Kind::kString, "URL", "smtp://HOST:PORT or smtps://HOST:PORT", false,
       PS_SET(c.email.smtp_url = v.text)},
      {"smtp-from", Kind::kString, "ADDR", "Sender address for smtp", false,
       PS_SET(c.email.smtp_from = v.text)},
      {"smtp-username", Kind::kString, "NAME", "SMTP user (password: PLUGIN_SANDBOX_SMTP_PASSWORD)",
       false, PS_SET(c.email.smtp_username = v.text)},
      {"smtp-password", Kind::kString, "", "SMTP password (environment or config file only)", false,
       PS_SET(c.email.smtp_password = v.text)},
      {"site-name", Kind::kString, "TEXT", "ctx.site.name", false, PS_SET(c.site.name = v.text)},
      {"site-url", Kind::kString, "URL", "ctx.site.url", false, PS_SET(c.site.url = v.text)},
      {"site-locale", Kind::kString, "LOCALE", "Default locale (default en)", false,
       PS_SET(c.site.locale = v.text)},
      {"site-trailing-slash", Kind::kString, "MODE",
       "ctx.site.trailingSlash: always, never or ignore (default)", false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         PS_TRY(OneOf(where, v.text, {"always", "never", "ignore"}));
         c.site.trailing_slash = v.text;
         return Status::Ok();
       }},
      {"site-locales", Kind::kList, "LOCALE", "Configured locales (i18n)", false,
       PS_SET(c.site_locales = v.list)},
      {"workers", Kind::kInt, "N", "Threads serving requests (default 16)", false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         if (v.number > 1024) return InvalidArgument(where + ": at most 1024");
         c.workers = int(v.number);
         return Status::Ok();
       }},
      {"max-body-mb", Kind::kInt, "N", "JSON request body cap in MiB (default 1)", false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) {
         return Mebibytes(where, v.number, &c.max_body_bytes);
       }},
      {"max-upload-mb", Kind::kInt, "N", "Bundle and media upload cap in MiB (default 64)", false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) {
         return Mebibytes(where, v.number, &c.max_upload_bytes);
       }},
      {"hook-timeout-ms", Kind::kInt, "N", "A hook's timeout when it declares none (default 5000)",
       false, PS_SET(c.hook_timeout_ms = v.number)},
      {"plugin-sync-ms", Kind::kInt, "N",
       "How often to pick up plugin installs made by other hosts on the same database (default "
       "1000)",
       false, PS_SET(c.plugin_sync_ms = v.number)},
      {"shutdown-timeout-ms", Kind::kInt, "N", "How long in-flight requests may take at shutdown",
       false, PS_SET(c.shutdown_timeout_ms = v.number)},
      {"log-level", Kind::kString, "LEVEL", "trace, debug, info (default), warn, error, off", false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         PS_TRY(OneOf(where, v.text, {"trace", "debug", "info", "warn", "error", "off"}));
         c.log_level = v.text;
         return Status::Ok();
       }},
      {"env-passthrough", Kind::kList, "NAME", "Environment variables plugin processes may see",
       false, PS_SET(c.env_passthrough = v.list)},
      {"workerd", Kind::kString, "PATH",
       "The workerd binary (default: the pinned one in node_modules)", true,
       PS_SET(c.workerd = v.text)},
      {"embedded", Kind::kSwitch, "",
       "Run for an embedding process such as @plugin-sandbox/emdash (docs/channel.md): exit when "
       "stdin closes, plugins in memory only, no lifecycle hooks on install and uninstall",
       false,
       [](ServeConfig& c, const std::string& where, const OptionValue& v) -> Status {
         PS_TRY(OneOf(where, v.text, {"true", "false"}));
         c.embedded = v.text == "true";
         return Status::Ok();
       }},
  };
  return kOptions;
}
#undef PS_SET

const ServeOption* FindDef(const std::string& name) {
  for (const auto& d : Table())
    if (name == d.name) return &d;
  return nullptr;
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
    const ServeOption* def = FindDef(name);
    if (!def) return InvalidArgument(where + ": unknown option");
    OptionValue value;
    switch (def->kind) {
      case Kind::kString:
      case Kind::kSwitch: {
        if (!v.is_string()) return InvalidArgument(where + ": expected a string");
        std::string s(v.get_string());
        if (def->path && !base.empty() && !s.empty() && fs::path(s).is_relative()) {
          s = (base / s).lexically_normal().string();
        }
        if (name == "db" && !base.empty() && s.rfind("sqlite:", 0) == 0 &&
            fs::path(s.substr(7)).is_relative()) {
          s = "sqlite:" + (base / s.substr(7)).lexically_normal().string();
        }
        value.text = std::move(s);
        break;
      }
      case Kind::kInt: {
        PS_ASSIGN(value.number, PositiveInt(where, v));
        break;
      }
      case Kind::kList: {
        PS_ASSIGN(value.list, StringList(where, v));
        break;
      }
      case Kind::kLimits: {
        PS_ASSIGN(auto specs, LimitSpecs(where, v));
        for (const auto& s : specs) PS_TRY(runner::ApplyLimit(where, s, &c_->limits));
        return Status::Ok();
      }
      case Kind::kPluginLimits:
        return ApplyPluginLimits(where, v);
    }
    return def->set(*c_, where, value);
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

std::string EnvName(const std::string& option) {
  std::string out = "PLUGIN_SANDBOX_";
  for (char c : option) out += c == '-' ? '_' : char(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

EnvLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

const std::vector<ServeOption>& ServeOptions() { return Table(); }

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

  for (const auto& def : Table()) {
    std::string name = def.name;
    if (name == "config") continue;
    auto e = env(EnvName(name));
    if (!e) continue;
    PS_TRY(b.Apply(name, "environment " + EnvName(name), json::string(*e), {}));
  }

  for (const auto& [name, values] : flags) {
    if (name == "config" || values.empty()) continue;
    const ServeOption* def = FindDef(name);
    std::string where = "--" + name;
    if (!def) return InvalidArgument(where + ": unknown option");
    json::value v;
    if (!RepeatsAsFlag(def->kind)) {
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
