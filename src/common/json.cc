#include "common/json.h"

#include <cmath>
#include <cstdio>

#include "common/encoding.h"

namespace ps {
namespace {

// A JSON string. Text that came from outside JSON (a request's method or path, a file name, a
// row another program wrote) may hold bytes that are not UTF-8; they become U+FFFD so that what
// we send is always valid JSON (Boost.JSON's serializer copies them as they are).
void AppendString(std::string_view s, std::string& out) {
  if (InvalidUtf8At(s) == std::string_view::npos)
    out += json::serialize(json::string_view(s.data(), s.size()));
  else
    out += json::serialize(json::string_view(ValidUtf8(s)));
}

void Write(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::null:
      out += "null";
      return;
    case json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return;
    case json::kind::int64:
      out += std::to_string(v.get_int64());
      return;
    case json::kind::uint64:
      out += std::to_string(v.get_uint64());
      return;
    case json::kind::double_: {
      double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";
      } else if (d == std::trunc(d) && std::fabs(d) < 9007199254740992.0) {
        out += std::to_string(int64_t(d));
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", d);
        // Shortest form that round-trips, as JS prints it.
        for (int prec = 1; prec <= 17; ++prec) {
          char tryb[32];
          std::snprintf(tryb, sizeof tryb, "%.*g", prec, d);
          if (std::strtod(tryb, nullptr) == d) {
            std::snprintf(buf, sizeof buf, "%s", tryb);
            break;
          }
        }
        out += buf;
      }
      return;
    }
    case json::kind::string:
      AppendString(v.get_string(), out);
      return;
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        Write(e, out);
      }
      out += ']';
      return;
    }
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        AppendString(kv.key(), out);
        out += ':';
        Write(kv.value(), out);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

Result<json::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 256;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) return InvalidArgument("Invalid JSON: " + ec.message());
  return v;
}

std::string Stringify(const json::value& v) {
  std::string out;
  Write(v, out);
  return out;
}

double ToDouble(const json::value& v) {
  if (v.is_int64()) return double(v.get_int64());
  if (v.is_uint64()) return double(v.get_uint64());
  if (v.is_double()) return v.get_double();
  return std::nan("");
}

std::string Quote(std::string_view s) {
  return json::serialize(json::string_view(s.data(), s.size()));
}

}  // namespace ps
