// Test helper: builds a .tar.gz in memory with libarchive's writer, including entries a careful
// tar would never write (absolute paths, "..", links), to test that the loader refuses them.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace ps::testing {

struct TarEntry {
  enum Type { kFile, kDir, kSymlink, kHardlink };
  std::string path;
  std::string content;  // file data, or the link target
  Type type = kFile;
};

inline std::string MakeTarGz(const std::vector<TarEntry>& entries, bool gzip = true) {
  std::string out;
  struct archive* a = archive_write_new();
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  auto write_cb = [](struct archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
    static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  if (archive_write_open(a, &out, nullptr, write_cb, nullptr) != ARCHIVE_OK)
    throw std::runtime_error("archive_write_open failed");
  for (const auto& e : entries) {
    struct archive_entry* en = archive_entry_new();
    archive_entry_set_pathname(en, e.path.c_str());
    switch (e.type) {
      case TarEntry::kFile:
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_perm(en, 0644);
        archive_entry_set_size(en, static_cast<la_int64_t>(e.content.size()));
        break;
      case TarEntry::kDir:
        archive_entry_set_filetype(en, AE_IFDIR);
        archive_entry_set_perm(en, 0755);
        break;
      case TarEntry::kSymlink:
        archive_entry_set_filetype(en, AE_IFLNK);
        archive_entry_set_perm(en, 0777);
        archive_entry_set_symlink(en, e.content.c_str());
        break;
      case TarEntry::kHardlink:
        archive_entry_set_filetype(en, AE_IFREG);
        archive_entry_set_perm(en, 0644);
        archive_entry_set_hardlink(en, e.content.c_str());
        archive_entry_set_size(en, 0);
        break;
    }
    if (archive_write_header(a, en) != ARCHIVE_OK)
      throw std::runtime_error(std::string("archive_write_header: ") + archive_error_string(a));
    if (e.type == TarEntry::kFile && !e.content.empty())
      archive_write_data(a, e.content.data(), e.content.size());
    archive_entry_free(en);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

}  // namespace ps::testing
