#include "cli/run.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "bridge/email_outbox.h"
#include "common/json.h"
#include "http/fetcher.h"
#include "manifest/bundle.h"
#include "runner/runner.h"
#include "store/database.h"

namespace ps::cli {
namespace {

// JSON given inline, or @FILE.
Result<json::value> JsonArg(const std::string& flag, const std::string& text) {
  std::string body = text;
  if (!text.empty() && text[0] == '@') {
    std::ifstream in(text.substr(1), std::ios::binary);
    if (!in) return InvalidArgument(flag + ": cannot read " + text.substr(1));
    std::stringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  }
  auto v = ParseJson(body);
  if (!v.ok()) return InvalidArgument(flag + ": " + v.status().message());
  return v;
}

void PrintError(std::ostream& out, const std::string& code, const std::string& message) {
  json::object e;
  e["code"] = code;
  e["message"] = message;
  json::object o;
  o["error"] = std::move(e);
  out << Stringify(o) << std::endl;
}

const char* LevelName(bridge::LogLevel l) {
  switch (l) {
    case bridge::LogLevel::kDebug:
      return "debug";
    case bridge::LogLevel::kInfo:
      return "info";
    case bridge::LogLevel::kWarn:
      return "warn";
    case bridge::LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

int RunInvoke(const RunOptions& o, std::ostream& out, std::ostream& err) {
  // Host log lines go to stderr too: stdout carries exactly one JSON document.
  spdlog::set_default_logger(spdlog::stderr_color_mt("run"));
  if (o.hook.empty() == o.route.empty()) {
    err << "plugin-sandbox run: give exactly one of --hook NAME and --route NAME\n";
    return 2;
  }
  runner::Limits limits;
  for (const auto& l : o.limits) {
    if (Status st = runner::ApplyLimit("--limit", l, &limits); !st.ok()) {
      err << "plugin-sandbox run: " << st.message() << '\n';
      return 2;
    }
  }
  auto arg = o.hook.empty() ? JsonArg("--input", o.input) : JsonArg("--event", o.event);
  if (!arg.ok()) {
    err << "plugin-sandbox run: " << arg.status().message() << '\n';
    return 2;
  }
  manifest::LoadOptions lo;
  lo.manifest_file = o.manifest;
  auto bundle = manifest::LoadBundle(o.plugin, lo);
  if (!bundle.ok()) {
    err << bundle.status().message() << '\n';
    return 2;
  }

  std::string db_url =
      o.db.empty() ? "sqlite:" + (std::filesystem::path(o.data) / "site.db").string() : o.db;
  auto db = store::OpenDatabase(db_url);
  if (!db.ok()) {
    err << "plugin-sandbox run: " << db.status().message() << '\n';
    return 2;
  }

  runner::RunnerOptions ro;
  ro.data_dir = o.data;
  ro.limits = limits;
  // One invocation: a channel would save nothing, and by request workerd reports a handler whose
  // promise can never settle at once (plugin_error) instead of at the wall-time limit.
  ro.invoke_channel = false;
  bridge::BridgeOptions bo;
  http::FetcherOptions fo;
  fo.allow_private = o.allow_private;
  auto fetcher = http::Fetcher::Create(fo);
  if (!fetcher.ok()) {
    err << "plugin-sandbox run: --allow-private: " << fetcher.status().message() << '\n';
    return 2;
  }
  bo.http = http::MakeHttpFetcher(*fetcher);
  bo.media = bridge::MakeLocalMediaStorage((std::filesystem::path(o.data) / "media").string());
  bo.log = [&err](const std::string& id, bridge::LogLevel level, const std::string& msg,
                  const json::value& data) {
    err << "[plugin:" << id << "] " << LevelName(level) << ": " << msg;
    if (!data.is_null()) err << ' ' << Stringify(data);
    err << std::endl;
  };
  auto runner = runner::Runner::Create(**db, ro, std::move(bo));
  if (!runner.ok()) {
    err << "plugin-sandbox run: " << runner.status().message() << '\n';
    return 2;
  }
  (*runner)->SetEmailSender(
      bridge::MakeOutboxEmailSender((std::filesystem::path(o.data) / "outbox.jsonl").string()));

  auto fail = [&](const Status& st) {
    ErrorCode c = st.error_code() == ErrorCode::kNone ? ErrorCode::kPluginError : st.error_code();
    PrintError(out, std::string(ErrorCodeName(c)), st.message());
    return 1;
  };
  auto handle = (*runner)->Load(*bundle);
  if (!handle.ok()) return fail(handle.status());
  Result<json::value> result = Status(Code::kInternal, "no invocation");
  if (!o.hook.empty()) {
    result = (*runner)->InvokeHook(*handle, o.hook, *arg);
  } else {
    json::object request;
    request["url"] = "http://localhost/_emdash/api/plugins/" + handle->id + "/" + o.route;
    request["method"] = "POST";
    request["headers"] = json::object();
    request["meta"] = json::object();
    result = (*runner)->InvokeRoute(*handle, o.route, *arg, request);
  }
  if (!result.ok()) return fail(result.status());
  out << Stringify(*result) << std::endl;
  return 0;
}

}  // namespace ps::cli
