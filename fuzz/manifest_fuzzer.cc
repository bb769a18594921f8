// The manifest parser (manifest/manifest.h) on any text: manifest.json, and EmDash's
// emdash-plugin.jsonc (comments and trailing commas).
//
// Properties beyond "no crash, no leak, no undefined behaviour":
// - a failure is InvalidArgument whose every line names the source file;
// - a manifest that parses is a fixed point: its normalized JSON (what `check` prints and the host
//   stores) parses again to the same normalized JSON, numbers to within a few units in the last
//   place (Boost.JSON 1.81 reads a double to within an ulp, not always to the nearest one: a
//   priority of 1.0444444444444445e+83 comes back as …444e+83; regressions/manifest has it).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/json.h"
#include "fuzz_util.h"
#include "manifest/manifest.h"

namespace {

void CheckFailure(const ps::Status& st, std::string_view source) {
  PS_FUZZ_CHECK(st.code() == ps::Code::kInvalidArgument, st.message());
  std::string_view msg = st.message();
  size_t start = 0;
  while (start <= msg.size()) {
    size_t end = msg.find('\n', start);
    if (end == std::string_view::npos) end = msg.size();
    std::string_view line = msg.substr(start, end - start);
    PS_FUZZ_CHECK(line.substr(0, source.size()) == source,
                  "an error line does not name " + std::string(source) + ": " + std::string(line));
    start = end + 1;
  }
}

// Equal JSON, doubles within a few ulps (bounded depth: a manifest is shallow).
bool SameJson(const ps::json::value& a, const ps::json::value& b, int depth = 0) {
  if (depth > 64) return false;
  if (a.is_double() && b.is_double()) {
    double x = a.get_double(), y = b.get_double();
    return x == y || std::fabs(x - y) <= 4 * std::fabs(x) * 2.220446049250313e-16;
  }
  if (a.is_object() && b.is_object()) {
    const auto &oa = a.get_object(), &ob = b.get_object();
    if (oa.size() != ob.size()) return false;
    for (const auto& kv : oa) {
      const ps::json::value* other = ob.if_contains(kv.key());
      if (!other || !SameJson(kv.value(), *other, depth + 1)) return false;
    }
    return true;
  }
  if (a.is_array() && b.is_array()) {
    const auto &aa = a.get_array(), &ab = b.get_array();
    if (aa.size() != ab.size()) return false;
    for (size_t i = 0; i < aa.size(); ++i) {
      if (!SameJson(aa[i], ab[i], depth + 1)) return false;
    }
    return true;
  }
  return a == b;
}

void CheckFixedPoint(const ps::manifest::Manifest& m) {
  std::string once = ps::Stringify(m.ToJson());
  auto again = ps::manifest::ParseManifestText(once, "normalized.json");
  PS_FUZZ_CHECK(again.ok(), "the normalized manifest does not parse: " + again.status().message() +
                                "\n  " + once);
  std::string twice = ps::Stringify(again->ToJson());
  PS_FUZZ_CHECK(once == twice || SameJson(m.ToJson(), again->ToJson()),
                "normalizing twice changes the manifest:\n  " + once + "\n  " + twice);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool jsonc : {false, true}) {
    std::string_view source = jsonc ? "emdash-plugin.jsonc" : "manifest.json";
    auto doc = ps::manifest::ParseJsonFile(text, source, jsonc);
    if (!doc.ok()) {
      CheckFailure(doc.status(), source);
      continue;
    }
    auto m = ps::manifest::ParseManifest(*doc, source);
    if (!m.ok()) {
      CheckFailure(m.status(), source);
      continue;
    }
    CheckFixedPoint(*m);
  }
  return 0;
}
