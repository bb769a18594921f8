#include "bridge/params.h"

#include <cmath>
#include <cstdlib>

namespace ps::bridge::params {

Result<std::string> RequiredString(const json::object& p, std::string_view key) {
  auto* v = p.if_contains(key);
  if (!v || !v->is_string()) {
    return InvalidArgument("Missing required string parameter: " + std::string(key));
  }
  return std::string(v->get_string());
}

Result<std::optional<std::string>> OptionalString(const json::object& p, std::string_view key) {
  auto* v = p.if_contains(key);
  if (!v) return std::optional<std::string>();
  if (!v->is_string()) {
    return InvalidArgument("Parameter " + std::string(key) + " must be a string when provided");
  }
  return std::optional<std::string>(std::string(v->get_string()));
}

Result<const json::object*> RequiredObject(const json::object& p, std::string_view key) {
  auto* v = p.if_contains(key);
  if (!v || !v->is_object()) {
    return InvalidArgument("Missing required object parameter: " + std::string(key));
  }
  return &v->get_object();
}

Result<const json::object*> OptionalObject(const json::object& p, std::string_view key) {
  auto* v = p.if_contains(key);
  if (!v) return static_cast<const json::object*>(nullptr);
  if (!v->is_object()) {
    return InvalidArgument("Parameter " + std::string(key) + " must be an object when provided");
  }
  return &v->get_object();
}

Result<std::vector<std::string>> StringArray(const json::object& p, std::string_view key) {
  auto* v = p.if_contains(key);
  Status bad = InvalidArgument("Parameter " + std::string(key) + " must be an array of strings");
  if (!v || !v->is_array()) return bad;
  std::vector<std::string> out;
  for (const auto& e : v->get_array()) {
    if (!e.is_string()) return bad;
    out.emplace_back(e.get_string());
  }
  return out;
}

Result<std::vector<const json::object*>> ObjectArray(const json::object& p, std::string_view key) {
  auto* v = p.if_contains(key);
  Status bad = InvalidArgument("Parameter " + std::string(key) + " must be an array of objects");
  if (!v || !v->is_array()) return bad;
  std::vector<const json::object*> out;
  for (const auto& e : v->get_array()) {
    if (!e.is_object()) return bad;
    out.push_back(&e.get_object());
  }
  return out;
}

Result<std::vector<UpdateItem>> UpdateItems(const json::object& p, std::string_view key) {
  auto* v = p.if_contains(key);
  Status bad = InvalidArgument("Parameter " + std::string(key) +
                               " must be an array of { id: string, data: object } items");
  if (!v || !v->is_array()) return bad;
  std::vector<UpdateItem> out;
  for (const auto& e : v->get_array()) {
    if (!e.is_object()) return bad;
    auto* id = e.get_object().if_contains("id");
    auto* data = e.get_object().if_contains("data");
    if (!id || !id->is_string() || !data || !data->is_object()) return bad;
    out.push_back({std::string(id->get_string()), &data->get_object()});
  }
  return out;
}

Result<std::vector<StorageItem>> StorageItems(const json::object& p, std::string_view key) {
  auto* v = p.if_contains(key);
  Status bad = InvalidArgument("Parameter " + std::string(key) +
                               " must be an array of { id: string, data } items");
  if (!v || !v->is_array()) return bad;
  std::vector<StorageItem> out;
  for (const auto& e : v->get_array()) {
    if (!e.is_object()) return bad;
    auto* id = e.get_object().if_contains("id");
    if (!id || !id->is_string()) return bad;
    out.push_back({std::string(id->get_string()), e.get_object().if_contains("data")});
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> OrderBy(const json::object& p,
                                                                 std::string_view key) {
  std::vector<std::pair<std::string, std::string>> out;
  auto* v = p.if_contains(key);
  if (!v) return out;
  Status bad = InvalidArgument("Parameter " + std::string(key) +
                               " must be an object mapping field to \"asc\"|\"desc\"");
  if (!v->is_object()) return bad;
  for (const auto& kv : v->get_object()) {
    if (!kv.value().is_string()) return bad;
    std::string dir(kv.value().get_string());
    if (dir != "asc" && dir != "desc") return bad;
    out.emplace_back(std::string(kv.key()), dir);
  }
  return out;
}

double JsNumber(const json::value* v) {
  if (!v) return std::nan("");
  switch (v->kind()) {
    case json::kind::null:
      return 0;
    case json::kind::bool_:
      return v->get_bool() ? 1 : 0;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return ToDouble(*v);
    case json::kind::string: {
      std::string s(v->get_string());
      size_t b = s.find_first_not_of(" \t\n\r");
      if (b == std::string::npos) return 0;
      size_t e = s.find_last_not_of(" \t\n\r");
      s = s.substr(b, e - b + 1);
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (end != s.c_str() + s.size()) return std::nan("");
      return d;
    }
    case json::kind::array: {
      const auto& a = v->get_array();
      if (a.empty()) return 0;
      if (a.size() == 1) return JsNumber(&a[0]);
      return std::nan("");
    }
    default:
      return std::nan("");
  }
}

int64_t ListLimit(const json::object& p) {
  double n = JsNumber(p.if_contains("limit"));
  if (std::isnan(n) || n == 0) n = 50;
  n = std::floor(n);
  if (n < 1) n = 1;
  if (n > 100) n = 100;
  return int64_t(n);
}

}  // namespace ps::bridge::params
