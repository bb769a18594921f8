// Matching a request to a declared route: the dispatcher behind the host API's table
// (server/api.cc, Api::Routes()).
//
// Contract: a pattern is a path of segments; `{name}` matches one segment, `{name...}` the rest
// (one or more, joined with '/'); anything else matches itself. Paths are compared segment by
// segment after percent-decoding, with empty segments dropped ("/v1/media/" is "/v1/media").
// Match() finds the route for a method and path, or says whether the path exists for another
// method (405, with the methods it allows, in table order) or not at all (404). A route with
// method "*" takes any method.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ps::server {

// The path's segments, percent-decoded, empty ones dropped.
std::vector<std::string> PathSegments(const std::string& path);

class PathParams {
 public:
  void Add(std::string name, std::string value) {
    values_.emplace_back(std::move(name), std::move(value));
  }
  // The value of `{name}` or `{name...}`; empty when the pattern has no such parameter.
  const std::string& operator[](std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

// Whether `segments` match `pattern`, filling `params` when they do.
bool MatchPattern(std::string_view pattern, const std::vector<std::string>& segments,
                  PathParams* params);

struct RouteMatch {
  int index = -1;       // the matching route, or -1
  std::string allowed;  // index -1: the methods the path allows ("GET, POST"); empty: no such path
  PathParams params;
};

// `routes` is any range of records with `method` and `pattern` members.
template <class Routes>
RouteMatch Match(const Routes& routes, std::string_view method,
                 const std::vector<std::string>& segments) {
  RouteMatch m;
  int i = 0;
  for (const auto& r : routes) {
    PathParams params;
    if (MatchPattern(r.pattern, segments, &params)) {
      if (std::string_view(r.method) == "*" || r.method == method) {
        m.index = i;
        m.params = std::move(params);
        return m;
      }
      if (m.allowed.find(r.method) == std::string::npos) {
        m.allowed += (m.allowed.empty() ? "" : ", ") + std::string(r.method);
      }
    }
    ++i;
  }
  return m;
}

}  // namespace ps::server
