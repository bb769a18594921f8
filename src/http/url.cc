#include "http/url.h"

#include <arpa/inet.h>

#include <vector>

#include "common/json.h"

namespace ps::http {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSlash(char c) { return c == '/' || c == '\\'; }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// WHATWG basic URL parser, step 1-3: trim C0 controls and spaces; drop tabs and newlines.
std::string Preprocess(std::string_view in) {
  while (!in.empty() && static_cast<unsigned char>(in.front()) <= 0x20) in.remove_prefix(1);
  while (!in.empty() && static_cast<unsigned char>(in.back()) <= 0x20) in.remove_suffix(1);
  std::string out;
  out.reserve(in.size());
  for (char c : in)
    if (c != '\t' && c != '\n' && c != '\r') out += c;
  return out;
}

// The scheme (lower-case) and the index after its ':' when `s` starts with one.
std::optional<std::pair<std::string, size_t>> LeadingScheme(std::string_view s) {
  if (s.empty() || !IsAlpha(s[0])) return std::nullopt;
  for (size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == ':') {
      std::string scheme;
      for (char x : s.substr(0, i)) scheme += Lower(x);
      return std::make_pair(scheme, i + 1);
    }
    if (!(IsAlpha(c) || IsDigit(c) || c == '+' || c == '-' || c == '.')) return std::nullopt;
  }
  return std::nullopt;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += char(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// WHATWG IPv4 number parser: 0x/0X hex, leading-0 octal, else decimal. Saturates large values
// (anything above 2^32 fails the range checks anyway).
std::optional<uint64_t> Ipv4Number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int radix = 10;
  if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    radix = 16;
    s.remove_prefix(2);
  } else if (s.size() >= 2 && s[0] == '0') {
    radix = 8;
    s.remove_prefix(1);
  }
  uint64_t v = 0;
  for (char c : s) {
    int d = HexValue(c);
    if (d < 0 || d >= radix) return std::nullopt;
    v = v * radix + d;
    if (v > (uint64_t(1) << 40)) v = uint64_t(1) << 40;
  }
  return v;
}

std::vector<std::string_view> SplitDots(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    parts.push_back(
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

bool EndsInANumber(std::string_view host) {
  auto parts = SplitDots(host);
  if (parts.back().empty()) {
    if (parts.size() == 1) return false;
    parts.pop_back();
  }
  std::string_view last = parts.back();
  if (!last.empty()) {
    bool digits = true;
    for (char c : last) digits &= IsDigit(c);
    if (digits) return true;
  }
  return Ipv4Number(last).has_value() && last.size() >= 2 && last[0] == '0' &&
         (last[1] == 'x' || last[1] == 'X');
}

Result<IpAddress> ParseIpv4(std::string_view host) {
  auto parts = SplitDots(host);
  if (parts.back().empty() && parts.size() > 1) parts.pop_back();
  if (parts.size() > 4)
    return InvalidArgument("the host looks like an IPv4 address but has more than four parts");
  std::vector<uint64_t> numbers;
  for (auto p : parts) {
    auto n = Ipv4Number(p);
    if (!n)
      return InvalidArgument("the host looks like an IPv4 address but \"" + std::string(p) +
                             "\" is not a number");
    numbers.push_back(*n);
  }
  for (size_t i = 0; i + 1 < numbers.size(); ++i)
    if (numbers[i] > 255) return InvalidArgument("an IPv4 address part is above 255");
  uint64_t limit = uint64_t(1) << (8 * (5 - numbers.size()));
  if (numbers.back() >= limit) return InvalidArgument("the IPv4 address is out of range");
  uint64_t v = numbers.back();
  for (size_t i = 0; i + 1 < numbers.size(); ++i) v += numbers[i] << (8 * (3 - i));
  return IpAddress::V4(uint32_t(v));
}

bool ForbiddenDomainCodePoint(unsigned char c) {
  if (c <= 0x20 || c == 0x7f) return true;
  switch (c) {
    case '#':
    case '%':
    case '/':
    case ':':
    case '<':
    case '>':
    case '?':
    case '@':
    case '[':
    case '\\':
    case ']':
    case '^':
    case '|':
      return true;
    default:
      return false;
  }
}

void PercentEncodeInto(std::string& out, unsigned char c) {
  static const char kHex[] = "0123456789ABCDEF";
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

std::string EncodePathSegment(std::string_view s) {
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7e || c == ' ' || c == '"' || c == '#' || c == '<' || c == '>' ||
        c == '?' || c == '`' || c == '{' || c == '}')
      PercentEncodeInto(out, c);
    else
      out += ch;
  }
  return out;
}

std::string EncodeQuery(std::string_view s) {
  std::string out;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c > 0x7e || c == ' ' || c == '"' || c == '#' || c == '<' || c == '>' ||
        c == '\'')
      PercentEncodeInto(out, c);
    else
      out += ch;
  }
  return out;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

bool SingleDot(std::string_view s) { return s == "." || IEquals(s, "%2e"); }
bool DoubleDot(std::string_view s) {
  return s == ".." || IEquals(s, ".%2e") || IEquals(s, "%2e.") || IEquals(s, "%2e%2e");
}

// The path state of a special URL: segments split on '/' or '\', dot segments applied.
std::string NormalizePath(std::string_view raw) {
  if (!raw.empty() && IsSlash(raw[0])) raw.remove_prefix(1);
  std::vector<std::string> segments;
  for (;;) {
    size_t j = raw.find_first_of("/\\");
    std::string_view seg = raw.substr(0, j);
    bool last = j == std::string_view::npos;
    if (DoubleDot(seg)) {
      if (!segments.empty()) segments.pop_back();
      if (last) segments.emplace_back();
    } else if (SingleDot(seg)) {
      if (last) segments.emplace_back();
    } else {
      segments.push_back(EncodePathSegment(seg));
    }
    if (last) break;
    raw.remove_prefix(j + 1);
  }
  std::string path;
  for (const auto& s : segments) path += "/" + s;
  return path.empty() ? "/" : path;
}

// Path, query and fragment of a special URL (the fragment is dropped).
void SetPathAndQuery(Url& u, std::string_view rest) {
  rest = rest.substr(0, rest.find('#'));
  size_t q = rest.find('?');
  u.path = NormalizePath(rest.substr(0, q));
  if (q == std::string_view::npos)
    u.query.reset();
  else
    u.query = EncodeQuery(rest.substr(q + 1));
}

Status ParseAuthority(std::string_view auth, Url& u) {
  size_t at = auth.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = auth.substr(0, at);
    for (char c : userinfo) u.has_credentials |= c != ':';
    auth.remove_prefix(at + 1);
  }
  std::string_view host, port;
  bool has_port = false;
  if (!auth.empty() && auth[0] == '[') {
    size_t close = auth.find(']');
    if (close == std::string_view::npos)
      return InvalidArgument("the IPv6 address has no closing ]");
    host = auth.substr(0, close + 1);
    std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return InvalidArgument("unexpected text after the IPv6 address");
      port = after.substr(1);
      has_port = true;
    }
  } else {
    size_t colon = auth.find(':');
    host = auth.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = auth.substr(colon + 1);
      has_port = true;
    }
  }
  if (host.empty()) return InvalidArgument("the host is empty");
  PS_ASSIGN(ParsedHost h, ParseHost(host));
  u.host = std::move(h.serialized);
  u.ip = h.ip;
  uint16_t def = u.scheme == "https" ? 443 : 80;
  u.port = def;
  if (has_port && !port.empty()) {
    uint32_t v = 0;
    for (char c : port) {
      if (!IsDigit(c)) return InvalidArgument("the port is not a number");
      v = v * 10 + uint32_t(c - '0');
      if (v > 65535) return InvalidArgument("the port is above 65535");
    }
    u.port = uint16_t(v);
  }
  u.default_port = u.port == def;
  return Status::Ok();
}

// After "scheme:" and any slashes: authority, then path/query/fragment.
Result<Url> ParseAfterSlashes(Url u, std::string_view rest) {
  while (!rest.empty() && IsSlash(rest[0])) rest.remove_prefix(1);
  size_t end = rest.find_first_of("/\\?#");
  PS_TRY(ParseAuthority(rest.substr(0, end), u));
  SetPathAndQuery(u, end == std::string_view::npos ? std::string_view() : rest.substr(end));
  return u;
}

Result<Url> ParseRelative(std::string_view rest, const Url& base) {
  Url u = base;
  u.has_credentials = false;
  if (rest.empty()) return u;
  if (IsSlash(rest[0])) {
    if (rest.size() > 1 && IsSlash(rest[1])) {
      Url fresh;
      fresh.scheme = base.scheme;
      return ParseAfterSlashes(std::move(fresh), rest);
    }
    SetPathAndQuery(u, rest);
    return u;
  }
  if (rest[0] == '?') {
    rest = rest.substr(0, rest.find('#'));
    u.query = EncodeQuery(rest.substr(1));
    return u;
  }
  if (rest[0] == '#') return u;
  std::string merged = base.path.substr(0, base.path.rfind('/') + 1);
  merged += rest;
  SetPathAndQuery(u, merged);
  return u;
}

}  // namespace

std::string Url::HostForMatching() const {
  if (ip && ip->v6) return ip->Format();
  std::string h = host;
  while (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

std::string Url::Href() const {
  std::string out = scheme + "://" + host;
  if (!default_port) out += ":" + std::to_string(port);
  out += path;
  if (query) out += "?" + *query;
  return out;
}

std::string Url::Origin() const { return scheme + "://" + host + ":" + std::to_string(port); }

Result<ParsedHost> ParseHost(std::string_view input) {
  if (input.empty()) return InvalidArgument("the host is empty");
  if (input[0] == '[') {
    if (input.size() < 3 || input.back() != ']')
      return InvalidArgument("the IPv6 address has no closing ]");
    std::string inner(input.substr(1, input.size() - 2));
    IpAddress a;
    a.v6 = true;
    if (inet_pton(AF_INET6, inner.c_str(), a.bytes.data()) != 1)
      return InvalidArgument("\"" + inner + "\" is not an IPv6 address");
    return ParsedHost{"[" + a.Format() + "]", a};
  }
  std::string decoded = PercentDecode(input);
  std::string host;
  for (char ch : decoded) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x80) {
      return InvalidArgument(
          "the host is not ASCII; write an internationalized name in its xn-- (punycode) form");
    }
    if (ForbiddenDomainCodePoint(c))
      return InvalidArgument("the host contains a character no host name may hold");
    host += Lower(ch);
  }
  if (host.empty()) return InvalidArgument("the host is empty");
  if (EndsInANumber(host)) {
    PS_ASSIGN(IpAddress a, ParseIpv4(host));
    return ParsedHost{a.Format(), a};
  }
  // WHATWG keeps "169..." a name (only one trailing dot is ignored before the number check), but
  // the name we match and resolve has every trailing dot removed, and "169" is an address to the
  // system resolver. Such a host is neither a usable name nor an address: refuse it.
  std::string_view bare(host);
  while (!bare.empty() && bare.back() == '.') bare.remove_suffix(1);
  if (!bare.empty() && EndsInANumber(bare)) {
    return InvalidArgument("the host " + Quote(host) +
                           " ends in a number after its trailing dots but is not an IPv4 address");
  }
  return ParsedHost{host, std::nullopt};
}

Result<Url> ParseUrl(std::string_view input, const Url* base) {
  std::string s = Preprocess(input);
  auto scheme = LeadingScheme(s);
  std::string_view rest(s);
  if (scheme && (!base || scheme->first != base->scheme)) {
    Url u;
    u.scheme = scheme->first;
    if (!u.http()) return u;
    return ParseAfterSlashes(std::move(u), rest.substr(scheme->second));
  }
  if (!base) return InvalidArgument("it is not an absolute URL (no scheme such as https:)");
  if (scheme) {
    rest.remove_prefix(scheme->second);
    if (rest.size() >= 2 && IsSlash(rest[0]) && IsSlash(rest[1])) {
      Url u;
      u.scheme = scheme->first;
      return ParseAfterSlashes(std::move(u), rest);
    }
  }
  return ParseRelative(rest, *base);
}

}  // namespace ps::http
