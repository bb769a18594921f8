// Helpers for fetcher tests: grants for both network modes, params from JSON text, a fetch
// with a deadline, and the error text of a fetch that must fail.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bridge/bridge.h"
#include "common/encoding.h"
#include "common/json.h"
#include "http/fetcher.h"
#include "http/test_server.h"

namespace ps::testing {

inline bridge::Grant RestrictedGrant(std::vector<std::string> hosts) {
  bridge::Grant g;
  g.plugin_id = "fetcher";
  g.version = "1.0.0";
  g.capabilities = {"network:request"};
  g.allowed_hosts = std::move(hosts);
  return g;
}

inline bridge::Grant UnrestrictedGrant() {
  bridge::Grant g;
  g.plugin_id = "fetcher";
  g.version = "1.0.0";
  g.capabilities = {"network:request:unrestricted"};
  return g;
}

// {"url": url, "init": <init_json>} (no init when init_json is empty).
inline json::object Params(const std::string& url, const std::string& init_json = "") {
  json::object p;
  p["url"] = url;
  if (!init_json.empty()) {
    auto init = ParseJson(init_json);
    EXPECT_TRUE(init.ok()) << init_json;
    if (init.ok()) p["init"] = std::move(init).value();
  }
  return p;
}

inline std::shared_ptr<const http::Fetcher> MakeFetcher(http::FetcherOptions o = {}) {
  auto f = http::Fetcher::Create(std::move(o));
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? std::move(f).value() : nullptr;
}

inline Result<json::value> DoFetch(const http::Fetcher& f, const bridge::Grant& g,
                                   const json::object& params,
                                   std::chrono::milliseconds budget = std::chrono::seconds(20)) {
  return f.Fetch(http::FetchRequest{g.plugin_id, g.capabilities, g.allowed_hosts, params,
                                    std::chrono::steady_clock::now() + budget});
}

// The result of a fetch that must succeed (null on failure, with the message reported).
inline json::object FetchOk(const http::Fetcher& f, const bridge::Grant& g,
                            const json::object& params) {
  auto r = DoFetch(f, g, params);
  EXPECT_TRUE(r.ok()) << Stringify(params) << ": " << r.status().message();
  if (!r.ok() || !r->is_object()) return {};
  return r->get_object();
}

// The error text of a fetch that must fail.
inline std::string FetchErr(const http::Fetcher& f, const bridge::Grant& g,
                            const json::object& params) {
  auto r = DoFetch(f, g, params);
  EXPECT_FALSE(r.ok()) << Stringify(params) << " unexpectedly succeeded";
  return r.ok() ? std::string() : r.status().message();
}

inline std::string Body(const json::object& response) {
  auto it = response.find("bodyBase64");
  if (it == response.end() || !it->value().is_string()) return "<no body>";
  auto bytes = Base64Decode(it->value().get_string());
  return bytes ? *bytes : "<bad base64>";
}

inline std::string ResponseHeader(const json::object& response, const std::string& name) {
  const auto& h = response.at("headers").get_object();
  auto it = h.find(name);
  return it == h.end() ? "<absent>" : std::string(it->value().get_string());
}

}  // namespace ps::testing
