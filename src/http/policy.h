// Who may fetch what: a plugin's host allowlist (network:request) and the operator's
// --allow-private exceptions to SSRF blocking (host-api.md).
//
// Contract:
// - HostAllowlist matches a URL's host against the grant's allowedHosts: `*` matches every host,
//   `*.example.com` matches example.com and every name below it, anything else must equal the
//   host. Both sides are compared lower-case without trailing dots; exact patterns are parsed as
//   URL hosts first, so `127.1` and `[0:0::1]` match the hosts URLs serialize them to. Suffix
//   patterns apply to names, never to IP addresses. Patterns carry no port (the manifest refuses
//   ports: a pattern covers every port of its host).
// - PrivateExceptions holds `HOST` or `HOST:PORT` entries. An entry covers a destination when
//   its port is absent or equal, and its host equals the URL's host (then every address that
//   host resolves to is exempt, and name blocks such as localhost are lifted), or its host is an
//   IP address equal to the address being connected to.
// Thread-safe: immutable after construction. May call: common/, http/url.h, http/address.h.
// Called by: http/fetcher.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/address.h"
#include "http/url.h"

namespace ps::http {

class HostAllowlist {
 public:
  explicit HostAllowlist(std::vector<std::string> patterns);

  bool empty() const { return patterns_.empty(); }
  bool Allows(const Url& url) const;
  // The patterns as granted, joined by ", " (for the refusal message).
  std::string Describe() const;

 private:
  struct Pattern {
    enum class Kind { kAny, kSuffix, kExact, kNever } kind;
    std::string key;  // suffix without "*.", or the exact host's matching key
  };
  std::vector<std::string> patterns_;
  std::vector<Pattern> compiled_;
};

class PrivateExceptions {
 public:
  struct Entry {
    std::string text;             // as the operator wrote it
    std::string key;              // host as compared: name without trailing dots, or address
    std::optional<IpAddress> ip;  // set when the host is an IP address
    std::optional<uint16_t> port;
  };

  // Fails with InvalidArgument naming the bad entry and what was expected.
  static Result<PrivateExceptions> Parse(const std::vector<std::string>& entries);

  // The URL's host (and port) is named by an entry.
  bool CoversHost(const Url& url) const;
  // `addr`, reached for `url`, is exempt: the host is covered or an entry names the address.
  bool CoversAddress(const Url& url, const IpAddress& addr) const;
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
};

}  // namespace ps::http
