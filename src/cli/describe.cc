#include "cli/describe.h"

#include "common/error_code.h"
#include "common/json.h"
#include "runner/limit_table.h"
#include "server/api.h"
#include "server/config.h"

namespace ps::cli {
namespace {

const char* KindName(server::OptionKind k) {
  switch (k) {
    case server::OptionKind::kString:
      return "string";
    case server::OptionKind::kInt:
      return "int";
    case server::OptionKind::kList:
      return "list";
    case server::OptionKind::kLimits:
      return "limits";
    case server::OptionKind::kPluginLimits:
      return "plugin-limits";
    case server::OptionKind::kSwitch:
      return "switch";
  }
  return "?";
}

}  // namespace

int RunDescribe(std::ostream& out) {
  json::array errors;
  for (const auto& e : AllErrorCodes()) {
    json::object o;
    o["code"] = e.name;
    o["status"] = e.http_status;
    o["surface"] = e.surface == ErrorSurface::kHostApi ? "host-api" : "bridge";
    o["meaning"] = e.meaning;
    errors.push_back(std::move(o));
  }
  json::array limits;
  for (const auto& l : runner::AllLimits()) {
    json::object o;
    o["name"] = l.name;
    o["unit"] = l.unit;
    o["default"] = l.Default();
    o["emdashOption"] = l.emdash_option;
    o["apiField"] = l.api_field;
    o["exceeded"] = ErrorCodeName(l.exceeded);
    o["meaning"] = l.meaning;
    limits.push_back(std::move(o));
  }
  json::array options;
  for (const auto& s : server::ServeOptions()) {
    json::object o;
    o["name"] = s.name;
    o["kind"] = KindName(s.kind);
    o["flag"] = s.kind == server::OptionKind::kSwitch || !s.value_name.empty();
    o["environment"] = server::EnvName(s.name);
    o["help"] = s.help;
    options.push_back(std::move(o));
  }
  json::array routes;
  for (const auto& r : server::Api::Routes()) {
    json::object o;
    o["method"] = r.method;
    o["path"] = r.pattern;
    o["auth"] = r.auth == server::Api::RouteAuth::kNone    ? "none"
                : r.auth == server::Api::RouteAuth::kAdmin ? "admin"
                                                           : "plugin";
    o["body"] = r.body == server::Api::BodyCap::kUpload ? "max-upload-mb" : "max-body-mb";
    o["summary"] = r.summary;
    routes.push_back(std::move(o));
  }
  json::object doc;
  doc["errors"] = std::move(errors);
  doc["limits"] = std::move(limits);
  doc["options"] = std::move(options);
  doc["routes"] = std::move(routes);
  out << Stringify(doc) << '\n';
  return 0;
}

}  // namespace ps::cli
