// The HTTP API of `serve` (host-api.md "HTTP API of serve"): request routing, the admin-token
// check, JSON in and out, and the error envelope {"error":{"code","message"}} with the
// documented statuses. Runs on the HTTP server's worker threads (it blocks on plugins and SQL).
//
// Auth: everything under /v1/ needs `Authorization: Bearer <admin token>` (compared in constant
// time); /healthz, /metrics, public plugin routes and media files do not.
// Status codes beyond host-api.md's list: 405 method_not_allowed, 500 internal_error (a host
// failure, not the plugin's), 500 bridge_call_limit_exceeded, 503 unavailable (the
// content-write fence, or the host shutting down).
// May call: server/ (plugins, pipeline, site, metrics), runner/, manifest/, common/.
// Called by: server/serve.cc.
#pragma once

#include <functional>
#include <string>

#include "runner/runner.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/pipeline.h"
#include "server/plugins.h"
#include "server/router.h"
#include "server/site.h"

namespace ps::server {

struct ApiOptions {
  std::string admin_token;
  size_t max_body_bytes = 1u << 20;
  size_t max_upload_bytes = 64u << 20;
  std::function<runner::Limits(const std::string& id)> limits_for;
  std::string started_at;  // ISO time, for the synthetic admin user of private routes
  // GET /v1/channel (docs/channel.md), after the token check: the upgrade's answer.
  std::function<HttpResponse(const HttpRequest&)> channel_upgrade;
  // Embedded mode (docs/channel.md): one plugin's hook may have any name, as EmDash's runners
  // allow (a hook the module does not define answers null), where otherwise an unknown name is a
  // 400; and an uninstall keeps the plugin's data (the registry's embedded mode does).
  bool embedded = false;
};

class Api {
 public:
  Api(PluginRegistry& plugins, Pipeline& pipeline, Site& site, Metrics& metrics,
      runner::Runner& runner, ApiOptions options);

  HttpResponse Handle(const HttpRequest& request);
  // What /healthz says of the kernel's wall: every layer (active, and how or why not) and each
  // running plugin process's resource wall.
  json::object ContainmentJson() const;
  // The body cap for a request (uploads get the larger one).
  size_t BodyLimit(const std::string& method, const std::string& target) const;

  static HttpResponse Error(ErrorCode code, const std::string& message);
  // A failed Status as the documented status and code.
  static HttpResponse FromStatus(const Status& st);

  enum class RouteAuth {
    kNone,           // open: health, metrics, media files
    kAdmin,          // the admin token (everything under /v1/)
    kPluginDecides,  // a plugin route: public ones open, the others need the token
  };
  enum class BodyCap { kJson, kUpload };  // max-body-mb or max-upload-mb
  struct Route {
    const char* method;   // GET, POST, …; "*" for any
    const char* pattern;  // server/router.h: "/v1/plugins/{id}/routes/{route...}"
    RouteAuth auth;
    BodyCap body;
    HttpResponse (Api::*handler)(const HttpRequest&, const PathParams&);
    const char* summary;  // one line, for docs and `plugin-sandbox describe`
  };
  // The host API, declared once: Handle() dispatches on it (404 for an unknown path, 405 with
  // Allow for a known one), BodyLimit() reads each route's cap, docs/operating.md lists it (a
  // unit test keeps the two equal) and `plugin-sandbox describe` prints it.
  static const std::vector<Route>& Routes();

 private:
  HttpResponse Healthz(const HttpRequest&, const PathParams&);
  HttpResponse MetricsText(const HttpRequest&, const PathParams&);
  HttpResponse EmdashRoute(const HttpRequest&, const PathParams&);
  HttpResponse MediaFile(const HttpRequest&, const PathParams&);
  HttpResponse Channel(const HttpRequest&, const PathParams&);
  HttpResponse ListPlugins(const HttpRequest&, const PathParams&);
  HttpResponse GetPlugin(const HttpRequest&, const PathParams&);
  HttpResponse InstallPlugin(const HttpRequest&, const PathParams&);
  HttpResponse UninstallPlugin(const HttpRequest&, const PathParams&);
  HttpResponse EnablePlugin(const HttpRequest&, const PathParams&);
  HttpResponse DisablePlugin(const HttpRequest&, const PathParams&);
  HttpResponse SetEnabled(const HttpRequest&, const std::string& id, bool enabled);
  HttpResponse InvokePluginHook(const HttpRequest&, const PathParams&);
  HttpResponse InvokePluginRoute(const HttpRequest&, const PathParams&);
  HttpResponse RunHook(const HttpRequest&, const PathParams&);
  HttpResponse ListCollections(const HttpRequest&, const PathParams&);
  HttpResponse CreateCollection(const HttpRequest&, const PathParams&);
  HttpResponse ListUsers(const HttpRequest&, const PathParams&);
  HttpResponse CreateUser(const HttpRequest&, const PathParams&);
  HttpResponse ListContent(const HttpRequest&, const PathParams&);
  HttpResponse CreateContent(const HttpRequest&, const PathParams&);
  HttpResponse GetContent(const HttpRequest&, const PathParams&);
  HttpResponse UpdateContent(const HttpRequest&, const PathParams&);
  HttpResponse DeleteContent(const HttpRequest&, const PathParams&);
  HttpResponse ListMedia(const HttpRequest&, const PathParams&);
  HttpResponse UploadMedia(const HttpRequest&, const PathParams&);
  HttpResponse GetMedia(const HttpRequest&, const PathParams&);
  HttpResponse DeleteMedia(const HttpRequest&, const PathParams&);
  bool Authorized(const HttpRequest& r, HttpResponse* refusal) const;
  json::object PluginJson(const PluginView& v) const;
  json::object SerializeRequest(const HttpRequest& r, bool authenticated) const;

  PluginRegistry& plugins_;
  Pipeline& pipeline_;
  Site& site_;
  Metrics& metrics_;
  runner::Runner& runner_;
  ApiOptions options_;
};

}  // namespace ps::server
