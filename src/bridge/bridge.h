// The bridge: everything a sandboxed plugin can ask the host for (bridge.md §2–§8).
//
// Owns: the method table (`kv/get`, `storage/query`, `content/create`, …), parameter validation
// in the spec's order with its exact texts, the capability check before every guarded method
// (the only place capabilities are enforced: see Require() calls in bridge/*.cc), and the wire
// envelope: 200 {"result":…} ({} for void), 500 {"error":"…"}, 503 fence envelope, 401/400/413
// for the transport pipeline.
// May call: capabilities/, manifest/, store/, and the interfaces below (media storage, email,
// outbound HTTP, log sink). Called by: the backing service (later), tests, `run`.
//
// State is keyed by (plugin id, version): a plugin update registers a new version whose storage
// index config and grant are the ones in force; the old version's tokens keep their own claims
// and can be refused by unregistering the old version.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/media_storage.h"
#include "bridge/token.h"
#include "common/json.h"
#include "common/status.h"
#include "http/fetch_request.h"
#include "manifest/manifest.h"
#include "store/database.h"

namespace ps::bridge {

// Sends an email on behalf of a plugin (the host's pipeline or transport). `source` is the
// plugin id. Returns the failure to report to the plugin.
using EmailSender = std::function<Status(const json::object& message, const std::string& source)>;

// One plugin invocation (a hook or route call) as the bridge sees it: every bridge call made
// while serving it carries its id. Counters enforce the per-invocation limits.
struct Invocation {
  std::string id;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  int subrequest_limit = 10;      // ctx.http.fetch calls
  int bridge_call_limit = 10000;  // every bridge call: a guard against runaway loops
  std::atomic<int> subrequests{0};
  std::atomic<int> bridge_calls{0};
};

// `http/fetch` is performed by the http/ component, through its narrow interface.
using http::FetchRequest;
using http::HttpFetcher;

enum class LogLevel { kDebug, kInfo, kWarn, kError };
// Receives ctx.log lines: plugin id, level, message, data (null when absent).
using LogSink = std::function<void(const std::string& plugin_id, LogLevel, const std::string& msg,
                                   const json::value& data)>;

struct SiteConfig {
  std::string default_locale = "en";
  // Configured locales; empty means no i18n config (locales are stored as given).
  std::vector<std::string> locales;
};

struct BridgeOptions {
  SiteConfig site;
  std::shared_ptr<MediaStorage> media;  // null: media/upload fails with the spec's message
  EmailSender email;                    // empty: email/send fails with the spec's message
  HttpFetcher http;                     // empty: http/fetch fails "not configured"
  LogSink log;                          // empty: lines go to the host's logger
  size_t max_body_bytes = 10485760;     // bridge request body cap (413 above it)
};

// What a successful call returns: a value, or nothing (void methods: kv/set, storage/put,
// storage/putMany), which the envelope renders as {}.
struct CallResult {
  std::optional<json::value> value;
};

// A complete HTTP answer of the bridge pipeline.
struct Reply {
  int status = 200;
  std::string body;  // JSON; Content-Type is always application/json
};

class Bridge {
 public:
  Bridge(store::Database& db, TokenAuthority tokens, BridgeOptions options);
  ~Bridge();

  // Makes (id, version) known: its storage index config is what storage/query checks. Also
  // creates the plugin's declared storage indexes (bridge.md §5.6; failures are logged).
  void RegisterPlugin(const manifest::Manifest& m);
  void UnregisterPlugin(const std::string& id, const std::string& version);
  // Deletes everything the plugin stored (its `_plugin_storage` rows) and its storage indexes,
  // in one transaction: an uninstall without keepData.
  Status DeletePluginData(const std::string& id);

  // The grant a manifest gets, and its token.
  static Grant GrantFor(const manifest::Manifest& m);
  const TokenAuthority& tokens() const { return tokens_; }

  // One call, already authenticated. Errors: Status message is the text the plugin sees;
  // Code::kUnavailable with ErrorCode::kMediaUsageActivation* is the 503 fence error; limit
  // violations are Code::kTooLarge with ErrorCode::kSubrequestLimitExceeded (or
  // kBridgeCallLimitExceeded). `invocation` is the call's invocation (null outside one: tests,
  // host-internal calls).
  Result<CallResult> Call(const Grant& grant, std::string_view method, const json::object& params,
                          Invocation* invocation = nullptr);

  // The transport pipeline of bridge.md §2.2: authorization header, token, body cap, JSON,
  // dispatch, envelope.
  // `admit`, when given, runs on the verified grant before dispatch (the backing service binds a
  // socket to one plugin this way); an Unauthenticated status becomes a 401.
  Reply Handle(std::string_view authorization, std::string_view method, std::string_view body,
               Invocation* invocation = nullptr,
               const std::function<Status(const Grant&)>& admit = {});

  // Steps 1-2 of Handle only (authorization header, token, `admit`): what opening a call channel
  // checks. 200 with an empty body when admitted, else the reply Handle would have given.
  Reply Admit(std::string_view authorization, const std::function<Status(const Grant&)>& admit);

  // Renders a call's outcome as the wire envelope (§2.3).
  static Reply Envelope(const Result<CallResult>& r);

  const BridgeOptions& options() const { return options_; }

  // Calls served so far: plugin id -> method -> count (for /metrics).
  std::map<std::string, std::map<std::string, uint64_t>> CallCounts() const;
  store::Database& db() { return db_; }

 private:
  friend class Methods;
  std::vector<std::string> IndexedFields(const Grant& g, const std::string& collection);

  store::Database& db_;
  TokenAuthority tokens_;
  BridgeOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, uint64_t>> call_counts_;
  // (id, version) -> collection -> indexed fields
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::vector<std::string>>>
      indexes_;
};

}  // namespace ps::bridge
