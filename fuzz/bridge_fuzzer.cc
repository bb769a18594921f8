// The bridge's wire format and parameters (bridge/bridge.h Handle, bridge/params.h): what a
// plugin's isolate sends on every ctx call, on a real SQLite site database. Input: a mode byte,
// the method name, a newline, then the request body. Mode bit 0 picks the plugin (every
// capability, or none); bit 1 replaces the valid token by the next line of the input as the
// Authorization header.
//
// Properties beyond "no crash, no leak, no undefined behaviour":
// - the envelope is always one of the documented ones (bridge.md §2.3): 200 {"result":…} (or {}
//   for a void method), or
//   400/401/404/413/500 with {"error":"…"}, or the fence's 503 {"error":{code, message}}; and
//   JSON;
// - capabilities hold: the plugin with none never gets a 200 from a method that needs one
//   (content/, media/, taxonomy/, users/, email/, http/);
// - a forged Authorization header never gets past step 1 (401).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "bridge/bridge.h"
#include "common/json.h"
#include "fuzz_util.h"
#include "manifest/manifest.h"
#include "store/database.h"

namespace {

constexpr char kEverything[] = R"({
  "id": "fuzz-all", "version": "1.0.0",
  "capabilities": ["content:read", "content:write", "media:read", "media:write",
                   "taxonomies:read", "users:read", "email:send", "network:request"],
  "allowedHosts": ["example.com"],
  "storage": {"events": {"indexes": ["a", "n", ["a", "n"]], "uniqueIndexes": ["s"]},
              "items": {"indexes": []}}
})";
constexpr char kNothing[] = R"({"id": "fuzz-none", "version": "1.0.0", "capabilities": [],
  "storage": {"events": {"indexes": ["a"]}}})";

struct Host {
  std::unique_ptr<ps::store::Database> db;
  std::unique_ptr<ps::bridge::Bridge> bridge;
  std::string everything, nothing;  // Authorization headers
};

Host& TheHost() {
  static Host* host = [] {
    auto h = new Host;
    std::string dir;
    h->db = ps::fuzz::OpenScratchSite("bridge", &dir);
    ps::bridge::BridgeOptions options;
    options.log = [](const std::string&, ps::bridge::LogLevel, const std::string&,
                     const ps::json::value&) {};
    h->bridge = std::make_unique<ps::bridge::Bridge>(
        *h->db, ps::bridge::TokenAuthority(std::string(64, 'b')), std::move(options));
    for (auto [text, header] :
         {std::pair{kEverything, &h->everything}, std::pair{kNothing, &h->nothing}}) {
      auto m = ps::manifest::ParseManifestText(text, "manifest.json");
      PS_FUZZ_CHECK(m.ok(), m.status().message());
      h->bridge->RegisterPlugin(*m);
      *header = "Bearer " + h->bridge->tokens().IssueBridgeToken(ps::bridge::Bridge::GrantFor(*m));
    }
    return h;
  }();
  return *host;
}

bool NeedsCapability(std::string_view method) {
  for (std::string_view p : {"content/", "media/", "taxonomy/", "users/", "email/", "http/"})
    if (method.substr(0, p.size()) == p) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Host& host = TheHost();
  ps::fuzz::Reader in(data, size);
  uint8_t mode = in.Byte();
  std::string_view method = in.Until('\n');
  bool none = mode & 1;
  bool forged = mode & 2;
  std::string authorization(forged ? in.Until('\n')
                                   : std::string_view(none ? host.nothing : host.everything));
  std::string_view body = in.Rest();

  ps::bridge::Reply r = host.bridge->Handle(authorization, method, body);
  auto doc = ps::ParseJson(r.body);
  PS_FUZZ_CHECK(doc.ok() && doc->is_object(), "the reply is not a JSON object: " + r.body);
  const auto& o = doc->get_object();
  switch (r.status) {
    case 200:
      // {} is a void method's answer (kv/set, storage/put, …).
      PS_FUZZ_CHECK(o.contains("result") || o.empty(), "a 200 without result: " + r.body);
      break;
    case 400:
    case 401:
    case 404:
    case 413:
    case 500:
      PS_FUZZ_CHECK(o.contains("error") && o.at("error").is_string(),
                    "an error reply without an error text: " + r.body);
      break;
    case 503: {  // the content-write fence: {"error":{"code","message","status":503}}
      const auto* e = o.if_contains("error");
      PS_FUZZ_CHECK(e && e->is_object() && e->get_object().contains("code") &&
                        e->get_object().contains("message"),
                    "a 503 that is not the fence's envelope: " + r.body);
      break;
    }
    default:
      PS_FUZZ_CHECK(false, "undocumented status " + std::to_string(r.status) + ": " + r.body);
  }
  auto token_of = [](const std::string& header) { return header.substr(7); };  // after "Bearer "
  if (forged && authorization.find(token_of(host.everything)) == std::string::npos &&
      authorization.find(token_of(host.nothing)) == std::string::npos) {
    PS_FUZZ_CHECK(r.status == 401, "a forged token got " + std::to_string(r.status));
  }
  if (none && !forged && NeedsCapability(method)) {
    PS_FUZZ_CHECK(r.status != 200, std::string(method) + " succeeded without its capability");
  }
  return 0;
}
