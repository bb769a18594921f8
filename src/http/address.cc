#include "http/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>
#include <initializer_list>

namespace ps::http {
namespace {

bool InV4(uint32_t x, uint32_t net, int bits) {
  uint32_t mask = bits == 0 ? 0 : ~uint32_t(0) << (32 - bits);
  return (x & mask) == (net & mask);
}

constexpr uint32_t Ip4(int a, int b, int c, int d) {
  return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d);
}

std::string V4Reason(uint32_t x) {
  if (InV4(x, Ip4(0, 0, 0, 0), 8)) return "an unspecified (0.0.0.0/8, \"this network\") address";
  if (InV4(x, Ip4(10, 0, 0, 0), 8)) return "a private address";
  if (InV4(x, Ip4(100, 64, 0, 0), 10)) return "a carrier-grade NAT (100.64.0.0/10) address";
  if (InV4(x, Ip4(127, 0, 0, 0), 8)) return "a loopback address";
  if (InV4(x, Ip4(169, 254, 0, 0), 16))
    return "a link-local address (where cloud metadata services live)";
  if (InV4(x, Ip4(172, 16, 0, 0), 12)) return "a private address";
  if (InV4(x, Ip4(192, 0, 0, 0), 24)) return "an IETF protocol assignment (192.0.0.0/24) address";
  if (InV4(x, Ip4(192, 0, 2, 0), 24) || InV4(x, Ip4(198, 51, 100, 0), 24) ||
      InV4(x, Ip4(203, 0, 113, 0), 24))
    return "a documentation address";
  if (InV4(x, Ip4(192, 88, 99, 0), 24)) return "a 6to4 relay anycast address";
  if (InV4(x, Ip4(192, 168, 0, 0), 16)) return "a private address";
  if (InV4(x, Ip4(198, 18, 0, 0), 15)) return "a benchmarking (198.18.0.0/15) address";
  if (InV4(x, Ip4(224, 0, 0, 0), 4)) return "a multicast address";
  if (x == 0xffffffffu) return "the broadcast address";
  if (InV4(x, Ip4(240, 0, 0, 0), 4)) return "a reserved (240.0.0.0/4) address";
  return "";
}

// True iff the first `bits` bits of `a` equal those of `prefix` (IPv6).
bool InV6(const IpAddress& a, std::initializer_list<uint8_t> prefix, int bits) {
  std::array<uint8_t, 16> p{};
  size_t i = 0;
  for (uint8_t b : prefix) p[i++] = b;
  for (int bit = 0; bit < bits; ++bit) {
    int byte = bit / 8, shift = 7 - bit % 8;
    if (((a.bytes[byte] >> shift) & 1) != ((p[byte] >> shift) & 1)) return false;
  }
  return true;
}

uint32_t Embedded(const IpAddress& a, int at) {
  return (uint32_t(a.bytes[at]) << 24) | (uint32_t(a.bytes[at + 1]) << 16) |
         (uint32_t(a.bytes[at + 2]) << 8) | uint32_t(a.bytes[at + 3]);
}

std::string EmbeddedReason(const char* form, uint32_t v4) {
  std::string why = V4Reason(v4);
  if (why.empty()) return "";
  return std::string(form) + " of " + IpAddress::V4(v4).Format() + ", " + why;
}

std::string V6Reason(const IpAddress& a) {
  bool zero80 = true;  // first 80 bits zero
  for (int i = 0; i < 10; ++i) zero80 &= a.bytes[i] == 0;
  if (zero80 && a.bytes[10] == 0xff && a.bytes[11] == 0xff)
    return EmbeddedReason("an IPv4-mapped form", Embedded(a, 12));
  bool zero96 = zero80 && a.bytes[10] == 0 && a.bytes[11] == 0;
  if (zero96) {
    if (Embedded(a, 12) == 0) return "an unspecified address";
    if (Embedded(a, 12) == 1) return "a loopback address";
    return "a deprecated IPv4-compatible address";
  }
  // SIIT ::ffff:0:a.b.c.d (::ffff:0:0/96).
  if (InV6(a, {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 96))
    return EmbeddedReason("an IPv4-translated (SIIT) form", Embedded(a, 12));
  if (InV6(a, {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}, 96))
    return EmbeddedReason("a NAT64 form", Embedded(a, 12));
  if (InV6(a, {0, 0x64, 0xff, 0x9b, 0, 1}, 48)) return "a local-use NAT64 (private) address";
  if (InV6(a, {0x20, 0x02}, 16)) return EmbeddedReason("a 6to4 form", Embedded(a, 2));
  if (InV6(a, {0xfe, 0x80}, 10)) return "a link-local address";
  if (InV6(a, {0xfe, 0xc0}, 10)) return "a site-local (private) address";
  if (InV6(a, {0xfc, 0x00}, 7)) return "a unique local (private) address";
  if (InV6(a, {0xff, 0x00}, 8)) return "a multicast address";
  if (!InV6(a, {0x20, 0x00}, 3)) return "a reserved address (outside the global unicast 2000::/3)";
  if (InV6(a, {0x20, 0x01, 0x0d, 0xb8}, 32) || InV6(a, {0x3f, 0xff}, 20))
    return "a documentation address";
  if (InV6(a, {0x20, 0x01, 0x00, 0x00}, 32)) return "a Teredo tunnel address";
  if (InV6(a, {0x20, 0x01}, 23)) return "an IETF protocol assignment (2001::/23) address";
  return "";
}

bool EndsWithLabel(std::string_view host, std::string_view suffix) {
  if (host == suffix) return true;
  return host.size() > suffix.size() && host.ends_with(suffix) &&
         host[host.size() - suffix.size() - 1] == '.';
}

}  // namespace

IpAddress IpAddress::V4(uint32_t x) {
  IpAddress a;
  a.bytes[0] = uint8_t(x >> 24);
  a.bytes[1] = uint8_t(x >> 16);
  a.bytes[2] = uint8_t(x >> 8);
  a.bytes[3] = uint8_t(x);
  return a;
}

uint32_t IpAddress::v4() const { return Embedded(*this, 0); }

std::string IpAddress::Format() const {
  if (!v6) {
    return std::to_string(bytes[0]) + "." + std::to_string(bytes[1]) + "." +
           std::to_string(bytes[2]) + "." + std::to_string(bytes[3]);
  }
  uint16_t pieces[8];
  for (int i = 0; i < 8; ++i) pieces[i] = uint16_t((bytes[2 * i] << 8) | bytes[2 * i + 1]);
  // WHATWG: compress the first longest run of at least two zero pieces.
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (pieces[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && pieces[j] == 0) ++j;
    if (j - i > best_len) best = i, best_len = j - i;
    i = j;
  }
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += i == 0 ? "::" : ":";
      i += best_len - 1;
      continue;
    }
    std::snprintf(buf, sizeof buf, "%x", pieces[i]);
    out += buf;
    if (i != 7) out += ':';
  }
  return out;
}

std::optional<IpAddress> ParseIpLiteral(std::string_view text) {
  std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.v6 = true;
    return a;
  }
  return std::nullopt;
}

std::optional<IpAddress> FromSockaddr(const struct sockaddr* sa) {
  if (!sa) return std::nullopt;
  IpAddress a;
  if (sa->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    std::memcpy(a.bytes.data(), &in.sin_addr, 4);
    return a;
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    std::memcpy(a.bytes.data(), &in6.sin6_addr, 16);
    a.v6 = true;
    return a;
  }
  return std::nullopt;
}

std::string BlockedReason(const IpAddress& a) { return a.v6 ? V6Reason(a) : V4Reason(a.v4()); }

std::string BlockedHostName(std::string_view host) {
  if (EndsWithLabel(host, "localhost")) return std::string(host) + " is an internal host name";
  if (host == "metadata.google.internal" || host == "metadata.google")
    return std::string(host) + " is a cloud metadata host name";
  static constexpr std::string_view kWildcardDns[] = {"nip.io",     "sslip.io", "xip.io",
                                                      "traefik.me", "lvh.me",   "localtest.me"};
  for (std::string_view suffix : kWildcardDns) {
    if (EndsWithLabel(host, suffix)) {
      return std::string(host) + " belongs to " + std::string(suffix) +
             ", a wildcard DNS service whose names can point at any address, private ones "
             "included; use the service's real host name";
    }
  }
  return "";
}

}  // namespace ps::http
