#include "http/request.h"

#include <algorithm>

#include "common/encoding.h"

namespace ps::http {
namespace {

constexpr char kPrefix[] = "http/fetch: ";

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

bool IsHttpWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string UpperAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  return out;
}

const json::value* Find(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

Status Err(std::string what) { return InvalidArgument(kPrefix + std::move(what)); }

// Form parts: {name: string, value: string, filename?: string, type?: string, isBlob?: bool}.
Result<std::vector<FormPart>> ParseForm(const json::value& body) {
  Status bad = Err("formdata body must be an array of form parts");
  if (!body.is_array()) return bad;
  std::vector<FormPart> parts;
  for (const auto& e : body.get_array()) {
    if (!e.is_object()) return bad;
    const auto& o = e.get_object();
    const json::value* name = Find(o, "name");
    const json::value* value = Find(o, "value");
    const json::value* filename = Find(o, "filename");
    const json::value* type = Find(o, "type");
    const json::value* is_blob = Find(o, "isBlob");
    if (!name || !name->is_string() || !value || !value->is_string()) return bad;
    if ((filename && !filename->is_string()) || (type && !type->is_string())) return bad;
    if (is_blob && !is_blob->is_bool()) return bad;
    FormPart p;
    p.name = std::string(name->get_string());
    p.is_blob = is_blob && is_blob->get_bool();
    if (filename) p.filename = std::string(filename->get_string());
    if (type) p.type = std::string(type->get_string());
    if (p.is_blob) {
      auto bytes = Base64DecodeLenient(value->get_string());
      if (!bytes) return Err("form part " + Quote(p.name) + " is not valid base64");
      p.value = std::move(*bytes);
    } else {
      p.value = std::string(value->get_string());
    }
    parts.push_back(std::move(p));
  }
  return parts;
}

bool DroppedHeader(std::string_view lower) {
  static constexpr std::string_view kDropped[] = {"host",
                                                  "content-length",
                                                  "transfer-encoding",
                                                  "connection",
                                                  "keep-alive",
                                                  "upgrade",
                                                  "expect",
                                                  "te",
                                                  "trailer",
                                                  "proxy-connection"};
  return std::find(std::begin(kDropped), std::end(kDropped), lower) != std::end(kDropped);
}

}  // namespace

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

Result<FetchInit> ParseFetchParams(const json::object& params) {
  FetchInit out;
  const json::value* url = Find(params, "url");
  if (!url || !url->is_string()) return InvalidArgument("Missing required string parameter: url");
  out.url = std::string(url->get_string());

  const json::value* init_v = Find(params, "init");
  if (!init_v) return out;
  if (!init_v->is_object()) return Err("init must be an object");
  const json::object& init = init_v->get_object();

  const json::value* method = Find(init, "method");
  if (method && !method->is_string()) return Err("init.method must be a string");
  const json::value* redirect = Find(init, "redirect");
  if (redirect) {
    std::string_view r = redirect->is_string() ? std::string_view(redirect->get_string()) : "";
    if (r == "follow")
      out.redirect = RedirectMode::kFollow;
    else if (r == "manual")
      out.redirect = RedirectMode::kManual;
    else if (r == "error")
      out.redirect = RedirectMode::kError;
    else
      return Err("init.redirect must be \"follow\", \"error\", or \"manual\"");
  }
  const json::value* headers = Find(init, "headers");
  std::vector<std::pair<std::string, std::string>> raw_headers;
  if (headers) {
    Status bad = Err("init.headers must be an array of [name, value] pairs");
    if (!headers->is_array()) return bad;
    for (const auto& h : headers->get_array()) {
      if (!h.is_array() || h.get_array().size() != 2 || !h.get_array()[0].is_string() ||
          !h.get_array()[1].is_string())
        return bad;
      raw_headers.emplace_back(std::string(h.get_array()[0].get_string()),
                               std::string(h.get_array()[1].get_string()));
    }
  }
  const json::value* body_type = Find(init, "bodyType");
  std::string_view type;
  if (body_type) {
    type = body_type->is_string() ? std::string_view(body_type->get_string()) : "";
    if (type != "string" && type != "base64" && type != "formdata")
      return Err("init.bodyType must be \"string\", \"base64\", or \"formdata\"");
  }
  const json::value* body = Find(init, "body");
  if (body_type && body) {
    if (type == "formdata") {
      PS_ASSIGN(out.form, ParseForm(*body));
      out.body_kind = FetchInit::BodyKind::kForm;
    } else {
      if (!body->is_string()) return Err("string/base64 body must be a string");
      if (type == "string") {
        out.body = std::string(body->get_string());
        out.body_kind = FetchInit::BodyKind::kText;
      } else {
        auto bytes = Base64DecodeLenient(body->get_string());
        if (!bytes) return Err("base64 body is not valid base64");
        out.body = std::move(*bytes);
        out.body_kind = FetchInit::BodyKind::kBytes;
      }
    }
  }

  // What Node's Request constructor checks.
  if (method && !method->get_string().empty()) {
    std::string m(method->get_string());
    if (!IsToken(m)) return Err(Quote(m) + " is not a valid HTTP method");
    std::string upper = UpperAscii(m);
    if (upper == "CONNECT" || upper == "TRACE" || upper == "TRACK")
      return Err("method " + Quote(m) + " is not allowed");
    static constexpr std::string_view kNormalized[] = {"DELETE",  "GET",  "HEAD",
                                                       "OPTIONS", "POST", "PUT"};
    if (std::find(std::begin(kNormalized), std::end(kNormalized), upper) != std::end(kNormalized))
      m = upper;
    out.method = std::move(m);
  }
  for (auto& [name, value] : raw_headers) {
    if (!IsToken(name)) return Err(Quote(name) + " is not a valid header name");
    size_t b = 0, e = value.size();
    while (b < e && IsHttpWhitespace(value[b])) ++b;
    while (e > b && IsHttpWhitespace(value[e - 1])) --e;
    value = value.substr(b, e - b);
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      return Err("header " + Quote(name) +
                 " has an invalid value (CR, LF and NUL are not allowed)");
    if (DroppedHeader(LowerAscii(name))) continue;
    out.headers.emplace_back(std::move(name), std::move(value));
  }
  if (out.body_kind != FetchInit::BodyKind::kNone && (out.method == "GET" || out.method == "HEAD"))
    return InvalidArgument("Request with GET/HEAD method cannot have body.");
  return out;
}

}  // namespace ps::http
