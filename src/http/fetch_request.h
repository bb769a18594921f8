// The narrow interface between the bridge and outbound HTTP: what one `http/fetch` asks for, and
// the function that performs it. The bridge includes this header only; the http/ component
// implements it (http/fetcher.h, MakeHttpFetcher) and knows nothing of the bridge.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace ps::http {

// One `http/fetch`: who asks (the grant's parts the policy reads), the raw params ({url, init?})
// and the time by which the whole fetch (all redirect hops) must be done.
struct FetchRequest {
  const std::string& plugin_id;
  const std::vector<std::string>& capabilities;   // normalized names
  const std::vector<std::string>& allowed_hosts;  // the manifest's allowedHosts
  const json::object& params;
  std::chrono::steady_clock::time_point deadline;
};

// Performs `http/fetch`. Returns {status, statusText, headers, bodyBase64}.
using HttpFetcher = std::function<Result<json::value>(const FetchRequest&)>;

}  // namespace ps::http
