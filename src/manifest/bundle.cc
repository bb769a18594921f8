// Bundle loading. Where host-api.md is silent we decided:
// - Layout: a package.json with exports["./sandbox"] makes an npm package; otherwise a
//   directory with manifest.json/backend.js is a marketplace bundle (it may carry a
//   package.json). The sandbox export may be a string, a conditions object (the first of
//   workerd, worker, import, module, default in object order) or a fallback array; its target
//   must be "./…" inside the package.
// - npm manifest: --manifest FILE, else dist/manifest.json, else manifest.json, else one derived
//   from emdash-plugin.jsonc (comments and trailing commas allowed; `slug` as id, version from
//   package.json; it has no hooks or routes, so the module's hooks decide). --manifest also
//   overrides a directory bundle's manifest.json.
// - The module must be non-empty UTF-8 without NUL bytes. Its imports are not checked here:
//   the isolate refuses what it cannot resolve.
// - Archives: gzip'd (or plain) tar, read in memory. Absolute paths, ".." components, symbolic
//   and hard links, special files and duplicate entries are refused; every header counts 512
//   bytes toward max_archive_bytes. One top folder (npm's package/) is stripped when no file
//   lies outside it. Problem lines name files as the archive spells them.
#include "manifest/bundle.h"

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "common/encoding.h"

namespace ps::manifest {
namespace {

namespace fs = std::filesystem;

// ---- Where a bundle's files come from -------------------------------------------------------

struct File {
  enum Kind { kMissing, kNotFile, kError, kOk };
  Kind kind = kMissing;
  std::string data;
  std::string error;  // for kError
};

// A bundle's files, by path relative to the bundle's root ("dist/manifest.json").
class Tree {
 public:
  virtual ~Tree() = default;
  virtual File Read(const std::string& rel) const = 0;
  // How problem lines name the file.
  virtual std::string Name(const std::string& rel) const = 0;
  // Where the file came from, in full (Bundle::module_path and manifest_path).
  virtual std::string Location(const std::string& rel) const = 0;
};

class DirTree : public Tree {
 public:
  explicit DirTree(fs::path root) : root_(std::move(root)) {}

  File Read(const std::string& rel) const override {
    File f;
    std::error_code ec;
    fs::path p = root_ / rel;
    auto st = fs::status(p, ec);
    if (ec || st.type() == fs::file_type::not_found) {
      if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory) {
        f.kind = File::kError;
        f.error = ec.message();
      }
      return f;
    }
    if (st.type() != fs::file_type::regular) {
      f.kind = File::kNotFile;
      return f;
    }
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      f.kind = File::kError;
      f.error = "cannot open for reading";
      return f;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    f.kind = File::kOk;
    f.data = ss.str();
    return f;
  }
  std::string Name(const std::string& rel) const override { return rel; }
  std::string Location(const std::string& rel) const override { return (root_ / rel).string(); }

 private:
  fs::path root_;
};

class MemTree : public Tree {
 public:
  MemTree(std::string label, std::string prefix)
      : label_(std::move(label)), prefix_(std::move(prefix)) {}

  std::map<std::string, std::string> files;
  std::set<std::string> dirs;

  File Read(const std::string& rel) const override {
    File f;
    if (auto it = files.find(rel); it != files.end()) {
      f.kind = File::kOk;
      f.data = it->second;
    } else if (dirs.count(rel)) {
      f.kind = File::kNotFile;
    }
    return f;
  }
  std::string Name(const std::string& rel) const override { return prefix_ + rel; }
  std::string Location(const std::string& rel) const override {
    return label_ + ":" + prefix_ + rel;
  }

 private:
  std::string label_;
  std::string prefix_;  // the top folder stripped from every entry ("package/"), or empty
};

// ---- Helpers --------------------------------------------------------------------------------

std::string StripBom(std::string s) {
  if (s.size() >= 3 && s.compare(0, 3, "\xEF\xBB\xBF") == 0) s.erase(0, 3);
  return s;
}

// Splits a path on '/', dropping empty and "." segments. Returns false when a ".." appears.
bool CleanSegments(std::string_view path, std::vector<std::string>* out) {
  out->clear();
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg == "..") return false;
    if (!seg.empty() && seg != ".") out->emplace_back(seg);
    start = end + 1;
  }
  return true;
}

std::string JoinSegments(const std::vector<std::string>& segs, size_t from = 0) {
  std::string out;
  for (size_t i = from; i < segs.size(); ++i) {
    if (!out.empty()) out += '/';
    out += segs[i];
  }
  return out;
}

// Conditions we resolve an exports target under, as a workerd ES module would be imported.
bool IsOurCondition(std::string_view c) {
  return c == "workerd" || c == "worker" || c == "import" || c == "module" || c == "default";
}

// Node's target resolution for one exports entry, restricted to our conditions: a string, a
// conditions object (first matching key in object order), or a fallback array (first that
// resolves).
std::optional<std::string> ResolveTarget(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_object()) {
    for (const auto& [k, sub] : v.get_object())
      if (IsOurCondition(k))
        if (auto r = ResolveTarget(sub)) return r;
  }
  if (v.is_array())
    for (const auto& e : v.get_array())
      if (auto r = ResolveTarget(e)) return r;
  return std::nullopt;
}

// ---- Loading from a tree --------------------------------------------------------------------

class Loader {
 public:
  Loader(const Tree& tree, const LoadOptions& options) : tree_(tree), options_(options) {}

  Result<Bundle> Run();

 private:
  void Problem(const std::string& file, const std::string& text) {
    problems_.push_back(file + ": " + text);
  }
  // Reads the package.json's sandbox export. Sets `npm_` when the package has one.
  void ReadPackage();
  void ReadManifest();
  void ReadModule(const std::string& rel, const std::string& what);

  const Tree& tree_;
  const LoadOptions& options_;
  std::vector<std::string> problems_;
  Bundle bundle_;
  bool have_manifest_ = false;
  // package.json
  bool has_package_ = false;
  std::optional<json::value> package_;
  bool npm_ = false;
  std::optional<std::string> sandbox_rel_;
};

void Loader::ReadPackage() {
  File f = tree_.Read("package.json");
  if (f.kind == File::kMissing) return;
  has_package_ = true;
  std::string name = tree_.Name("package.json");
  if (f.kind != File::kOk) {
    Problem(name, f.kind == File::kNotFile ? "not a regular file; expected the package's JSON"
                                           : "cannot read: " + f.error);
    return;
  }
  auto doc = ParseJsonFile(StripBom(std::move(f.data)), name);
  if (!doc.ok()) {
    problems_.push_back(doc.status().message());
    return;
  }
  package_ = std::move(doc).value();
  if (!package_->is_object()) {
    Problem(name, "(root): expected a JSON object");
    return;
  }
  const auto& pkg = package_->get_object();
  auto ex = pkg.find("exports");
  if (ex == pkg.end() || !ex->value().is_object()) return;
  const auto& exports = ex->value().get_object();
  auto sb = exports.find("./sandbox");
  if (sb == exports.end()) return;
  npm_ = true;
  const std::string path = "exports[\"./sandbox\"]";
  auto target = ResolveTarget(sb->value());
  if (!target) {
    Problem(name, path +
                      ": no target for the conditions workerd, worker, import, module or "
                      "default; expected a path such as \"./dist/sandbox.mjs\"");
    return;
  }
  std::vector<std::string> segs;
  if (!target->starts_with("./") || !CleanSegments(*target, &segs) || segs.empty() ||
      target->find('*') != std::string::npos) {
    Problem(name, path + ": " + Quote(*target) +
                      " is not a file inside the package; expected a relative path starting "
                      "with \"./\", without \"..\" or \"*\"");
    return;
  }
  sandbox_rel_ = JoinSegments(segs);
}

void Loader::ReadManifest() {
  if (options_.manifest_file) {
    const std::string& file = *options_.manifest_file;
    std::ifstream in(file, std::ios::binary);
    std::error_code ec;
    if (!in || fs::is_directory(file, ec)) {
      Problem(file, "cannot read the --manifest file; expected the plugin's manifest.json");
      return;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    bundle_.manifest_path = file;
    auto m = ParseManifestText(StripBom(ss.str()), file);
    if (!m.ok()) return problems_.push_back(m.status().message());
    bundle_.manifest = std::move(m).value();
    have_manifest_ = true;
    return;
  }
  // An npm package: the built manifest, else a manifest.json, else (our choice) the manifest
  // derived from the author-side emdash-plugin.jsonc. A directory bundle: manifest.json.
  std::vector<std::string> candidates;
  if (npm_) {
    candidates = {"dist/manifest.json", "manifest.json", "emdash-plugin.jsonc"};
  } else {
    candidates = {"manifest.json"};
  }
  for (const auto& rel : candidates) {
    File f = tree_.Read(rel);
    if (f.kind == File::kMissing) continue;
    std::string name = tree_.Name(rel);
    if (f.kind != File::kOk) {
      Problem(name, f.kind == File::kNotFile ? "not a regular file; expected the plugin's manifest"
                                             : "cannot read: " + f.error);
      return;
    }
    bundle_.manifest_path = tree_.Location(rel);
    bool jsonc = rel == "emdash-plugin.jsonc";
    auto doc = ParseJsonFile(StripBom(std::move(f.data)), name, jsonc);
    if (!doc.ok()) return problems_.push_back(doc.status().message());
    json::value v = std::move(doc).value();
    std::string derived_note;
    if (jsonc && v.is_object()) {
      // emdash-plugin.jsonc names the plugin `slug` and leaves the version to package.json;
      // hooks and routes are not in it (EmDash's build reads them from the module).
      auto& o = v.get_object();
      if (!o.contains("id")) {
        if (!o.contains("slug")) {
          Problem(name,
                  "slug: missing; expected the plugin's id (a string matching "
                  "^[a-z][a-z0-9_-]*$)");
          return;
        }
        o["id"] = o["slug"];
      }
      if (!o.contains("version") && package_ && package_->is_object()) {
        const auto& pkg = package_->get_object();
        if (auto it = pkg.find("version"); it != pkg.end()) o["version"] = it->value();
      }
      derived_note = name +
                     ": (root): no built manifest (dist/manifest.json); derived from this file "
                     "(slug as id, version from package.json); it declares no hooks or routes";
    }
    auto m = ParseManifest(v, name);
    if (!m.ok()) return problems_.push_back(m.status().message());
    bundle_.manifest = std::move(m).value();
    if (!derived_note.empty())
      bundle_.manifest.warnings.insert(bundle_.manifest.warnings.begin(), derived_note);
    have_manifest_ = true;
    return;
  }
  if (npm_) {
    Problem(tree_.Name("dist/manifest.json"),
            "missing; expected the plugin's manifest (dist/manifest.json or manifest.json in the "
            "package, or --manifest FILE)");
  } else {
    Problem(tree_.Name("manifest.json"), "missing; expected the plugin's manifest");
  }
}

// What is wrong with a module's text (empty, not UTF-8, a NUL byte), or "" when nothing is.
std::string ModuleTextProblem(std::string_view data, const std::string& what) {
  if (data.empty()) return "empty; expected " + what;
  size_t bad = InvalidUtf8At(data);
  if (bad != std::string_view::npos)
    return "not UTF-8 text (invalid byte at offset " + std::to_string(bad) + "); expected " + what;
  if (data.find('\0') != std::string_view::npos)
    return "contains a NUL byte; expected " + what + " as text";
  return "";
}

void Loader::ReadModule(const std::string& rel, const std::string& what) {
  std::string name = tree_.Name(rel);
  File f = tree_.Read(rel);
  switch (f.kind) {
    case File::kMissing:
      return Problem(name, "missing; expected " + what);
    case File::kNotFile:
      return Problem(name, "not a regular file; expected " + what);
    case File::kError:
      return Problem(name, "cannot read: " + f.error);
    case File::kOk:
      break;
  }
  if (std::string p = ModuleTextProblem(f.data, what); !p.empty()) return Problem(name, p);
  bundle_.module_source = std::move(f.data);
  bundle_.module_path = tree_.Location(rel);
}

Result<Bundle> Loader::Run() {
  ReadPackage();
  const std::string module_what = "the plugin's ES module";
  if (npm_) {
    ReadManifest();
    if (sandbox_rel_)
      ReadModule(*sandbox_rel_, module_what + " (named by package.json exports[\"./sandbox\"])");
  } else {
    File backend = tree_.Read("backend.js");
    File manifest = tree_.Read("manifest.json");
    bool bundle_layout = backend.kind != File::kMissing || manifest.kind != File::kMissing ||
                         options_.manifest_file.has_value();
    if (!bundle_layout && has_package_) {
      if (package_)
        Problem(tree_.Name("package.json"),
                "exports[\"./sandbox\"]: missing; expected the path of the plugin's sandbox "
                "module, such as \"./dist/sandbox.mjs\" (or give a directory with manifest.json "
                "and backend.js)");
    } else {
      ReadManifest();
      ReadModule("backend.js", module_what + " (backend.js)");
    }
  }
  if (!problems_.empty()) {
    std::string msg;
    for (const auto& p : problems_) {
      if (!msg.empty()) msg += '\n';
      msg += p;
    }
    return InvalidArgument(msg);
  }
  return std::move(bundle_);
}

// ---- Archives -------------------------------------------------------------------------------

struct ArchiveCloser {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

Result<Bundle> LoadArchive(std::string_view bytes, std::string_view label_view,
                           const LoadOptions& options) {
  const std::string label(label_view);
  std::vector<std::string> problems;
  auto problem = [&](const std::string& text) { problems.push_back(label + ": " + text); };

  std::unique_ptr<struct archive, ArchiveCloser> a(archive_read_new());
  if (!a) return Internal("libarchive: cannot allocate a reader");
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    const char* why = archive_error_string(a.get());
    return InvalidArgument(label + ": not a .tar.gz archive (" +
                           std::string(why ? why : "unreadable") + ")");
  }

  struct Entry {
    std::vector<std::string> segs;
    bool dir;
    std::string data;
  };
  std::vector<Entry> entries;
  std::set<std::string> seen;
  size_t unpacked = 0;
  bool complete = true;
  const auto too_big = [&] {
    problem("unpacks to more than " + std::to_string(options.max_archive_bytes) +
            " bytes; the limit is " + std::to_string(options.max_archive_bytes) + " bytes");
  };
  for (;;) {
    struct archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char* why = archive_error_string(a.get());
      problem(std::string(entries.empty() && seen.empty() ? "not a .tar.gz archive"
                                                          : "damaged archive") +
              " (" + (why ? why : "unreadable") + ")");
      complete = false;
      break;
    }
    unpacked += 512;  // each header counts, so that a flood of empty entries is refused too
    if (unpacked > options.max_archive_bytes) {
      too_big();
      complete = false;
      break;
    }
    const char* raw = archive_entry_pathname(e);
    std::string path = raw ? raw : "";
    std::string shown = Quote(path);
    std::vector<std::string> segs;
    if (path.empty()) {
      problem("an entry has no name");
      continue;
    }
    if (path.front() == '/') {
      problem(shown + ": absolute path refused; expected paths relative to the bundle");
      continue;
    }
    if (!CleanSegments(path, &segs)) {
      problem(shown + ": \"..\" in a path refused; expected paths inside the bundle");
      continue;
    }
    auto type = archive_entry_filetype(e);
    if (archive_entry_hardlink(e) || type == AE_IFLNK) {
      problem(shown + ": links are refused; expected regular files and directories only");
      continue;
    }
    if (segs.empty()) continue;  // "./"
    if (type == AE_IFDIR) {
      entries.push_back({std::move(segs), true, {}});
      continue;
    }
    if (type != AE_IFREG) {
      problem(shown + ": special files are refused; expected regular files and directories only");
      continue;
    }
    std::string data;
    char buf[64 * 1024];
    bool failed = false;
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        const char* why = archive_error_string(a.get());
        problem(shown + ": cannot unpack (" + std::string(why ? why : "damaged archive") + ")");
        failed = true;
        break;
      }
      unpacked += size_t(n);
      if (unpacked > options.max_archive_bytes) {
        too_big();
        failed = true;
        break;
      }
      data.append(buf, size_t(n));
    }
    if (failed) {
      complete = false;
      break;
    }
    std::string key = JoinSegments(segs);
    if (!seen.insert(key).second) {
      problem(shown + ": appears twice in the archive; expected each file once");
      continue;
    }
    entries.push_back({std::move(segs), false, std::move(data)});
  }
  if (!complete) {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "\n") + p;
    return InvalidArgument(msg);
  }

  // One top folder (npm's "package/"): every entry lies in it and no file is at the root.
  std::string top;
  bool strip = false;
  for (const auto& en : entries) {
    if (!en.dir && en.segs.size() < 2) {
      strip = false;
      top.clear();
      break;
    }
    if (top.empty()) {
      top = en.segs[0];
      strip = true;
    } else if (en.segs[0] != top) {
      strip = false;
      break;
    }
  }
  bool any_file = false;
  for (const auto& en : entries) any_file |= !en.dir;
  if (!strip) top.clear();
  MemTree tree(label, strip ? top + "/" : "");
  for (auto& en : entries) {
    std::string rel = JoinSegments(en.segs, strip ? 1 : 0);
    if (rel.empty()) continue;
    if (en.dir) {
      tree.dirs.insert(rel);
    } else {
      // Directories implied by the file's path.
      for (size_t i = rel.find('/'); i != std::string::npos; i = rel.find('/', i + 1))
        tree.dirs.insert(rel.substr(0, i));
      tree.files[rel] = std::move(en.data);
    }
  }
  if (!any_file && problems.empty())
    problem("holds no files; expected manifest.json and backend.js, or an npm package");
  if (!any_file) {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "\n") + p;
    return InvalidArgument(msg);
  }
  auto result = Loader(tree, options).Run();
  if (problems.empty()) return result;
  // Refused entries and the bundle's own problems, all of them.
  std::string msg;
  for (const auto& p : problems) msg += (msg.empty() ? "" : "\n") + p;
  if (!result.ok()) msg += "\n" + result.status().message();
  return InvalidArgument(msg);
}

}  // namespace

Result<Bundle> LoadBundle(const std::string& path, const LoadOptions& options) {
  try {
    std::error_code ec;
    auto st = fs::status(path, ec);
    if (ec || st.type() == fs::file_type::not_found)
      return InvalidArgument(path +
                             ": no such file or directory; expected a plugin directory or a "
                             ".tar.gz bundle");
    if (st.type() == fs::file_type::directory) return Loader(DirTree(path), options).Run();
    if (st.type() != fs::file_type::regular)
      return InvalidArgument(path +
                             ": not a directory or a regular file; expected a plugin "
                             "directory or a .tar.gz bundle");
    auto size = fs::file_size(path, ec);
    if (!ec && size > options.max_archive_bytes)
      return InvalidArgument(path + ": " + std::to_string(size) + " bytes; the limit is " +
                             std::to_string(options.max_archive_bytes) + " bytes");
    std::ifstream in(path, std::ios::binary);
    if (!in) return InvalidArgument(path + ": cannot open for reading");
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string bytes = ss.str();
    return LoadArchive(bytes, path, options);
  } catch (const std::exception& e) {
    return Internal(path + ": " + e.what());
  }
}

Result<Bundle> LoadBundleFromArchive(std::string_view gzip_bytes, std::string_view label,
                                     const LoadOptions& options) {
  try {
    return LoadArchive(gzip_bytes, label, options);
  } catch (const std::exception& e) {
    return Internal(std::string(label) + ": " + e.what());
  }
}

Result<Bundle> BundleFromMemory(const json::value& manifest, std::string module,
                                std::string_view label) {
  std::vector<std::string> problems;
  Bundle b;
  auto m = ParseManifest(manifest, std::string(label) + " manifest");
  if (!m.ok()) {
    problems.push_back(m.status().message());
  } else {
    b.manifest = std::move(m).value();
  }
  const std::string where = std::string(label) + " code";
  if (std::string p = ModuleTextProblem(module, "the plugin's ES module"); !p.empty()) {
    problems.push_back(where + ": " + p);
  }
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "\n") + p;
    return InvalidArgument(msg);
  }
  b.module_source = std::move(module);
  b.module_path = where;
  b.manifest_path = std::string(label) + " manifest";
  return b;
}

bool SameBundle(const Bundle& a, const Bundle& b) {
  return a.module_source == b.module_source &&
         Stringify(a.manifest.raw) == Stringify(b.manifest.raw);
}

}  // namespace ps::manifest
