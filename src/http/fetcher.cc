#include "http/fetcher.h"

#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include "capabilities/capabilities.h"
#include "common/encoding.h"
#include "http/request.h"
#include "http/url.h"

namespace ps::http {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kAllowPrivateAdvice[] =
    "; ask the site operator to add it with --allow-private if this is intended";

// ---- Errors the plugin sees -----------------------------------------------------------------

std::string PluginPrefix(const std::string& id) { return "Plugin " + Quote(id) + ": "; }

Status Blocked(const std::string& id, const Url& url, const std::string& why) {
  return PermissionDenied(PluginPrefix(id) + "blocked fetch to " + Quote(url.host) + ": " + why);
}

Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }

// ---- Name lookup ----------------------------------------------------------------------------

// Lookups that outlive their fetch (the deadline passed first) finish on their own thread; this
// bounds how many may be pending at once.
std::atomic<int> g_lookups_in_flight{0};
constexpr int kMaxLookupsInFlight = 64;

struct Lookup {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int rc = 0;
  std::vector<IpAddress> addresses;
};

Result<std::vector<IpAddress>> SystemResolve(const std::string& id, const std::string& host,
                                             Clock::time_point deadline) {
  if (g_lookups_in_flight.fetch_add(1) >= kMaxLookupsInFlight) {
    --g_lookups_in_flight;
    return Unavailable(PluginPrefix(id) + "could not resolve " + Quote(host) +
                       ": too many name lookups in progress; try again later");
  }
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
      std::vector<IpAddress> out;
      if (rc == 0) {
        for (addrinfo* ai = res; ai; ai = ai->ai_next) {
          auto a = FromSockaddr(ai->ai_addr);
          if (a && std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(*a);
        }
        freeaddrinfo(res);
      }
      {
        std::lock_guard<std::mutex> lock(lookup->mu);
        lookup->rc = rc;
        lookup->addresses = std::move(out);
        lookup->done = true;
      }
      lookup->cv.notify_all();
      --g_lookups_in_flight;
    }).detach();
  } catch (const std::system_error&) {
    --g_lookups_in_flight;
    return Unavailable(PluginPrefix(id) + "could not resolve " + Quote(host) +
                       ": no thread for the lookup; try again later");
  }
  std::unique_lock<std::mutex> lock(lookup->mu);
  if (!lookup->cv.wait_until(lock, deadline, [&] { return lookup->done; })) {
    return Unavailable(PluginPrefix(id) + "fetch timed out while resolving " + Quote(host));
  }
  if (lookup->rc == EAI_NONAME || lookup->rc == EAI_NODATA) return std::vector<IpAddress>{};
  if (lookup->rc != 0) {
    return Unavailable(PluginPrefix(id) + "could not resolve " + Quote(host) + ": " +
                       gai_strerror(lookup->rc));
  }
  return std::move(lookup->addresses);
}

// ---- One HTTP exchange through curl ---------------------------------------------------------

struct Response {
  long status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // lower-case names, in order
  std::string body;

  const std::string* Header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return &v;
    return nullptr;
  }
};

struct Hop {
  Url url;
  std::string method;
  std::vector<std::pair<std::string, std::string>> headers;
  FetchInit::BodyKind body_kind = FetchInit::BodyKind::kNone;
  const std::string* body = nullptr;
  const std::vector<FormPart>* form = nullptr;
};

struct Transfer {
  size_t max_body = 0;
  size_t max_headers = 0;
  size_t header_bytes = 0;
  bool body_too_large = false;
  bool headers_too_large = false;
  std::set<IpAddress> allowed;  // the checked addresses curl may connect to
  bool refused_address = false;
  std::string refused;
  Response response;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

size_t OnHeader(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t len = size * n;
  t->header_bytes += len;
  if (t->header_bytes > t->max_headers) {
    t->headers_too_large = true;
    return 0;
  }
  std::string_view line(data, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return len;
  if (line.starts_with("HTTP/")) {
    // A status line starts a new response (after 1xx interim responses, too).
    t->response.headers.clear();
    t->response.reason.clear();
    size_t sp = line.find(' ');
    if (sp != std::string_view::npos) {
      std::string_view rest = line.substr(sp + 1);
      size_t sp2 = rest.find(' ');
      if (sp2 != std::string_view::npos)
        t->response.reason = std::string(Trim(rest.substr(sp2 + 1)));
    }
    return len;
  }
  if (line.front() == ' ' || line.front() == '\t') {  // obsolete line folding
    if (!t->response.headers.empty()) {
      auto& v = t->response.headers.back().second;
      v += (v.empty() ? "" : " ") + std::string(Trim(line));
    }
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return len;
  t->response.headers.emplace_back(LowerAscii(Trim(line.substr(0, colon))),
                                   std::string(Trim(line.substr(colon + 1))));
  return len;
}

size_t OnBody(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t len = size * n;
  if (t->response.body.size() + len > t->max_body) {
    t->body_too_large = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  t->response.body.append(data, len);
  return len;
}

// The last line of defence: curl may open a socket only to an address we checked.
curl_socket_t OnOpenSocket(void* p, curlsocktype purpose, struct curl_sockaddr* a) {
  auto* t = static_cast<Transfer*>(p);
  auto ip = FromSockaddr(&a->addr);
  if (purpose != CURLSOCKTYPE_IPCXN || !ip || !t->allowed.count(*ip)) {
    t->refused_address = true;
    t->refused = ip ? ip->Format() : "a non-IP address";
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

bool HasHeader(const std::vector<std::pair<std::string, std::string>>& h, std::string_view lower) {
  for (const auto& [n, v] : h)
    if (LowerAscii(n) == lower) return true;
  return false;
}

struct CurlDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  void operator()(curl_mime* m) const { curl_mime_free(m); }
};

class Exchange {
 public:
  Exchange(const std::string& plugin_id, const FetcherOptions& options)
      : id_(plugin_id), options_(options) {}

  Result<Response> Run(const Hop& hop, const std::vector<IpAddress>& addresses,
                       Clock::time_point deadline, Clock::time_point started) {
    std::unique_ptr<CURL, CurlDeleter> h(curl_easy_init());
    if (!h) return Internal("curl_easy_init failed");
    CURL* c = h.get();
    Transfer t;
    t.max_body = options_.max_response_bytes;
    t.max_headers = options_.max_header_bytes;
    t.allowed.insert(addresses.begin(), addresses.end());

    const Url& u = hop.url;
    std::string host =
        u.ip ? (u.ip->v6 ? "[" + u.ip->Format() + "]" : u.ip->Format()) : u.HostForMatching();
    std::string port = std::to_string(u.port);
    std::string target = u.scheme + "://" + host + ":" + port + u.path;
    if (u.query) target += "?" + *u.query;

    std::unique_ptr<curl_slist, CurlDeleter> resolve;
    if (!u.ip && options_.pin_addresses) {
      std::string entry = host + ":" + port + ":";
      for (size_t i = 0; i < addresses.size(); ++i) {
        if (i) entry += ",";
        entry += addresses[i].v6 ? "[" + addresses[i].Format() + "]" : addresses[i].Format();
      }
      resolve.reset(curl_slist_append(nullptr, entry.c_str()));
    }

    std::unique_ptr<curl_slist, CurlDeleter> headers;
    auto add_header = [&](const std::string& line) {
      curl_slist* next = curl_slist_append(headers.get(), line.c_str());
      if (next) {
        (void)headers.release();
        headers.reset(next);
      }
    };
    for (const auto& [name, value] : hop.headers)
      add_header(value.empty() ? name + ";" : name + ": " + value);
    add_header("Expect:");  // no 100-continue round trip for large bodies
    bool has_content_type = HasHeader(hop.headers, "content-type");

    std::unique_ptr<curl_mime, CurlDeleter> mime;
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, target.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_PROXY, "");  // never a proxy from the environment
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (resolve) curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    if (!options_.user_agent.empty())
      curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());

    auto now = Clock::now();
    if (now >= deadline) return TimedOut(u, started);
    long remaining = std::max<long>(
        1, long(std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count()));
    long connect = std::min<long>(remaining, long(options_.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, remaining);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::max<long>(1, connect));

    if (hop.method == "GET") {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (hop.method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else {
      if (hop.method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, hop.method.c_str());
      switch (hop.body_kind) {
        case FetchInit::BodyKind::kText:
        case FetchInit::BodyKind::kBytes:
          curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(hop.body->size()));
          curl_easy_setopt(c, CURLOPT_POSTFIELDS, hop.body->data());
          // As Node's Request: a string body is text/plain unless the plugin said otherwise;
          // bytes get no content type (and not curl's form-urlencoded default).
          if (!has_content_type) {
            add_header(hop.body_kind == FetchInit::BodyKind::kText
                           ? "Content-Type: text/plain;charset=UTF-8"
                           : "Content-Type:");
          }
          break;
        case FetchInit::BodyKind::kForm: {
          mime.reset(curl_mime_init(c));
          for (const auto& part : *hop.form) {
            curl_mimepart* mp = curl_mime_addpart(mime.get());
            curl_mime_name(mp, part.name.c_str());
            curl_mime_data(mp, part.value.data(), part.value.size());
            if (part.is_blob) {
              curl_mime_filename(mp, part.filename ? part.filename->c_str() : "blob");
              curl_mime_type(mp, part.type && !part.type->empty() ? part.type->c_str()
                                                                  : "application/octet-stream");
            }
          }
          curl_easy_setopt(c, CURLOPT_MIMEPOST, mime.get());
          break;
        }
        case FetchInit::BodyKind::kNone: {
          std::string upper = hop.method;
          if (upper == "POST" || upper == "PUT" || upper == "PATCH") {
            // Node sends Content-Length: 0 for a body-less POST/PUT/PATCH.
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(0));
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
            if (!has_content_type) add_header("Content-Type:");
          }
          break;
        }
      }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());

    CURLcode rc = curl_easy_perform(c);
    if (t.body_too_large) {
      return Status(Code::kTooLarge, PluginPrefix(id_) + "response too large: the body from " +
                                         Quote(u.Href()) + " exceeds the limit of " +
                                         std::to_string(options_.max_response_bytes) + " bytes");
    }
    if (t.headers_too_large) {
      return Status(Code::kTooLarge, PluginPrefix(id_) + "response too large: the headers from " +
                                         Quote(u.Href()) + " exceed the limit of " +
                                         std::to_string(options_.max_header_bytes) + " bytes");
    }
    if (t.refused_address) {
      return Blocked(id_, u,
                     "the connection went to " + t.refused +
                         ", which is not an address checked for this host");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) return TimedOut(u, started);
    if (rc != CURLE_OK) {
      std::string detail = errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc);
      return Unavailable(PluginPrefix(id_) + "fetch of " + Quote(u.Href()) + " failed: " + detail);
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    t.response.status = status;
    return std::move(t.response);
  }

  Status TimedOut(const Url& u, Clock::time_point started) const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    return Unavailable(PluginPrefix(id_) + "fetch of " + Quote(u.Href()) + " timed out after " +
                       std::to_string(ms.count()) + " ms (the invocation's time limit)");
  }

 private:
  const std::string& id_;
  const FetcherOptions& options_;
};

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

void RemoveHeaders(std::vector<std::pair<std::string, std::string>>& h,
                   std::initializer_list<std::string_view> lower_names) {
  std::erase_if(h, [&](const auto& kv) {
    std::string n = LowerAscii(kv.first);
    return std::find(lower_names.begin(), lower_names.end(), n) != lower_names.end();
  });
}

json::value Render(const Response& r) {
  json::object out;
  out["status"] = r.status;
  out["statusText"] = r.reason.empty() ? std::string(StandardReason(int(r.status))) : r.reason;
  json::object headers;
  for (const auto& [name, value] : r.headers) {
    auto it = headers.find(name);
    if (it == headers.end()) {
      headers[name] = value;
    } else {
      std::string joined(it->value().get_string());
      joined += ", ";
      joined += value;
      it->value() = joined;
    }
  }
  out["headers"] = std::move(headers);
  out["bodyBase64"] = Base64Encode(r.body);
  return out;
}

}  // namespace

Result<std::vector<IpAddress>> SsrfDestinations(const std::string& id, const Url& url,
                                                const PrivateExceptions& exceptions,
                                                const Resolver& resolve) {
  // By name, then every address the name resolves to.
  std::vector<IpAddress> addresses;
  if (url.ip) {
    std::string why = BlockedReason(*url.ip);
    if (!why.empty() && !exceptions.CoversAddress(url, *url.ip)) {
      return Blocked(id, url, url.ip->Format() + " is " + why + kAllowPrivateAdvice);
    }
    addresses.push_back(*url.ip);
    return addresses;
  }
  std::string name = url.HostForMatching();
  if (!exceptions.CoversHost(url)) {
    std::string why = BlockedHostName(name);
    if (!why.empty()) {
      bool wildcard_dns = why.find("wildcard DNS") != std::string::npos;
      return Blocked(id, url, wildcard_dns ? why : why + kAllowPrivateAdvice);
    }
  }
  Result<std::vector<IpAddress>> resolved = resolve(name);
  if (!resolved.ok()) return resolved.status();
  if (resolved->empty()) {
    return Unavailable(PluginPrefix(id) + "could not resolve " + Quote(url.host) +
                       ": the name has no addresses");
  }
  for (const IpAddress& a : *resolved) {
    std::string why = BlockedReason(a);
    if (!why.empty() && !exceptions.CoversAddress(url, a)) {
      return Blocked(id, url,
                     name + " resolves to " + a.Format() + ", " + why + kAllowPrivateAdvice);
    }
    if (std::find(addresses.begin(), addresses.end(), a) == addresses.end()) addresses.push_back(a);
  }
  return addresses;
}

Result<std::shared_ptr<const Fetcher>> Fetcher::Create(FetcherOptions options) {
  static std::once_flag once;
  static CURLcode init_rc = CURLE_OK;
  std::call_once(once, [] { init_rc = curl_global_init(CURL_GLOBAL_ALL); });
  if (init_rc != CURLE_OK)
    return Internal(std::string("libcurl initialization failed: ") + curl_easy_strerror(init_rc));
  PS_ASSIGN(PrivateExceptions exceptions, PrivateExceptions::Parse(options.allow_private));
  if (options.max_redirects < 0) options.max_redirects = 0;
  return std::shared_ptr<const Fetcher>(new Fetcher(std::move(options), std::move(exceptions)));
}

Result<json::value> Fetcher::Fetch(const FetchRequest& request) const {
  const std::string& id = request.plugin_id;
  PS_ASSIGN(FetchInit init, ParseFetchParams(request.params));

  caps::CapabilitySet granted(request.capabilities);
  const bool unrestricted = granted.Has(caps::kNetworkUnrestricted);
  if (!unrestricted) PS_TRY(granted.Require(caps::kNetworkRequest));
  HostAllowlist allowlist(unrestricted ? std::vector<std::string>{} : request.allowed_hosts);
  if (!unrestricted && allowlist.empty()) {
    return PermissionDenied("Plugin " + Quote(id) +
                            " has no allowed hosts configured. Add hosts to the plugin's "
                            "allowedHosts array to enable HTTP requests.");
  }

  const Clock::time_point started = Clock::now();
  const Clock::time_point deadline = std::min(request.deadline, started + options_.max_total_time);

  auto parsed = ParseUrl(init.url);
  if (!parsed.ok())
    return InvalidArgument("Invalid URL: " + Quote(init.url) + " (" + parsed.status().message() +
                           ")");

  Hop hop;
  hop.url = std::move(parsed).value();
  hop.method = init.method;
  hop.headers = init.headers;
  hop.body_kind = init.body_kind;
  hop.body = &init.body;
  hop.form = &init.form;

  Exchange exchange(id, options_);
  std::string previous;  // the URL that redirected here ("" on the first hop)
  auto in_context = [&](Status st) {
    if (previous.empty()) return st;
    return Status(st.code(), st.message() + " (redirected from " + Quote(previous) + ")");
  };

  for (int redirects = 0;; ++redirects) {
    const Url& url = hop.url;
    if (!url.http()) {
      return in_context(PermissionDenied(PluginPrefix(id) + "unsupported scheme " +
                                         Quote(url.scheme + ":") +
                                         "; only http and https are allowed"));
    }
    if (url.has_credentials) {
      return in_context(InvalidArgument(
          "Request cannot be constructed from a URL that includes credentials; send them in an "
          "Authorization header instead"));
    }
    if (!unrestricted && !allowlist.Allows(url)) {
      return in_context(PermissionDenied("Plugin " + Quote(id) +
                                         " is not allowed to fetch from host " + Quote(url.host) +
                                         ". Allowed hosts: " + allowlist.Describe()));
    }

    Resolver resolve = options_.resolver ? options_.resolver : [&](const std::string& name) {
      return SystemResolve(id, name, deadline);
    };
    auto checked = SsrfDestinations(id, url, exceptions_, resolve);
    if (!checked.ok()) return in_context(checked.status());
    const std::vector<IpAddress>& addresses = *checked;

    auto exchanged = exchange.Run(hop, addresses, deadline, started);
    if (!exchanged.ok()) return in_context(exchanged.status());
    Response response = std::move(exchanged).value();

    const std::string* location = response.Header("location");
    if (!IsRedirect(response.status) || !location || init.redirect == RedirectMode::kManual)
      return Render(response);
    if (init.redirect == RedirectMode::kError) {
      return in_context(Unavailable(PluginPrefix(id) + "redirect from " + Quote(url.Href()) +
                                    " to " + Quote(*location) +
                                    " refused because init.redirect is \"error\""));
    }
    if (redirects >= options_.max_redirects) {
      return PermissionDenied(PluginPrefix(id) + "too many redirects (max " +
                              std::to_string(options_.max_redirects) + ")");
    }
    auto next = ParseUrl(*location, &url);
    if (!next.ok()) {
      return in_context(InvalidArgument(PluginPrefix(id) + "the redirect from " +
                                        Quote(url.Href()) + " has an invalid Location " +
                                        Quote(*location) + " (" + next.status().message() + ")"));
    }
    // Method and body as browsers rewrite them.
    if ((response.status == 303 && hop.method != "GET" && hop.method != "HEAD") ||
        ((response.status == 301 || response.status == 302) && hop.method == "POST")) {
      hop.method = "GET";
      hop.body_kind = FetchInit::BodyKind::kNone;
      RemoveHeaders(hop.headers,
                    {"content-type", "content-encoding", "content-language", "content-location"});
    }
    if (next->Origin() != url.Origin())
      RemoveHeaders(hop.headers, {"authorization", "cookie", "proxy-authorization"});
    previous = url.Href();
    hop.url = std::move(next).value();
  }
}

HttpFetcher MakeHttpFetcher(std::shared_ptr<const Fetcher> fetcher) {
  return [fetcher](const FetchRequest& r) { return fetcher->Fetch(r); };
}

std::string_view StandardReason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 208:
      return "Already Reported";
    case 226:
      return "IM Used";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a Teapot";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Entity";
    case 423:
      return "Locked";
    case 424:
      return "Failed Dependency";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 506:
      return "Variant Also Negotiates";
    case 507:
      return "Insufficient Storage";
    case 508:
      return "Loop Detected";
    case 510:
      return "Not Extended";
    case 511:
      return "Network Authentication Required";
    default:
      return "";
  }
}

}  // namespace ps::http
