// The manifest parser (manifest/manifest.h) on any text: manifest.json, and EmDash's
// emdash-plugin.jsonc (comments and trailing commas).
//
// Properties beyond "no crash, no leak, no undefined behaviour":
// - a failure is InvalidArgument whose every line names the source file;
// - a manifest that parses is a fixed point: its normalized JSON (what `check` prints and the host
//   stores) parses again to the same normalized JSON.
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

void CheckFixedPoint(const ps::manifest::Manifest& m) {
  std::string once = ps::Stringify(m.ToJson());
  auto again = ps::manifest::ParseManifestText(once, "normalized.json");
  PS_FUZZ_CHECK(again.ok(), "the normalized manifest does not parse: " + again.status().message() +
                                "\n  " + once);
  std::string twice = ps::Stringify(again->ToJson());
  PS_FUZZ_CHECK(once == twice,
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
