// Outbound HTTP for plugins: the `http/fetch` bridge method's fetcher (bridge.md §3.6, §8, with
// the decisions of spec README 4 and 8). The bridge has already checked `network:request`,
// required `url` and counted the subrequest; this component does everything else.
//
// Contract of Fetcher::Fetch(request):
// 1. Unmarshals {url, init} (http/request.h; the spec's exact validation texts).
// 2. Policy from the grant: `network:request:unrestricted` reaches any public host;
//    `network:request` reaches the hosts of allowedHosts (http/policy.h), and an empty list
//    fails with the spec's `Plugin "<id>" has no allowed hosts configured. …` before the URL is
//    parsed. Only http and https.
// 3. SSRF blocking in both modes, on every hop, on the address actually connected to: names
//    that are internal or wildcard-DNS services are refused by name; every other name is
//    resolved here and EVERY address checked (http/address.h); curl is then pinned to exactly
//    those addresses (CURLOPT_RESOLVE) and its open-socket callback refuses any other address,
//    so no second lookup can change the destination. IP literals in any URL form are checked as
//    the address they denote. The operator's allow_private entries are the only exception.
// 4. Redirects are followed here (curl never follows): 301/302/303/307/308 with a Location, at
//    most max_redirects (5); each hop is re-checked (scheme, allowlist, SSRF). Authorization,
//    Cookie and Proxy-Authorization are dropped once the origin changes and stay dropped; 303
//    (except after HEAD), and 301/302 after POST, become GET without body or body headers;
//    307/308 keep method and body. init.redirect "manual" returns the 3xx as is, "error" fails.
// 5. Limits: the whole fetch (every hop, name lookups included) ends by the earlier of the
//    request's deadline and max_total_time; each connect by connect_timeout; a response body
//    above max_response_bytes aborts the transfer (`response too large`); response headers are
//    capped at max_header_bytes. Bodies are not decoded: no Accept-Encoding is sent unless the
//    plugin sets one, and the bytes come back as the server sent them, with their headers.
// 6. Returns {status, statusText, headers, bodyBase64}: header names lower-case, repeated
//    headers joined with ", " (Set-Cookie too, so none is lost), statusText the reason phrase or,
//    when the server sent none (HTTP/2), the standard one for the code.
// Errors are Status values whose message is the text the plugin sees: InvalidArgument for bad
// parameters and URLs, PermissionDenied for refused hosts, addresses and schemes, TooLarge for
// the body cap, Unavailable for network failures and timeouts.
//
// Thread-safe: Fetch may run on many threads at once (one curl handle per hop, curl initialized
// once). It blocks for the duration of the fetch: call it from a worker pool, never from an I/O
// thread. May call: common/, capabilities/, libcurl. Called by: the bridge, through
// http/fetch_request.h (BridgeOptions::http), set up by `serve` and `run`.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "http/address.h"
#include "http/fetch_request.h"
#include "http/policy.h"

namespace ps::http {

// Looks up every address of a host name. An empty result means "no addresses".
using Resolver = std::function<Result<std::vector<IpAddress>>(const std::string& host)>;

// Step 3's decision for one hop of plugin `id` to `url` (an http or https URL): the addresses
// curl may connect to, or the failure the plugin sees (PermissionDenied for a blocked name or
// address, Unavailable when the name has no addresses, or the resolver's own failure). An IP
// host is checked as the
// address it denotes; a name is refused by name, else resolved with `resolve` and every address
// checked. Only `exceptions` lift a block. Every returned address is public unicast or covered
// by an exception (fuzz/url_fuzzer.cc holds it to that).
Result<std::vector<IpAddress>> SsrfDestinations(const std::string& id, const Url& url,
                                                const PrivateExceptions& exceptions,
                                                const Resolver& resolve);

struct FetcherOptions {
  // The operator's exceptions to SSRF blocking (--allow-private): "HOST" or "HOST:PORT".
  std::vector<std::string> allow_private;
  size_t max_response_bytes = 10 * 1024 * 1024;
  size_t max_header_bytes = 256 * 1024;
  std::chrono::milliseconds connect_timeout{10'000};
  // Cap on one fetch (all hops) even when the caller's deadline is later or absent.
  std::chrono::milliseconds max_total_time{30'000};
  int max_redirects = 5;
  // Sent unless the plugin sets its own User-Agent.
  std::string user_agent = "plugin-sandbox";
  // Empty: the system resolver (getaddrinfo, bounded by the fetch's deadline). Tests inject
  // names here; pinning makes curl connect to exactly what this returned.
  Resolver resolver;
  // CA bundle for https; empty: curl's default (the system store).
  std::string ca_file;
  // Tests only: false stops pinning curl to the checked addresses, so that curl looks the name
  // up again and only the open-socket check stands between it and an unchecked address.
  bool pin_addresses = true;
};

class Fetcher {
 public:
  // Fails with InvalidArgument for a bad allow_private entry (the message names it) and
  // Internal when libcurl cannot be initialized.
  static Result<std::shared_ptr<const Fetcher>> Create(FetcherOptions options);

  Result<json::value> Fetch(const FetchRequest& request) const;

  const FetcherOptions& options() const { return options_; }

 private:
  Fetcher(FetcherOptions options, PrivateExceptions exceptions)
      : options_(std::move(options)), exceptions_(std::move(exceptions)) {}

  FetcherOptions options_;
  PrivateExceptions exceptions_;
};

// The bridge's view of a fetcher (BridgeOptions::http).
HttpFetcher MakeHttpFetcher(std::shared_ptr<const Fetcher> fetcher);

// The standard reason phrase of an HTTP status code ("" for unknown codes).
std::string_view StandardReason(int status);

}  // namespace ps::http
