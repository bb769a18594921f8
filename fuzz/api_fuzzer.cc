// The host API's request handling (server/api.h Api::Handle, server/http_server.h SplitTarget):
// everything after Beast has framed a request. The whole host is built in-process on a real
// SQLite database, as `serve` builds it, except that no plugin can start: the runtime and the
// launcher are /bin/false, so an install that gets as far as starting a process fails at once.
// The site lives across inputs, as a host's does. Input: the method, a newline, the target, a
// newline, header lines `name: value`, an empty line, then the body. The admin token is added
// unless the input sends its own Authorization header.
//
// Properties beyond "no crash, no leak, no undefined behaviour":
// - every JSON error is the documented envelope {"error":{"code","message"}} whose code is one of
//   docs/operating.md's (common/error_code.h), with that code's HTTP status;
// - the admin token guards /v1/: a request there with another Authorization header gets 401,
//   whatever its path, method or body.

#include <boost/asio/thread_pool.hpp>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/error_code.h"
#include "common/json.h"
#include "fuzz_util.h"
#include "runner/runner.h"
#include "server/api.h"
#include "server/metrics.h"
#include "server/pipeline.h"
#include "server/plugins.h"
#include "server/site.h"
#include "store/database.h"

namespace {

constexpr char kToken[] = "fuzz-admin-token-0123456789abcdef";

struct Host {
  std::unique_ptr<ps::store::Database> db;
  std::unique_ptr<ps::runner::Runner> runner;
  std::unique_ptr<ps::server::Metrics> metrics;
  std::unique_ptr<boost::asio::thread_pool> background;
  std::unique_ptr<ps::server::PluginRegistry> registry;
  std::unique_ptr<ps::server::Pipeline> pipeline;
  std::unique_ptr<ps::server::Site> site;
  std::unique_ptr<ps::server::Api> api;
};

Host& TheHost() {
  static Host* host = [] {
    auto h = new Host;
    std::string dir;
    h->db = ps::fuzz::OpenScratchSite("api", &dir);
    ps::runner::RunnerOptions ro;
    ro.data_dir = dir + "/data";
    ro.workerd_path = "/bin/false";
    ro.launcher_path = "/bin/false";
    ro.validation_cache_dir = dir + "/validated";
    ps::bridge::BridgeOptions bo;
    bo.log = [](const std::string&, ps::bridge::LogLevel, const std::string&,
                const ps::json::value&) {};
    auto runner = ps::runner::Runner::Create(*h->db, ro, std::move(bo));
    PS_FUZZ_CHECK(runner.ok(), runner.status().message());
    h->runner = std::move(runner).value();
    h->metrics = std::make_unique<ps::server::Metrics>();
    h->background = std::make_unique<boost::asio::thread_pool>(2);
    auto limits = [](const std::string&) { return ps::runner::Limits{}; };
    h->registry = std::make_unique<ps::server::PluginRegistry>(
        *h->db, *h->runner, *h->metrics, ps::server::RegistryOptions{5000, limits, false});
    h->pipeline = std::make_unique<ps::server::Pipeline>(*h->registry, *h->background);
    h->site =
        std::make_unique<ps::server::Site>(*h->db, h->runner->bridge(), *h->pipeline, nullptr);
    h->registry->Start({});
    ps::server::ApiOptions ao;
    ao.admin_token = kToken;
    ao.limits_for = limits;
    ao.started_at = "2026-01-01T00:00:00.000Z";
    h->api = std::make_unique<ps::server::Api>(*h->registry, *h->pipeline, *h->site, *h->metrics,
                                               *h->runner, ao);
    return h;
  }();
  return *host;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Host& host = TheHost();
  ps::fuzz::Reader in(data, size);
  ps::server::HttpRequest r;
  r.method = in.Until('\n');
  r.target = in.Until('\n');
  if (r.target.empty() || r.target[0] != '/') return 0;  // Beast accepts only origin-form here
  bool own_auth = false;
  for (int i = 0; i < 64 && !in.empty(); ++i) {
    std::string_view line = in.Until('\n');
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = Lower(line.substr(0, colon));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    own_auth |= name == "authorization";
    r.headers.emplace_back(std::move(name), std::string(value));
  }
  if (!own_auth) r.headers.emplace_back("authorization", std::string("Bearer ") + kToken);
  r.body = in.Rest();
  r.peer = "127.0.0.1";
  ps::server::SplitTarget(&r);
  if (r.body.size() > host.api->BodyLimit(r.method, r.target)) return 0;  // the server's 413

  ps::server::HttpResponse resp = host.api->Handle(r);
  PS_FUZZ_CHECK(resp.status >= 100 && resp.status < 600, "status " + std::to_string(resp.status));
  if (resp.status >= 400 && resp.content_type == "application/json") {
    auto doc = ps::ParseJson(resp.body);
    PS_FUZZ_CHECK(doc.ok() && doc->is_object(), "an error that is not JSON: " + resp.body);
    const auto* e = doc->get_object().if_contains("error");
    PS_FUZZ_CHECK(e && e->is_object(), "an error without the envelope: " + resp.body);
    const auto* code = e->get_object().if_contains("code");
    const auto* message = e->get_object().if_contains("message");
    PS_FUZZ_CHECK(code && code->is_string() && message && message->is_string(),
                  "an envelope without code and message: " + resp.body);
    auto known = ps::ParseErrorCode(code->get_string());
    PS_FUZZ_CHECK(known.has_value(), "an undocumented error code: " + resp.body);
    PS_FUZZ_CHECK(ps::HttpStatusOf(*known) == resp.status,
                  "status " + std::to_string(resp.status) + " for " + resp.body);
  }
  bool admin = false;
  for (const auto& [k, v] : r.headers)
    admin |= k == "authorization" && v.find(kToken) != std::string::npos;
  if (r.path.rfind("/v1/", 0) == 0 && !admin) {
    PS_FUZZ_CHECK(resp.status == 401, r.method + " " + r.target + " without the token got " +
                                          std::to_string(resp.status));
  }
  return 0;
}
