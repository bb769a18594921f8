// The URL parser and the SSRF classifier behind ctx.http.fetch (http/url.h, http/address.h,
// http/fetcher.h SsrfDestinations). Input: a URL, a newline, a base URL (a redirect's Location is
// resolved against it), a newline, then up to 8 addresses the "resolver" answers for any name,
// 17 bytes each (a family byte, odd for IPv6, and 16 address bytes).
//
// Properties beyond "no crash, no leak, no undefined behaviour":
// - an IP host is what the system connects to: the serialized host, read by getaddrinfo as a
//   numeric host (what libcurl does with it), is the same address, in the same SSRF class;
// - a host that is not an IP is not numeric to getaddrinfo either (no name the resolver would
//   read as an address escapes the address check);
// - a URL the policy allows never leads to a blocked address: every address SsrfDestinations
//   returns without exceptions is public unicast (BlockedReason empty);
// - the parse is stable: parsing the serialization (Href) again gives the same Href.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "http/address.h"
#include "http/fetcher.h"
#include "http/policy.h"
#include "http/url.h"

namespace {

using ps::http::IpAddress;

// getaddrinfo(host, AI_NUMERICHOST): the one address a numeric host denotes, if it is numeric.
std::optional<IpAddress> NumericHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return std::nullopt;
  auto a = ps::http::FromSockaddr(res->ai_addr);
  freeaddrinfo(res);
  return a;
}

void CheckUrl(const ps::http::Url& u, const std::vector<IpAddress>& answers) {
  if (!u.http()) return;
  std::string host = u.HostForMatching();
  auto numeric = NumericHost(host);
  if (u.ip) {
    PS_FUZZ_CHECK(numeric.has_value(), "the IP host " + host + " is not numeric to getaddrinfo");
    PS_FUZZ_CHECK(*numeric == *u.ip, "host " + u.host + " parses to " + u.ip->Format() +
                                         " but getaddrinfo reads " + numeric->Format());
    PS_FUZZ_CHECK(ps::http::BlockedReason(*numeric) == ps::http::BlockedReason(*u.ip),
                  "the classes differ for " + u.host);
  } else {
    PS_FUZZ_CHECK(!numeric.has_value(), "the name " + host + " is numeric to getaddrinfo (" +
                                            (numeric ? numeric->Format() : "") + ")");
  }

  static const auto none = ps::http::PrivateExceptions::Parse({});
  auto resolve = [&](const std::string&) -> ps::Result<std::vector<IpAddress>> { return answers; };
  auto dest = ps::http::SsrfDestinations("fuzz", u, *none, resolve);
  if (dest.ok()) {
    PS_FUZZ_CHECK(!dest->empty(), "an allowed fetch of " + u.Href() + " has no address");
    for (const IpAddress& a : *dest) {
      PS_FUZZ_CHECK(
          ps::http::BlockedReason(a).empty(),
          u.Href() + " is allowed to reach " + a.Format() + ", " + ps::http::BlockedReason(a));
    }
  } else {
    PS_FUZZ_CHECK(dest.status().code() == ps::Code::kPermissionDenied ||
                      dest.status().code() == ps::Code::kUnavailable,
                  dest.status().message());
  }

  std::string href = u.Href();
  auto again = ps::http::ParseUrl(href);
  PS_FUZZ_CHECK(again.ok(),
                "the serialization " + href + " does not parse: " + again.status().message());
  PS_FUZZ_CHECK(again->Href() == href, "reparsing " + href + " gives " + again->Href());
  PS_FUZZ_CHECK(again->ip == u.ip, "reparsing " + href + " changes the address");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ps::fuzz::Reader in(data, size);
  std::string_view input = in.Until('\n');
  std::string_view base_text = in.Until('\n');
  std::string_view rest = in.Rest();
  std::vector<IpAddress> answers;
  for (size_t off = 0; off + 17 <= rest.size() && answers.size() < 8; off += 17) {
    IpAddress a;
    a.v6 = rest[off] & 1;
    std::memcpy(a.bytes.data(), rest.data() + off + 1, 16);
    if (!a.v6) std::memset(a.bytes.data() + 4, 0, 12);
    answers.push_back(a);
  }

  if (auto u = ps::http::ParseUrl(input); u.ok()) CheckUrl(*u, answers);
  if (auto base = ps::http::ParseUrl(base_text); base.ok()) {
    if (auto r = ps::http::ParseUrl(input, &*base); r.ok()) CheckUrl(*r, answers);
  }
  if (auto h = ps::http::ParseHost(input); h.ok() && h->ip) {
    PS_FUZZ_CHECK(ps::http::ParseHost(h->serialized).ok(), "a host's serialization fails");
  }
  if (auto ip = ps::http::ParseIpLiteral(input)) {
    auto back = ps::http::ParseIpLiteral(ip->Format());
    PS_FUZZ_CHECK(back && *back == *ip, "an address's Format does not read back");
  }
  return 0;
}
