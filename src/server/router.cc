#include "server/router.h"

#include "server/http_server.h"

namespace ps::server {

std::vector<std::string> PathSegments(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 0;
  // Bounded: a path with more segments than any route has matches nothing anyway.
  for (size_t n = 0; pos < path.size() && n < 256; ++n) {
    size_t slash = path.find('/', pos);
    std::string part = path.substr(pos, slash == std::string::npos ? path.npos : slash - pos);
    if (!part.empty()) out.push_back(PercentDecode(part, false));
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return out;
}

const std::string& PathParams::operator[](std::string_view name) const {
  static const std::string kNone;
  for (const auto& [k, v] : values_) {
    if (k == name) return v;
  }
  return kNone;
}

bool MatchPattern(std::string_view pattern, const std::vector<std::string>& segments,
                  PathParams* params) {
  size_t i = 0;
  size_t pos = pattern.empty() || pattern[0] != '/' ? 0 : 1;
  while (pos <= pattern.size()) {
    size_t slash = pattern.find('/', pos);
    std::string_view part =
        pattern.substr(pos, slash == std::string_view::npos ? pattern.npos : slash - pos);
    if (part.empty()) break;
    if (part.front() == '{' && part.back() == '}') {
      std::string_view name = part.substr(1, part.size() - 2);
      if (name.size() > 3 && name.substr(name.size() - 3) == "...") {
        if (i >= segments.size()) return false;
        std::string rest;
        for (size_t k = i; k < segments.size(); ++k) rest += (k > i ? "/" : "") + segments[k];
        params->Add(std::string(name.substr(0, name.size() - 3)), std::move(rest));
        return true;
      }
      if (i >= segments.size()) return false;
      params->Add(std::string(name), segments[i]);
    } else if (i >= segments.size() || segments[i] != part) {
      return false;
    }
    ++i;
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return i == segments.size();
}

}  // namespace ps::server
