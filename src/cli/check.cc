#include "cli/check.h"

#include <sstream>

#include "manifest/bundle.h"

namespace ps::cli {
namespace {

void Pretty(const json::value& v, int depth, std::string& out) {
  auto indent = [&](int d) { out.append(size_t(d) * 2, ' '); };
  if (v.is_object() && !v.get_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& kv : v.get_object()) {
      if (!first) out += ",\n";
      first = false;
      indent(depth + 1);
      out += Quote(kv.key());
      out += ": ";
      Pretty(kv.value(), depth + 1, out);
    }
    out += '\n';
    indent(depth);
    out += '}';
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& e : v.get_array()) {
      if (!first) out += ",\n";
      first = false;
      indent(depth + 1);
      Pretty(e, depth + 1, out);
    }
    out += '\n';
    indent(depth);
    out += ']';
  } else {
    out += Stringify(v);
  }
}

void PrintLines(std::ostream& err, std::string_view prefix, const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) err << prefix << line << '\n';
}

}  // namespace

std::string PrettyJson(const json::value& v) {
  std::string out;
  Pretty(v, 0, out);
  return out;
}

int RunCheck(const CheckOptions& options, std::ostream& out, std::ostream& err) {
  manifest::LoadOptions load;
  load.manifest_file = options.manifest;
  auto bundle = manifest::LoadBundle(options.plugin, load);
  if (!bundle.ok()) {
    PrintLines(err, "", bundle.status().message());
    return 2;
  }
  for (const auto& w : bundle->manifest.warnings) PrintLines(err, "warning: ", w);
  out << PrettyJson(bundle->manifest.ToJson()) << '\n';
  out.flush();
  return 0;
}

}  // namespace ps::cli
