#include "http/policy.h"

#include <algorithm>

#include "common/json.h"
#include "http/request.h"

namespace ps::http {
namespace {

std::string StripTrailingDots(std::string s) {
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// The key a parsed host is compared by (matches Url::HostForMatching).
std::string MatchKey(const ParsedHost& h) {
  if (h.ip) return h.ip->Format();
  return StripTrailingDots(h.serialized);
}

bool PortMatches(const std::optional<uint16_t>& want, uint16_t port) {
  return !want || *want == port;
}

}  // namespace

HostAllowlist::HostAllowlist(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  for (const auto& raw : patterns_) {
    std::string p = StripTrailingDots(LowerAscii(raw));
    if (p == "*") {
      compiled_.push_back({Pattern::Kind::kAny, ""});
    } else if (p.starts_with("*.") && p.size() > 2) {
      compiled_.push_back({Pattern::Kind::kSuffix, p.substr(2)});
    } else {
      auto h = ParseHost(p);
      if (h.ok())
        compiled_.push_back({Pattern::Kind::kExact, MatchKey(*h)});
      else
        compiled_.push_back({Pattern::Kind::kNever, ""});
    }
  }
}

bool HostAllowlist::Allows(const Url& url) const {
  std::string host = url.HostForMatching();
  for (const auto& p : compiled_) {
    switch (p.kind) {
      case Pattern::Kind::kAny:
        return true;
      case Pattern::Kind::kSuffix:
        if (url.ip) break;
        if (host == p.key) return true;
        if (host.size() > p.key.size() && host.ends_with(p.key) &&
            host[host.size() - p.key.size() - 1] == '.')
          return true;
        break;
      case Pattern::Kind::kExact:
        if (host == p.key) return true;
        break;
      case Pattern::Kind::kNever:
        break;
    }
  }
  return false;
}

std::string HostAllowlist::Describe() const {
  std::string out;
  for (const auto& p : patterns_) {
    if (!out.empty()) out += ", ";
    out += p;
  }
  return out;
}

Result<PrivateExceptions> PrivateExceptions::Parse(const std::vector<std::string>& entries) {
  PrivateExceptions out;
  for (const auto& text : entries) {
    auto bad = [&](const std::string& why) {
      return InvalidArgument("--allow-private " + Quote(text) + ": " + why +
                             "; expected HOST or HOST:PORT, such as 127.0.0.1:8080, "
                             "webhooks.lan or [::1]:9000");
    };
    std::string_view s = text;
    std::string_view host = s, port;
    bool has_port = false;
    if (!s.empty() && s[0] == '[') {
      size_t close = s.find(']');
      if (close == std::string_view::npos) return bad("the IPv6 address has no closing ]");
      host = s.substr(0, close + 1);
      std::string_view after = s.substr(close + 1);
      if (!after.empty()) {
        if (after[0] != ':') return bad("unexpected text after the IPv6 address");
        port = after.substr(1);
        has_port = true;
      }
    } else if (std::count(s.begin(), s.end(), ':') > 1) {
      // A bare IPv6 address: no port possible.
      std::string bracketed = "[" + std::string(s) + "]";
      auto h = ParseHost(bracketed);
      if (!h.ok()) return bad(h.status().message());
      out.entries_.push_back({text, MatchKey(*h), h->ip, std::nullopt});
      continue;
    } else if (size_t colon = s.find(':'); colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return bad("the host is empty");
    if (host.find_first_of("/?#@") != std::string_view::npos)
      return bad("a host, not a URL, is expected");
    auto h = ParseHost(host);
    if (!h.ok()) return bad(h.status().message());
    Entry e{text, MatchKey(*h), h->ip, std::nullopt};
    if (has_port) {
      if (port.empty() || port.size() > 5) return bad("the port is not a number from 1 to 65535");
      uint32_t v = 0;
      for (char c : port) {
        if (c < '0' || c > '9') return bad("the port is not a number from 1 to 65535");
        v = v * 10 + uint32_t(c - '0');
      }
      if (v == 0 || v > 65535) return bad("the port is not a number from 1 to 65535");
      e.port = uint16_t(v);
    }
    out.entries_.push_back(std::move(e));
  }
  return out;
}

bool PrivateExceptions::CoversHost(const Url& url) const {
  std::string key = url.HostForMatching();
  for (const auto& e : entries_)
    if (e.key == key && PortMatches(e.port, url.port)) return true;
  return false;
}

bool PrivateExceptions::CoversAddress(const Url& url, const IpAddress& addr) const {
  if (CoversHost(url)) return true;
  for (const auto& e : entries_)
    if (e.ip && *e.ip == addr && PortMatches(e.port, url.port)) return true;
  return false;
}

}  // namespace ps::http
