// Bundle archives (manifest/bundle.h, LoadBundleFromArchive): what the host API's upload and
// `plugin-sandbox run x.tar.gz` read. The first byte chooses how the rest is used: as the upload's
// bytes (gzip parsing), or as a tar stream the target gzips first, so the mutations reach tar
// headers, paths (`..`, absolute, symlinks, hard links, devices) and sizes.
//
// Properties beyond "no crash, no leak, no undefined behaviour":
// - nothing is written to disk (the loader reads archives in memory): the working directory
//   gains no entry;
// - extraction stops at the size cap: a loaded bundle's module is within it, and the run's
//   -malloc_limit_mb (fuzz/CMakeLists.txt) turns any allocation far past it into a finding;
// - a failure is InvalidArgument whose every line names a place (the archive or a file in it).
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "fuzz_util.h"
#include "manifest/bundle.h"

namespace {

constexpr size_t kCap = 256 * 1024;  // small, so inputs can reach it

std::string Gzip(std::string_view raw) {
  z_stream z{};
  // 15 window bits + 16: a gzip header and trailer.
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, raw.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  out.resize(rc == Z_STREAM_END ? z.total_out : 0);
  deflateEnd(&z);
  return out;
}

// Entries directly in `dir` (a relative write from the loader would add one).
size_t EntriesIn(const std::filesystem::path& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ps::fuzz::Reader in(data, size);
  bool wrap = in.Byte() & 1;
  std::string_view rest = in.Rest();
  std::string bytes = wrap ? Gzip(rest) : std::string(rest);

  static const std::filesystem::path cwd = std::filesystem::current_path();
  static const size_t before = EntriesIn(cwd);

  ps::manifest::LoadOptions options;
  options.max_archive_bytes = kCap;
  auto b = ps::manifest::LoadBundleFromArchive(bytes, "upload.tar.gz", options);
  if (b.ok()) {
    PS_FUZZ_CHECK(
        b->module_source.size() <= kCap,
        "the module is " + std::to_string(b->module_source.size()) + " bytes, over the cap");
    PS_FUZZ_CHECK(!b->manifest.id.empty(), "a loaded bundle has no plugin id");
  } else {
    PS_FUZZ_CHECK(b.status().code() == ps::Code::kInvalidArgument, b.status().message());
    // Every line says where: the archive, or a file in it ("package/manifest.json: …").
    std::string_view msg = b.status().message();
    PS_FUZZ_CHECK(!msg.empty(), "an empty error");
    for (size_t start = 0; start < msg.size();) {
      size_t end = std::min(msg.find('\n', start), msg.size());
      std::string_view line = msg.substr(start, end - start);
      PS_FUZZ_CHECK(line.find(": ") != std::string_view::npos,
                    "an error line that names no place: " + std::string(line));
      start = end + 1;
    }
  }
  PS_FUZZ_CHECK(EntriesIn(cwd) == before, "the loader wrote into the working directory");
  return 0;
}
