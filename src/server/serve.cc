#include "server/serve.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/thread_pool.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "bridge/email_outbox.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/ids.h"
#include "http/fetcher.h"
#include "manifest/bundle.h"
#include "runner/runner.h"
#include "server/api.h"
#include "server/channel.h"
#include "server/email.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/pipeline.h"
#include "server/plugins.h"
#include "server/site.h"
#include "store/database.h"

namespace ps::server {
namespace {

namespace fs = std::filesystem;

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

Result<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

spdlog::level::level_enum LevelOf(const std::string& s) {
  if (s == "trace") return spdlog::level::trace;
  if (s == "debug") return spdlog::level::debug;
  if (s == "warn") return spdlog::level::warn;
  if (s == "error") return spdlog::level::err;
  if (s == "off") return spdlog::level::off;
  return spdlog::level::info;
}

// Every bundle in the plugins directory: subdirectories and .tar.gz/.tgz files, by name.
std::vector<std::pair<manifest::Bundle, std::string>> ReadPluginsDir(const std::string& dir) {
  std::vector<std::pair<manifest::Bundle, std::string>> out;
  std::vector<fs::path> entries;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    std::string name = p.filename().string();
    if (name.empty() || name[0] == '.') continue;
    bool archive = name.size() > 7 && (name.ends_with(".tar.gz") || name.ends_with(".tgz"));
    if (it->is_directory(ec) || archive) entries.push_back(p);
  }
  std::sort(entries.begin(), entries.end());
  for (const auto& p : entries) {
    auto b = manifest::LoadBundle(p.string());
    if (!b.ok()) {
      spdlog::error("plugin bundle {} is not installed:\n{}", p.string(), b.status().message());
      continue;
    }
    out.emplace_back(std::move(b).value(), fs::absolute(p).lexically_normal().string());
  }
  return out;
}

}  // namespace

Result<std::string> ResolveAdminToken(const ServeConfig& c, std::string* where) {
  if (!c.admin_token_file.empty()) {
    PS_ASSIGN(std::string text, ReadSmallFile(c.admin_token_file));
    std::string token = Trim(text);
    if (token.empty())
      return InvalidArgument("admin-token-file " + c.admin_token_file + " is empty");
    *where = "read from " + c.admin_token_file;
    return token;
  }
  if (!c.admin_token.empty()) {
    *where = "given by the configuration (admin-token)";
    return Trim(c.admin_token);
  }
  std::string path = (fs::path(c.data_dir) / "admin-token").string();
  if (fs::exists(path)) {
    PS_ASSIGN(std::string text, ReadSmallFile(path));
    std::string token = Trim(text);
    if (!token.empty()) {
      *where = "read from " + path;
      return token;
    }
  }
  std::string token = HexEncode(RandomBytes(32));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot write the admin token to " + path);
  ::fchmod(fd, 0600);
  std::string line = token + "\n";
  ssize_t n = ::write(fd, line.data(), line.size());
  ::close(fd);
  if (n != ssize_t(line.size())) return Internal("cannot write the admin token to " + path);
  *where = "generated and stored in " + path;
  return token;
}

int RunServe(const ServeConfig& cfg, std::ostream& out, std::ostream& err) {
  // SIGINT and SIGTERM are blocked before any thread starts, so every thread inherits the mask
  // and only sigwait below receives them (plugin processes get a clean mask from the
  // supervisor).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto logger = spdlog::stderr_color_mt("serve");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(LevelOf(cfg.log_level));

  std::error_code ec;
  bool fresh = !fs::exists(cfg.data_dir);
  fs::create_directories(cfg.data_dir, ec);
  if (ec) {
    err << "plugin-sandbox serve: cannot create the data directory " << cfg.data_dir << ": "
        << ec.message() << '\n';
    return 1;
  }
  if (fresh) ::chmod(cfg.data_dir.c_str(), 0700);
  if (!cfg.config_file.empty()) spdlog::info("configuration from {}", cfg.config_file);

  std::string token_where;
  auto token = ResolveAdminToken(cfg, &token_where);
  if (!token.ok()) {
    err << "plugin-sandbox serve: " << token.status().message() << '\n';
    return 2;
  }
  if (token->size() < 16) spdlog::warn("the admin token is shorter than 16 characters");
  spdlog::info("admin token: {}", token_where);

  std::vector<std::pair<manifest::Bundle, std::string>> bundles;
  if (!cfg.plugins_dir.empty()) {
    if (!fs::is_directory(cfg.plugins_dir, ec)) {
      err << "plugin-sandbox serve: plugins " << cfg.plugins_dir << ": not a directory\n";
      return 2;
    }
  }

  std::string db_url = DatabaseUrl(cfg);
  auto db = store::OpenDatabase(db_url);
  if (!db.ok()) {
    err << "plugin-sandbox serve: database " << db_url << ": " << db.status().message() << '\n';
    return 1;
  }
  spdlog::info("database {}", db_url);

  http::FetcherOptions fo;
  fo.allow_private = cfg.allow_private;
  auto fetcher = http::Fetcher::Create(fo);
  if (!fetcher.ok()) {
    err << "plugin-sandbox serve: allow-private: " << fetcher.status().message() << '\n';
    return 2;
  }
  for (const auto& a : cfg.allow_private) {
    spdlog::warn("SSRF exception: plugins may reach the private address {}", a);
  }

  // The host channel (docs/channel.md). It runs API requests, so it reaches the API through a
  // pointer set once the API exists (requests arrive only after the server starts).
  Api* api_raw = nullptr;
  runner::Runner* runner_raw = nullptr;
  ChannelOptions co;
  co.workers = cfg.workers;
  co.call_timeout = std::chrono::milliseconds(cfg.limits.wall_ms);
  co.body_limit = [&api_raw](const std::string& m, const std::string& t) {
    return api_raw->BodyLimit(m, t);
  };
  if (cfg.embedded) {
    // ctx.email.send goes to EmDash's pipeline while the site offers one, and is refused as
    // EmDash refuses it otherwise (the runner starts with no sender).
    co.on_email = [&runner_raw](bridge::EmailSender sender) {
      if (runner_raw) runner_raw->SetEmailSender(std::move(sender));
    };
  }
  auto hub = std::make_unique<ChannelHub>(
      [&api_raw](const HttpRequest& r) { return api_raw->Handle(r); }, std::move(co));
  std::shared_ptr<bridge::MediaStorage> media =
      cfg.embedded ? hub->MediaStorage()
                   : bridge::MakeLocalMediaStorage(cfg.media_dir.empty()
                                                       ? (fs::path(cfg.data_dir) / "media").string()
                                                       : cfg.media_dir);
  bridge::BridgeOptions bo;
  bo.http = http::MakeHttpFetcher(*fetcher);
  bo.site.default_locale = cfg.site.locale;
  bo.site.locales = cfg.site_locales;
  bo.media = media;
  bo.log = [](const std::string& id, bridge::LogLevel level, const std::string& msg,
              const json::value& data) {
    std::string line = "[plugin:" + id + "] " + msg;
    if (!data.is_null()) line += " " + Stringify(data);
    switch (level) {
      case bridge::LogLevel::kDebug:
        spdlog::debug("{}", line);
        break;
      case bridge::LogLevel::kInfo:
        spdlog::info("{}", line);
        break;
      case bridge::LogLevel::kWarn:
        spdlog::warn("{}", line);
        break;
      case bridge::LogLevel::kError:
        spdlog::error("{}", line);
        break;
    }
  };

  runner::RunnerOptions ro;
  ro.data_dir = cfg.data_dir;
  ro.workerd_path = cfg.workerd;
  ro.mode = cfg.isolation;
  ro.invoke_channel = cfg.invoke_channel;
  ro.idle_stop = std::chrono::seconds(cfg.idle_stop_s);
  ro.always_on = {cfg.always_on.begin(), cfg.always_on.end()};
  ro.memory_budget_mb = cfg.memory_budget_mb;
  ro.validation_cache_dir =
      (cfg.cache_dir.empty() ? cfg.data_dir + "/cache" : cfg.cache_dir) + "/validated";
  ro.limits = cfg.limits;
  ro.plugin_limits = cfg.plugin_limits;
  ro.site = cfg.site;
  ro.env_passthrough = cfg.env_passthrough;
  ro.supervision.containment.enabled = cfg.containment;
  ro.supervision.containment.require_full = cfg.require_containment;
  ro.supervision.containment.user = cfg.plugin_user;
  ro.supervision.containment.cpu_percent = cfg.plugin_cpu_percent;
  auto created = runner::Runner::Create(**db, ro, std::move(bo));
  if (!created.ok()) {
    err << "plugin-sandbox serve: " << created.status().message() << '\n';
    return 1;
  }
  std::unique_ptr<runner::Runner> runner = std::move(created).value();
  runner_raw = runner.get();
  if (!cfg.containment && !runner->network_namespace_active()) {
    spdlog::warn(
        "plugin processes share the host's network namespace (unprivileged user "
        "namespaces are unavailable); outbound access is still limited to the bridge");
  }

  auto limits_for = [cfg](const std::string& id) {
    auto it = cfg.plugin_limits.find(id);
    return it == cfg.plugin_limits.end() ? cfg.limits : it->second;
  };
  auto metrics = std::make_unique<Metrics>();
  auto background = std::make_unique<boost::asio::thread_pool>(std::max(2, cfg.workers / 2));
  auto registry = std::make_unique<PluginRegistry>(
      **db, *runner, *metrics, RegistryOptions{cfg.hook_timeout_ms, limits_for, cfg.embedded});
  auto pipeline = std::make_unique<Pipeline>(*registry, *background);
  if (cfg.embedded) {
    spdlog::info("embedded: email and media go to the embedding process once it offers them");
  } else {
    bridge::EmailSender transport;
    if (cfg.email.transport == "smtp") {
      transport = MakeSmtpSender(cfg.email);
      spdlog::info("email: smtp via {}", cfg.email.smtp_url);
    } else {
      std::string outbox = (fs::path(cfg.data_dir) / "outbox.jsonl").string();
      transport = bridge::MakeOutboxEmailSender(outbox);
      spdlog::info("email: appended to {}", outbox);
    }
    runner->SetEmailSender(MakeEmailPipeline(*pipeline, *registry, transport));
  }
  auto site = std::make_unique<Site>(**db, runner->bridge(), *pipeline, media);

  if (!cfg.plugins_dir.empty()) bundles = ReadPluginsDir(cfg.plugins_dir);
  registry->Start(bundles);
  if (!cfg.embedded) registry->StartWatching(std::chrono::milliseconds(cfg.plugin_sync_ms));

  ApiOptions ao;
  ao.admin_token = *token;
  ao.max_body_bytes = cfg.max_body_bytes;
  ao.max_upload_bytes = cfg.max_upload_bytes;
  ao.limits_for = limits_for;
  ao.started_at = NowIso();
  ao.embedded = cfg.embedded;
  ao.channel_upgrade = [h = hub.get()](const HttpRequest& r) { return h->Upgrade(r); };
  auto api = std::make_unique<Api>(*registry, *pipeline, *site, *metrics, *runner, ao);
  api_raw = api.get();

  HttpServerOptions so;
  so.listen = cfg.listen;
  so.workers = cfg.workers;
  Metrics* metrics_raw = metrics.get();
  so.body_limit = [api_raw](const std::string& m, const std::string& t) {
    return api_raw->BodyLimit(m, t);
  };
  so.error = [](ErrorCode code, const std::string& message) { return Api::Error(code, message); };
  so.on_response = [metrics_raw](const std::string& m, int status) {
    metrics_raw->RecordHttp(m, status);
  };
  auto server =
      HttpServer::Start(so, [api_raw](const HttpRequest& r) { return api_raw->Handle(r); });
  if (!server.ok()) {
    err << "plugin-sandbox serve: " << server.status().message() << '\n';
    return 1;
  }
  std::string address = (*server)->address();
  std::string address_file = (fs::path(cfg.data_dir) / "address").string();
  {
    std::string tmp = address_file + ".tmp";
    std::ofstream f(tmp, std::ios::trunc);
    f << address << '\n';
    f.close();
    fs::rename(tmp, address_file, ec);
  }
  std::string url = address.rfind("unix:", 0) == 0 ? address : "http://" + address;
  spdlog::info("listening on {}", url);
  out << "plugin-sandbox: listening on " << url << std::endl;

  if (cfg.embedded) {
    // The embedding process holds the other end of stdin: when it exits, however it exits, the
    // pipe closes and the host stops as on SIGTERM (the plugin processes with it).
    std::thread([] {
      char buf[256];
      for (;;) {
        ssize_t n = ::read(0, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
      }
      spdlog::info("stdin closed: the embedding process is gone");
      ::kill(::getpid(), SIGTERM);
    }).detach();
  }

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}; stopping (in-flight requests get up to {} ms)",
               sig == SIGINT ? "SIGINT" : "SIGTERM", cfg.shutdown_timeout_ms);
  std::thread([stop_signals] {
    int again = 0;
    sigwait(&stop_signals, &again);
    spdlog::error("second signal; exiting at once");
    _exit(130);
  }).detach();

  registry->StopWatching();
  hub->Close();  // no new frames; requests already running are answered
  (*server)->Shutdown(std::chrono::milliseconds(cfg.shutdown_timeout_ms));
  server->reset();
  hub.reset();
  background->join();  // after-hooks already started finish (each bounded by its timeout)
  api.reset();
  site.reset();
  runner->SetEmailSender(nullptr);
  runner.reset();  // stops every plugin process
  pipeline.reset();
  registry.reset();
  background.reset();
  db->reset();  // closes the database
  fs::remove(address_file, ec);
  spdlog::info("stopped");
  return 0;
}

}  // namespace ps::server
