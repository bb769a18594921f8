// IP addresses and the SSRF classification of bridge.md §8 as plugin-sandbox decides it (spec
// README decision 4): which destinations a plugin may never reach, whatever its capabilities.
//
// Contract:
// - IpAddress holds an IPv4 or IPv6 address; Format() renders IPv4 dotted and IPv6 in the
//   WHATWG URL serialization (lower-case, longest zero run compressed, no dotted tail).
// - BlockedReason(a) is empty for a public unicast address and otherwise names the class the
//   address falls in ("a loopback address", "a private address", ...), ready to be used after
//   "<host> resolves to <addr>, ". Addresses that embed an IPv4 address (IPv4-mapped, SIIT,
//   NAT64 64:ff9b::/96, 6to4 2002::/16) are judged by the embedded address; IPv6 outside
//   2000::/3 (other than those embeddings) is refused as reserved.
// - BlockedHostName(host) refuses names that are internal or wildcard-DNS services by name,
//   before any lookup (bridge.md §8.4 lists, plus *.localhost as on Cloudflare).
// Thread-safe: pure functions. May call: common/. Called by: http/.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;

namespace ps::http {

struct IpAddress {
  bool v6 = false;
  // IPv4: bytes[0..3]; IPv6: all 16 bytes, network order.
  std::array<uint8_t, 16> bytes{};

  static IpAddress V4(uint32_t host_order);
  uint32_t v4() const;  // host order; only for !v6
  std::string Format() const;

  bool operator==(const IpAddress&) const = default;
  auto operator<=>(const IpAddress&) const = default;
};

// Strict literals: dotted-quad IPv4 (four decimal parts, as inet_pton) or IPv6 without brackets.
// URL host syntax (decimal, octal, hex, short forms) is parsed by http/url.h instead.
std::optional<IpAddress> ParseIpLiteral(std::string_view text);

// An address from a socket address (AF_INET / AF_INET6); nullopt for other families.
std::optional<IpAddress> FromSockaddr(const struct sockaddr* sa);

// Empty when `a` is a public unicast address; otherwise the class, e.g. "a private address".
std::string BlockedReason(const IpAddress& a);

// Empty when the host name (lower-case, trailing dots stripped) may be looked up; otherwise the
// reason it is refused by name, e.g. "localhost is an internal host name".
std::string BlockedHostName(std::string_view host);

}  // namespace ps::http
