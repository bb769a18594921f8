#include "server/api.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "common/crypto.h"
#include "manifest/bundle.h"
#include "server/router.h"

namespace ps::server {
namespace {

HttpResponse Json(int status, const json::value& v) {
  HttpResponse r;
  r.status = status;
  r.body = Stringify(v);
  return r;
}

HttpResponse MethodNotAllowed(const std::string& allow) {
  HttpResponse r = Api::Error(ErrorCode::kMethodNotAllowed, "method not allowed; use " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

// The body as JSON (an empty body is `fallback`).
Result<json::value> BodyJson(const HttpRequest& r, json::value fallback) {
  bool blank = true;
  for (char c : r.body)
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') blank = false;
  if (blank) return fallback;
  auto v = ParseJson(r.body);
  if (!v.ok()) return InvalidArgument("request body: invalid JSON: " + v.status().message());
  return v;
}

Result<std::optional<double>> LimitParam(const HttpRequest& r) {
  const std::string* s = r.Query("limit");
  if (!s) return std::optional<double>();
  char* end = nullptr;
  double d = std::strtod(s->c_str(), &end);
  if (s->empty() || *end != '\0' || !std::isfinite(d)) {
    return InvalidArgument("query parameter limit: expected a number, got " + Quote(*s));
  }
  return std::optional<double>(d);
}

std::optional<std::string> QueryOpt(const HttpRequest& r, const std::string& name) {
  const std::string* s = r.Query(name);
  if (!s) return std::nullopt;
  return *s;
}

json::array Strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(json::string(s));
  return a;
}

HttpResponse FromResult(int ok_status, const Result<json::value>& r) {
  if (!r.ok()) return Api::FromStatus(r.status());
  return Json(ok_status, *r);
}

// The event of a hook request (`{"event": …}`, default {}) after checking the hook's name; a
// null event is {} too.
Result<json::value> HookEvent(const HttpRequest& r, const std::string& hook) {
  if (!manifest::IsHookName(hook)) return InvalidArgument("unknown hook " + Quote(hook));
  PS_ASSIGN(json::value body, BodyJson(r, json::object()));
  if (!body.is_object()) return InvalidArgument("request body: expected an object");
  json::value ev = json::object();
  if (auto* e = body.get_object().if_contains("event"); e && !e->is_null()) {
    ev = *e;
  }
  return ev;
}

// PUT /v1/plugins/{id} with {"manifest": {…}, "code": "…"}: EmDash's load(manifest, code).
Result<manifest::Bundle> BundleFromJson(const std::string& body, const std::string& id) {
  auto doc = ParseJson(body);
  if (!doc.ok() || !doc->is_object()) {
    return InvalidArgument(
        "request body: expected {\"manifest\": {...}, \"code\": \"...\"} or a "
        ".tar.gz bundle");
  }
  const json::object& o = doc->get_object();
  const json::value* m = o.if_contains("manifest");
  const json::value* code = o.if_contains("code");
  std::vector<std::string> problems;
  if (!m || !m->is_object()) problems.push_back("request body: manifest: expected an object");
  if (!code || !code->is_string()) {
    problems.push_back("request body: code: expected the plugin's module as a string");
  }
  if (!problems.empty()) {
    return InvalidArgument(problems.size() == 1 ? problems[0] : problems[0] + "\n" + problems[1]);
  }
  return manifest::BundleFromMemory(*m, std::string(code->get_string()), "plugin " + id);
}

HttpResponse NoSuchEndpoint(const HttpRequest& r) {
  return Api::Error(ErrorCode::kNotFound, "no such endpoint: " + r.method + " " + r.path);
}

// The message's non-empty lines (a bundle's problems, one per line).
std::vector<std::string> Lines(const std::string& message) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t n = 0; pos <= message.size() && n < 1000; ++n) {
    size_t nl = message.find('\n', pos);
    std::string line = message.substr(pos, nl == std::string::npos ? message.npos : nl - pos);
    if (!line.empty()) out.push_back(std::move(line));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

// 400 for a refused bundle, its problems listed as `problems`.
HttpResponse BundleRefused(const std::string& message, const std::vector<std::string>& problems) {
  HttpResponse res = Api::Error(ErrorCode::kBadRequest, message);
  json::value doc = *ParseJson(res.body);
  doc.get_object()["error"].get_object()["problems"] = Strings(problems);
  res.body = Stringify(doc);
  return res;
}

}  // namespace

Api::Api(PluginRegistry& plugins, Pipeline& pipeline, Site& site, Metrics& metrics,
         runner::Runner& runner, ApiOptions options)
    : plugins_(plugins),
      pipeline_(pipeline),
      site_(site),
      metrics_(metrics),
      runner_(runner),
      options_(std::move(options)) {
  if (!options_.limits_for) {
    options_.limits_for = [](const std::string&) { return runner::Limits{}; };
  }
}

HttpResponse Api::Error(ErrorCode code, const std::string& message) {
  json::object e;
  e["code"] = ErrorCodeName(code);
  e["message"] = message;
  json::object o;
  o["error"] = std::move(e);
  return Json(HttpStatusOf(code), o);
}

HttpResponse Api::FromStatus(const Status& st) {
  ErrorCode c = st.error_code();
  // A bridge code (the content-write fence's) is reported by its kind; so is a Status without one.
  if (c == ErrorCode::kNone) {
    c = GeneralCodeFor(st.code());
  } else if (Info(c).surface != ErrorSurface::kHostApi) {
    c = GeneralCodeFor(KindOf(c));
  }
  return Error(c, st.message());
}

size_t Api::BodyLimit(const std::string& method, const std::string& target) const {
  auto m = Match(Routes(), method, PathSegments(target.substr(0, target.find('?'))));
  bool upload = m.index >= 0 && Routes()[size_t(m.index)].body == BodyCap::kUpload;
  return upload ? options_.max_upload_bytes : options_.max_body_bytes;
}

bool Api::Authorized(const HttpRequest& r, HttpResponse* refusal) const {
  const std::string* h = r.Header("authorization");
  std::string why;
  if (!h) {
    why = "missing Authorization header; send Authorization: Bearer <admin token>";
  } else if (h->rfind("Bearer ", 0) != 0) {
    why = "Authorization must be Bearer <admin token>";
  } else {
    std::string token = h->substr(7);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.pop_back();
    if (ConstantTimeEquals(token, options_.admin_token)) return true;
    why = "invalid admin token";
  }
  *refusal = Error(ErrorCode::kUnauthorized, why);
  refusal->headers.emplace_back("WWW-Authenticate", "Bearer");
  return false;
}

const std::vector<Api::Route>& Api::Routes() {
  using A = RouteAuth;
  using B = BodyCap;
  static const std::vector<Route> kRoutes = {
      {"GET", "/healthz", A::kNone, B::kJson, &Api::Healthz,
       "health: ok or degraded, and each plugin's state"},
      {"GET", "/metrics", A::kNone, B::kJson, &Api::MetricsText, "Prometheus metrics"},
      {"*", "/_emdash/api/plugins/{id}/{route...}", A::kPluginDecides, B::kJson, &Api::EmdashRoute,
       "a plugin route, as EmDash serves it (public routes need no token)"},
      {"GET", "/_emdash/api/media/file/{key}", A::kNone, B::kJson, &Api::MediaFile,
       "a media file's bytes"},
      {"GET", "/v1/channel", A::kAdmin, B::kJson, &Api::Channel,
       "the embedding process's channel (docs/channel.md)"},
      {"GET", "/v1/plugins", A::kAdmin, B::kJson, &Api::ListPlugins, "installed plugins"},
      {"GET", "/v1/plugins/{id}", A::kAdmin, B::kJson, &Api::GetPlugin, "one plugin"},
      {"PUT", "/v1/plugins/{id}", A::kAdmin, B::kUpload, &Api::InstallPlugin,
       "install (201) or update (200) from a .tar.gz or {manifest, code}"},
      {"DELETE", "/v1/plugins/{id}", A::kAdmin, B::kJson, &Api::UninstallPlugin,
       "uninstall (?keepData=true keeps its storage)"},
      {"POST", "/v1/plugins/{id}/enable", A::kAdmin, B::kJson, &Api::EnablePlugin,
       "enable (and lift a quarantine)"},
      {"POST", "/v1/plugins/{id}/disable", A::kAdmin, B::kJson, &Api::DisablePlugin, "disable"},
      {"POST", "/v1/plugins/{id}/hooks/{hook}", A::kAdmin, B::kJson, &Api::InvokePluginHook,
       "one plugin's hook, {event}"},
      {"POST", "/v1/plugins/{id}/routes/{route...}", A::kAdmin, B::kJson, &Api::InvokePluginRoute,
       "one plugin's route, {input, request}"},
      {"POST", "/v1/hooks/{hook}", A::kAdmin, B::kJson, &Api::RunHook,
       "the whole pipeline of a hook, with each plugin's result"},
      {"GET", "/v1/collections", A::kAdmin, B::kJson, &Api::ListCollections, "content collections"},
      {"POST", "/v1/collections", A::kAdmin, B::kJson, &Api::CreateCollection,
       "create a collection"},
      {"GET", "/v1/content/{collection}", A::kAdmin, B::kJson, &Api::ListContent,
       "list content (?limit, ?cursor)"},
      {"POST", "/v1/content/{collection}", A::kAdmin, B::kJson, &Api::CreateContent,
       "create content (through the content hooks)"},
      {"GET", "/v1/content/{collection}/{id}", A::kAdmin, B::kJson, &Api::GetContent,
       "one content item"},
      {"PUT", "/v1/content/{collection}/{id}", A::kAdmin, B::kJson, &Api::UpdateContent,
       "update content (through the content hooks)"},
      {"DELETE", "/v1/content/{collection}/{id}", A::kAdmin, B::kJson, &Api::DeleteContent,
       "delete content (content:beforeDelete may veto)"},
      {"GET", "/v1/media", A::kAdmin, B::kJson, &Api::ListMedia,
       "list media (?limit, ?cursor, ?mimeType)"},
      {"POST", "/v1/media", A::kAdmin, B::kUpload, &Api::UploadMedia,
       "upload a file (?filename, Content-Type)"},
      {"GET", "/v1/media/{id}", A::kAdmin, B::kJson, &Api::GetMedia, "one media item"},
      {"DELETE", "/v1/media/{id}", A::kAdmin, B::kJson, &Api::DeleteMedia, "delete media"},
      {"GET", "/v1/users", A::kAdmin, B::kJson, &Api::ListUsers, "list users (?limit, ?cursor)"},
      {"POST", "/v1/users", A::kAdmin, B::kJson, &Api::CreateUser, "create a user"},
  };
  return kRoutes;
}

HttpResponse Api::Handle(const HttpRequest& r) {
  auto seg = PathSegments(r.path);
  auto m = Match(Routes(), r.method, seg);
  // Nothing is said about a path under /v1/ without the token, not even that it does not exist.
  bool admin = m.index >= 0 ? Routes()[size_t(m.index)].auth == RouteAuth::kAdmin
                            : !seg.empty() && seg[0] == "v1";
  if (admin) {
    HttpResponse refusal;
    if (!Authorized(r, &refusal)) return refusal;
  }
  if (m.index < 0) {
    if (!m.allowed.empty()) return MethodNotAllowed(m.allowed);
    return NoSuchEndpoint(r);
  }
  return (this->*Routes()[size_t(m.index)].handler)(r, m.params);
}

HttpResponse Api::MediaFile(const HttpRequest&, const PathParams& p) {
  auto f = site_.ReadMediaFile(p["key"]);
  if (!f.ok()) return FromStatus(f.status());
  HttpResponse res;
  res.content_type = f->content_type;
  res.body = std::move(f->bytes);
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Content-Security-Policy", "sandbox");
  return res;
}

HttpResponse Api::Channel(const HttpRequest& r, const PathParams&) {
  if (!options_.channel_upgrade) {
    return NoSuchEndpoint(r);
  }
  return options_.channel_upgrade(r);
}

HttpResponse Api::RunHook(const HttpRequest& r, const PathParams& p) {
  const std::string& hook = p["hook"];
  auto event = HookEvent(r, hook);
  if (!event.ok()) return FromStatus(event.status());
  const json::value& ev = *event;
  if (!ev.is_object()) {
    return Error(ErrorCode::kBadRequest, "request body: event: expected an object");
  }
  PipelineOutcome out = pipeline_.Run(hook, ev.get_object());
  json::object res;
  res["value"] = out.value;
  json::array results;
  for (const auto& hr : out.results) results.push_back(hr.ToJson(!IsSequentialHook(hook)));
  res["results"] = std::move(results);
  if (out.vetoed) {
    res["vetoed"] = true;
    res["vetoedBy"] = out.vetoed_by;
  }
  if (out.aborted) {
    res["aborted"] = true;
    res["abortedBy"] = out.aborted_by;
  }
  return Json(200, res);
}

HttpResponse Api::ListCollections(const HttpRequest&, const PathParams&) {
  return FromResult(200, site_.ListCollections());
}

HttpResponse Api::CreateCollection(const HttpRequest& r, const PathParams&) {
  auto body = BodyJson(r, nullptr);
  if (!body.ok()) return FromStatus(body.status());
  return FromResult(201, site_.CreateCollection(*body));
}

HttpResponse Api::ListUsers(const HttpRequest& r, const PathParams&) {
  auto limit = LimitParam(r);
  if (!limit.ok()) return FromStatus(limit.status());
  return FromResult(200, site_.ListUsers(*limit, QueryOpt(r, "cursor")));
}

HttpResponse Api::CreateUser(const HttpRequest& r, const PathParams&) {
  auto body = BodyJson(r, nullptr);
  if (!body.ok()) return FromStatus(body.status());
  return FromResult(201, site_.CreateUser(*body));
}

HttpResponse Api::ListPlugins(const HttpRequest&, const PathParams&) {
  json::array out;
  for (const auto& v : plugins_.List()) out.push_back(PluginJson(v));
  return Json(200, out);
}

HttpResponse Api::GetPlugin(const HttpRequest&, const PathParams& p) {
  const std::string& id = p["id"];
  auto v = plugins_.Get(id);
  if (!v) return Error(ErrorCode::kNotFound, "Plugin not installed: " + id);
  return Json(200, PluginJson(*v));
}

HttpResponse Api::InstallPlugin(const HttpRequest& r, const PathParams& p) {
  const std::string& id = p["id"];
  if (r.body.empty()) {
    return Error(ErrorCode::kBadRequest,
                 "request body: expected the plugin bundle as a .tar.gz "
                 "(Content-Type: application/gzip)");
  }
  // A JSON object is a manifest and its module handed over from memory (docs/channel.md);
  // anything else is a .tar.gz (which never starts with '{').
  auto bundle = r.body.front() == '{' ? BundleFromJson(r.body, id)
                                      : manifest::LoadBundleFromArchive(r.body, "upload");
  if (!bundle.ok())
    return BundleRefused(bundle.status().message(), Lines(bundle.status().message()));
  if (bundle->manifest.id != id) {
    return Error(ErrorCode::kBadRequest, "upload: manifest id " + Quote(bundle->manifest.id) +
                                             " does not match the URL's plugin id " + Quote(id));
  }
  auto outcome = plugins_.Install(*bundle, "upload");
  if (!outcome.ok()) {
    const Status& st = outcome.status();
    // A module that could not even start: a problem of the bundle.
    if (st.error_code() == ErrorCode::kPluginCrashed)
      return BundleRefused(st.message(), {st.message()});
    return FromStatus(st);
  }
  auto v = plugins_.Get(id);
  if (!v) return Error(ErrorCode::kInternalError, "plugin " + id + " vanished after install");
  return Json(*outcome == InstallOutcome::kInstalled ? 201 : 200, PluginJson(*v));
}

HttpResponse Api::UninstallPlugin(const HttpRequest& r, const PathParams& p) {
  const std::string& id = p["id"];
  const std::string* keep = r.Query("keepData");
  bool keep_data = (keep && (*keep == "true" || *keep == "1")) || options_.embedded;
  Status st = plugins_.Uninstall(id, keep_data);
  if (!st.ok()) return FromStatus(st);
  json::object out;
  out["id"] = id;
  out["uninstalled"] = true;
  out["keptData"] = keep_data;
  return Json(200, out);
}

HttpResponse Api::EnablePlugin(const HttpRequest& r, const PathParams& p) {
  return SetEnabled(r, p["id"], true);
}

HttpResponse Api::DisablePlugin(const HttpRequest& r, const PathParams& p) {
  return SetEnabled(r, p["id"], false);
}

HttpResponse Api::SetEnabled(const HttpRequest&, const std::string& id, bool enabled) {
  Status st = enabled ? plugins_.Enable(id) : plugins_.Disable(id);
  if (!st.ok()) return FromStatus(st);
  auto v = plugins_.Get(id);
  if (!v) return Error(ErrorCode::kNotFound, "Plugin not installed: " + id);
  return Json(200, PluginJson(*v));
}

HttpResponse Api::InvokePluginHook(const HttpRequest& r, const PathParams& p) {
  const std::string& id = p["id"];
  const std::string& hook = p["hook"];
  // One plugin's hook, as EmDash's runners invoke it: an absent event stays absent (undefined
  // in the plugin), and in embedded mode any name (a hook the module does not define answers
  // null).
  if (!options_.embedded && !manifest::IsHookName(hook)) {
    return FromStatus(InvalidArgument("unknown hook " + Quote(hook)));
  }
  auto body = BodyJson(r, json::object());
  if (!body.ok()) return FromStatus(body.status());
  if (!body->is_object()) return Error(ErrorCode::kBadRequest, "request body: expected an object");
  std::optional<json::value> ev;
  if (auto* e = body->get_object().if_contains("event")) ev = *e;
  // The registry resolves the plugin and its registered timeout under one lock (no PluginView
  // per call: it copies the manifest and reads /proc).
  auto res = plugins_.InvokeHook(id, hook, ev);
  if (!res.ok()) return FromStatus(res.status());
  json::object out;
  out["value"] = *res;
  return Json(200, out);
}

HttpResponse Api::InvokePluginRoute(const HttpRequest& r, const PathParams& p) {
  const std::string& id = p["id"];
  const std::string& route = p["route"];
  auto body = BodyJson(r, json::object());
  if (!body.ok()) return FromStatus(body.status());
  if (!body->is_object()) return Error(ErrorCode::kBadRequest, "request body: expected an object");
  const auto& o = body->get_object();
  std::optional<json::value> input;  // absent: undefined in the plugin, as on EmDash
  if (auto* i = o.if_contains("input")) input = *i;
  json::value request;
  if (auto* q = o.if_contains("request"); q && !q->is_null()) {
    if (!q->is_object()) {
      return Error(ErrorCode::kBadRequest, "request body: request: expected an object");
    }
    request = *q;
  } else {
    json::object sr = SerializeRequest(r, true);
    std::string host = r.Header("host") ? *r.Header("host") : "localhost";
    sr["url"] = "http://" + host + "/_emdash/api/plugins/" + id + "/" + route;
    request = std::move(sr);
  }
  return FromResult(200, plugins_.InvokeRoute(id, route, input, request));
}

HttpResponse Api::ListContent(const HttpRequest& r, const PathParams& p) {
  auto limit = LimitParam(r);
  if (!limit.ok()) return FromStatus(limit.status());
  return FromResult(200, site_.ListContent(p["collection"], *limit, QueryOpt(r, "cursor")));
}

HttpResponse Api::CreateContent(const HttpRequest& r, const PathParams& p) {
  auto body = BodyJson(r, nullptr);
  if (!body.ok()) return FromStatus(body.status());
  return FromResult(201, site_.CreateContent(p["collection"], *body));
}

HttpResponse Api::GetContent(const HttpRequest&, const PathParams& p) {
  return FromResult(200, site_.GetContent(p["collection"], p["id"]));
}

HttpResponse Api::UpdateContent(const HttpRequest& r, const PathParams& p) {
  auto body = BodyJson(r, nullptr);
  if (!body.ok()) return FromStatus(body.status());
  return FromResult(200, site_.UpdateContent(p["collection"], p["id"], *body));
}

HttpResponse Api::DeleteContent(const HttpRequest&, const PathParams& p) {
  return FromResult(200, site_.DeleteContent(p["collection"], p["id"]));
}

HttpResponse Api::ListMedia(const HttpRequest& r, const PathParams&) {
  auto limit = LimitParam(r);
  if (!limit.ok()) return FromStatus(limit.status());
  return FromResult(200, site_.ListMedia(*limit, QueryOpt(r, "cursor"), QueryOpt(r, "mimeType")));
}

HttpResponse Api::UploadMedia(const HttpRequest& r, const PathParams&) {
  const std::string* filename = r.Query("filename");
  std::string type = r.Header("content-type") ? *r.Header("content-type") : "";
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return FromResult(201, site_.UploadMedia(filename ? *filename : "", type, r.body));
}

HttpResponse Api::GetMedia(const HttpRequest&, const PathParams& p) {
  return FromResult(200, site_.GetMedia(p["id"]));
}

HttpResponse Api::DeleteMedia(const HttpRequest&, const PathParams& p) {
  return FromResult(200, site_.DeleteMedia(p["id"]));
}

HttpResponse Api::EmdashRoute(const HttpRequest& r, const PathParams& p) {
  const std::string& id = p["id"];
  const std::string& route = p["route"];
  auto v = plugins_.Get(id);
  if (!v) return Error(ErrorCode::kNotFound, "Plugin not installed: " + id);
  auto it = v->routes.find(route);
  if (it == v->routes.end()) {
    if (v->state == "disabled" || v->state == "quarantined") {
      return Error(ErrorCode::kPluginUnavailable,
                   "Plugin sandbox unavailable for " + id + ": " + v->state);
    }
    return Error(ErrorCode::kNotFound, "Route not found: " + route);
  }
  bool authenticated = false;
  if (!it->second) {
    HttpResponse refusal;
    if (!Authorized(r, &refusal)) return refusal;
    authenticated = true;
  }
  json::value input = nullptr;
  if (r.method == "GET" || r.method == "HEAD") {
    json::object q;
    for (const auto& [k, val] : r.query) q[k] = val;
    input = std::move(q);
  } else {
    auto body = BodyJson(r, nullptr);
    if (!body.ok()) return FromStatus(body.status());
    input = std::move(body).value();
  }
  return FromResult(200,
                    plugins_.InvokeRoute(id, route, input, SerializeRequest(r, authenticated)));
}

json::object Api::SerializeRequest(const HttpRequest& r, bool authenticated) const {
  json::object req;
  std::string host = r.Header("host") ? *r.Header("host") : "localhost";
  req["url"] = "http://" + host + r.target;
  req["method"] = r.method;
  json::object headers;
  for (const auto& [k, v] : r.headers) {
    // The admin token and cookies never reach a plugin.
    if (k == "authorization" || k == "cookie" || k == "proxy-authorization") continue;
    if (auto* existing = headers.if_contains(k); existing && existing->is_string()) {
      *existing = std::string(existing->get_string()) + ", " + v;
    } else {
      headers[k] = v;
    }
  }
  req["headers"] = std::move(headers);
  json::object meta;
  meta["ip"] = r.peer.empty() || r.peer == "unix" ? json::value(nullptr) : json::value(r.peer);
  meta["userAgent"] =
      r.Header("user-agent") ? json::value(*r.Header("user-agent")) : json::value(nullptr);
  meta["referer"] = r.Header("referer") ? json::value(*r.Header("referer")) : json::value(nullptr);
  req["meta"] = std::move(meta);
  if (authenticated) {
    // The admin token stands for the site's administrator.
    json::object user;
    user["id"] = "admin";
    user["email"] = "admin@localhost";
    user["name"] = "Administrator (admin token)";
    user["role"] = 50;
    user["createdAt"] = options_.started_at;
    req["user"] = std::move(user);
  }
  return req;
}

json::object Api::PluginJson(const PluginView& v) const {
  json::object o;
  o["id"] = v.id;
  o["version"] = v.version;
  o["capabilities"] = Strings(v.manifest.capabilities);
  o["allowedHosts"] = Strings(v.manifest.allowed_hosts);
  o["state"] = v.state;
  o["enabled"] = v.enabled;
  o["alwaysOn"] = v.info && v.info->always_on;
  if (v.info && v.info->pid > 0) {
    o["pid"] = int64_t(v.info->pid);
  } else {
    o["pid"] = nullptr;
  }
  runner::Limits l = v.info ? v.info->limits : options_.limits_for(v.id);
  o["limits"] = runner::LimitsJson(l);
  json::object stats;
  stats["invocations"] = v.info ? v.info->invocations : 0;
  stats["failures"] = v.info ? v.info->failures : 0;
  stats["restarts"] = v.info ? v.info->restarts : 0;
  stats["starts"] = v.info ? v.info->starts : 0;
  stats["idleStops"] = v.info ? v.info->idle_stops : 0;
  stats["budgetStops"] = v.info ? v.info->budget_stops : 0;
  stats["limitKills"] = v.info ? v.info->limit_kills : 0;
  stats["cpuReprieves"] = v.info ? v.info->cpu_reprieves : 0;
  stats["memoryBytes"] = v.info ? v.info->rss_bytes : 0;
  {
    // The same layers for every process; the resource wall is this process's own.
    json::array layers;
    for (const auto& l : runner_.containment().layers()) {
      if (l.active) layers.emplace_back(json::string(l.name));
    }
    json::object c;
    c["layers"] = std::move(layers);
    c["full"] = runner_.containment().full();
    c["resources"] = v.info ? json::string(v.info->resources) : json::string();
    o["containment"] = std::move(c);
  }
  json::object errors;
  for (const auto& [code, n] : metrics_.Errors(v.id)) errors[code] = n;
  stats["errors"] = std::move(errors);
  o["stats"] = std::move(stats);
  json::array hooks;
  for (const auto& h : v.hooks) {
    json::object ho;
    ho["name"] = h.hook;
    ho["priority"] = h.priority;
    ho["timeout"] = h.timeout_ms;
    ho["errorPolicy"] = h.error_policy;
    ho["exclusive"] = h.exclusive;
    ho["dependencies"] = Strings(h.dependencies);
    hooks.push_back(std::move(ho));
  }
  o["hooks"] = std::move(hooks);
  o["skippedHooks"] = Strings(v.skipped_hooks);
  json::array routes;
  for (const auto& [name, pub] : v.routes) {
    json::object ro;
    ro["name"] = name;
    ro["public"] = pub;
    routes.push_back(std::move(ro));
  }
  o["routes"] = std::move(routes);
  o["source"] = v.source;
  o["installedAt"] = v.installed_at;
  o["updatedAt"] = v.updated_at;
  if (!v.error.empty()) o["error"] = v.error;
  o["warnings"] = Strings(v.manifest.warnings);
  return o;
}

json::object Api::ContainmentJson() const {
  const auto& c = runner_.containment();
  json::object layers;
  for (const auto& l : c.layers()) {
    json::object one;
    one["active"] = l.active;
    one["detail"] = l.detail;
    layers[l.name] = std::move(one);
  }
  json::object resources;
  for (const auto& v : plugins_.List()) {
    if (v.info && !v.info->resources.empty()) resources[v.id] = v.info->resources;
  }
  json::object o;
  o["full"] = c.full();
  o["layers"] = std::move(layers);
  o["plugins"] = std::move(resources);
  return o;
}

HttpResponse Api::Healthz(const HttpRequest&, const PathParams&) {
  json::object plugins;
  bool ok = true;
  for (const auto& v : plugins_.List()) {
    plugins[v.id] = v.state;
    // A stopped plugin is healthy: its next call starts it.
    if (v.enabled && v.state != "ready" && v.state != "stopped" && v.state != "idle-stopped") {
      ok = false;
    }
  }
  json::object o;
  o["status"] = ok ? "ok" : "degraded";
  o["plugins"] = std::move(plugins);
  o["containment"] = ContainmentJson();
  return Json(200, o);
}

HttpResponse Api::MetricsText(const HttpRequest&, const PathParams&) {
  std::vector<PluginGauges> gauges;
  for (const auto& v : plugins_.List()) {
    PluginGauges g;
    g.id = v.id;
    g.version = v.version;
    g.state = v.state;
    if (v.info) {
      g.restarts = v.info->restarts;
      g.starts = v.info->starts;
      g.idle_stops = v.info->idle_stops;
      g.budget_stops = v.info->budget_stops;
      g.limit_kills = v.info->limit_kills;
      g.cpu_reprieves = v.info->cpu_reprieves;
      g.rss_bytes = v.info->rss_bytes;
    }
    gauges.push_back(std::move(g));
  }
  auto calls = runner_.bridge().CallCounts();
  calls.erase("__host__");
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_.Render(gauges, calls, runner_.bridge_channels_opened());
  return r;
}

}  // namespace ps::server
