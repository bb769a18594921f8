// Media (bridge.md §3.5, §7): get/list/upload/delete, the content-type allowlist, storage keys,
// byte encodings, files in the media directory.
// Our fix (spec README decision 5): the mimeType prefix of media/list is LIKE-escaped.

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "bridge/fixture.h"
#include "bridge/test_helpers.h"
#include "common/encoding.h"

namespace ps::testing {
namespace {

std::vector<std::string> Ids(const json::value& page) {
  std::vector<std::string> out;
  for (const auto& item : page.at("items").as_array()) out.push_back(Str(item, "id"));
  return out;
}

using V = std::vector<std::string>;

class MediaTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    rw_ = Plugin(
        R"({"id":"media-rw","version":"1.0.0","capabilities":["media:read","media:write"]})");
    reader_ = Plugin(R"({"id":"media-r","version":"1.0.0","capabilities":["media:read"]})");
    writer_ = Plugin(R"({"id":"media-w","version":"1.0.0","capabilities":["media:write"]})");
  }
  std::string UploadParams(const std::string& filename, const std::string& content_type,
                           const std::string& bytes) {
    return R"({"filename":)" + Quote(filename) + R"(,"contentType":)" + Quote(content_type) +
           R"(,"bytes":)" + Quote(Base64Encode(bytes)) + R"(,"encoding":"base64"})";
  }
  json::value Upload(const std::string& filename, const std::string& content_type = "image/png",
                     const std::string& bytes = "PNGDATA") {
    return Ok(rw_, "media/upload", UploadParams(filename, content_type, bytes));
  }
  std::string KeyOf(const std::string& filename) { return Str(Upload(filename), "storageKey"); }
  std::filesystem::path FileOf(const std::string& key) { return dir_ / "media" / key; }
  void Insert(const std::string& id, const std::string& mime, const std::string& status = "ready") {
    Sql("INSERT INTO media (id, filename, mime_type, size, storage_key, status, created_at) "
        "VALUES (?, ?, ?, 10, ?, ?, '2020-01-01T00:00:00.000Z')",
        {id, id + ".bin", mime, id + ".bin", status});
  }
  int64_t CountRows() {
    auto r = Sql("SELECT COUNT(*) FROM media");
    return r.empty() ? -1 : Int(r.rows[0][0]);
  }
  bridge::Grant rw_, reader_, writer_;
};

// --- upload

TEST_F(MediaTest, UploadReturnsIdKeyAndUrl) {
  json::value r = Upload("photo.jpg", "image/jpeg", "hello");
  ASSERT_TRUE(r.is_object()) << Stringify(r);
  EXPECT_EQ(r.as_object().size(), 3u) << Stringify(r);
  std::string id = Str(r, "mediaId");
  EXPECT_TRUE(IsUlid(id)) << id;
  EXPECT_EQ(Str(r, "storageKey"), id + ".jpg");
  EXPECT_EQ(Str(r, "url"), "/_emdash/api/media/file/" + id + ".jpg");
}

TEST_F(MediaTest, UploadWritesFileUnderMediaDirectory) {
  std::string key =
      Str(Upload("a.png", "image/png", std::string("\x89PNG\0\x01\xff", 7)), "storageKey");
  ASSERT_TRUE(std::filesystem::exists(FileOf(key))) << FileOf(key);
  EXPECT_EQ(ReadFile(FileOf(key)), std::string("\x89PNG\0\x01\xff", 7));
}

TEST_F(MediaTest, UploadInsertsReadyRowWithOriginalFilename) {
  json::value r = Upload("../../etc/passwd.png", "image/png", "12345");
  std::string id = Str(r, "mediaId");
  auto rows =
      Sql("SELECT filename, mime_type, size, storage_key, status, created_at FROM media "
          "WHERE id = ?",
          {id});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Text(rows.rows[0][0]), "../../etc/passwd.png");
  EXPECT_EQ(Text(rows.rows[0][1]), "image/png");
  EXPECT_EQ(Int(rows.rows[0][2]), 5);
  EXPECT_EQ(Text(rows.rows[0][3]), id + ".png");
  EXPECT_EQ(Text(rows.rows[0][4]), "ready");
  EXPECT_TRUE(IsIso(Text(rows.rows[0][5]))) << Text(rows.rows[0][5]);
  // The file is named by the key, never by the given path.
  EXPECT_TRUE(std::filesystem::exists(FileOf(id + ".png")));
}

TEST_F(MediaTest, UploadAcceptsNumberArrayBytes) {
  json::value r = Ok(rw_, "media/upload",
                     R"({"filename":"x.bin","contentType":"image/x","bytes":[104,105,0,255]})");
  std::string key = Str(r, "storageKey");
  EXPECT_EQ(ReadFile(FileOf(key)), std::string("hi\0\xff", 4));
  EXPECT_EQ(Int(Sql("SELECT size FROM media").rows.at(0).at(0)), 4);
}

TEST_F(MediaTest, UploadNumberArrayConvertsLikeUint8Array) {
  // Modulo 256, truncation toward zero.
  json::value r = Ok(rw_, "media/upload",
                     R"({"filename":"x","contentType":"image/x","bytes":[321,-1,65.9,256,-255]})");
  EXPECT_EQ(ReadFile(FileOf(Str(r, "storageKey"))), std::string("A\xff"
                                                                "A\0\x01",
                                                                5));
}

TEST_F(MediaTest, UploadAcceptsEmptyBytes) {
  json::value r =
      Ok(rw_, "media/upload", R"({"filename":"e.png","contentType":"image/png","bytes":[]})");
  EXPECT_EQ(ReadFile(FileOf(Str(r, "storageKey"))), "");
  EXPECT_EQ(Int(Sql("SELECT size FROM media").rows.at(0).at(0)), 0);
}

TEST_F(MediaTest, UploadStringBytesRequireBase64Encoding) {
  const std::string msg =
      "media/upload: bytes must be a base64-encoded string or an array of bytes";
  EXPECT_EQ(
      Err(rw_, "media/upload", R"({"filename":"a.png","contentType":"image/png","bytes":"aGk="})"),
      msg);
  EXPECT_EQ(
      Err(rw_, "media/upload",
          R"({"filename":"a.png","contentType":"image/png","bytes":"aGk=","encoding":"hex"})"),
      msg);
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(MediaTest, UploadRefusesInvalidBase64) {
  EXPECT_FALSE(
      Call(rw_, "media/upload",
           R"({"filename":"a.png","contentType":"image/png","bytes":"@@@","encoding":"base64"})")
          .ok());
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(MediaTest, UploadAllowsImageVideoAudioAndPdf) {
  for (const char* type : {"image/png", "video/mp4", "audio/mpeg", "application/pdf",
                           "image/svg+xml", "application/pdfx"}) {
    EXPECT_TRUE(Call(rw_, "media/upload", UploadParams("f", type, "x")).ok()) << type;
  }
  EXPECT_EQ(CountRows(), 6);
}

TEST_F(MediaTest, UploadRefusesOtherContentTypesWithAllowlistMessage) {
  for (const char* type :
       {"text/html", "application/json", "IMAGE/PNG", "", "imagex/png", "application/x-pdf"}) {
    EXPECT_EQ(Err(rw_, "media/upload", UploadParams("f.png", type, "x")),
              std::string("Unsupported content type: ") + type +
                  ". Allowed: image/*, video/*, audio/*, application/pdf")
        << type;
  }
  EXPECT_EQ(CountRows(), 0);
  EXPECT_TRUE(!std::filesystem::exists(dir_ / "media") ||
              std::filesystem::is_empty(dir_ / "media"));
}

TEST_F(MediaTest, StorageKeyIsIdPlusExtensionOfBasename) {
  struct Case {
    const char* filename;
    const char* ext;
  } cases[] = {
      {"photo.jpg", ".jpg"},
      {"Photo.JPG", ".JPG"},
      {"a/b/c.png", ".png"},
      {"archive.tar.gz", ".gz"},
      {"noext", ""},
      {"dir.d/file", ""},
      {"file.", ""},
      {"file.j-p", ""},
      {"x.abcdefghij", ".abcdefghij"},
      {"x.abcdefghijk", ""},
      {".bashrc", ".bashrc"},
      {"C:\\dir\\x.webp", ".webp"},
      {"a.b\\c", ""},
      {"../../etc/passwd", ""},
      {"x.p%g", ""},
      {"x.m4a", ".m4a"},
  };
  for (const auto& c : cases) {
    json::value r = Upload(c.filename);
    EXPECT_EQ(Str(r, "storageKey"), Str(r, "mediaId") + c.ext) << c.filename;
  }
}

TEST_F(MediaTest, UploadValidatesParametersInOrder) {
  EXPECT_EQ(Err(rw_, "media/upload"), "Missing required string parameter: filename");
  EXPECT_EQ(Err(rw_, "media/upload", R"({"filename":5,"contentType":5})"),
            "Missing required string parameter: filename");
  EXPECT_EQ(Err(rw_, "media/upload", R"({"filename":"a"})"),
            "Missing required string parameter: contentType");
  EXPECT_EQ(Err(rw_, "media/upload", R"({"filename":"a","contentType":"text/html"})"),
            "Parameter bytes must be a string or array of numbers");
  for (const char* b : {"{}", "null", R"(["a"])", "[1,null]", "true"}) {
    EXPECT_EQ(Err(rw_, "media/upload",
                  std::string(R"({"filename":"a","contentType":"text/html","bytes":)") + b + "}"),
              "Parameter bytes must be a string or array of numbers")
        << b;
  }
  EXPECT_EQ(Err(rw_, "media/upload",
                R"({"filename":"a","contentType":"text/html","bytes":[],"encoding":1})"),
            "Parameter encoding must be a string when provided");
  EXPECT_EQ(Err(rw_, "media/upload",
                R"({"filename":"a","contentType":"text/html","bytes":[],"encoding":null})"),
            "Parameter encoding must be a string when provided");
}

TEST_F(MediaTest, UploadRequiresWriteCapabilityFirst) {
  EXPECT_EQ(Err(reader_, "media/upload"), "Missing capability: media:write");
  EXPECT_EQ(Err(reader_, "media/upload", UploadParams("a.png", "image/png", "x")),
            "Missing capability: media:write");
  EXPECT_EQ(CountRows(), 0);
}

class MediaNoStorageTest : public MediaTest {
 protected:
  void Customize(bridge::BridgeOptions& o) override { o.media = nullptr; }
};

TEST_F(MediaNoStorageTest, UploadWithoutStorageFailsBeforeContentTypeCheck) {
  const std::string msg =
      "Media storage is not configured. Cannot upload files without a storage adapter.";
  EXPECT_EQ(Err(rw_, "media/upload", UploadParams("a.png", "image/png", "x")), msg);
  EXPECT_EQ(Err(rw_, "media/upload", UploadParams("a.html", "text/html", "x")), msg);
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(MediaNoStorageTest, DeleteWithoutStorageStillDeletesRow) {
  Insert("m1", "image/png");
  EXPECT_JSON(Ok(rw_, "media/delete", R"({"id":"m1"})"), "true");
  EXPECT_EQ(CountRows(), 0);
}

// --- get

TEST_F(MediaTest, GetReturnsItemShape) {
  json::value up = Upload("pic.gif", "image/gif", "GIF89a");
  std::string id = Str(up, "mediaId");
  json::value item = Ok(rw_, "media/get", R"({"id":)" + Quote(id) + "}");
  ASSERT_TRUE(item.is_object()) << Stringify(item);
  EXPECT_EQ(item.as_object().size(), 6u) << Stringify(item);
  EXPECT_EQ(Str(item, "id"), id);
  EXPECT_EQ(Str(item, "filename"), "pic.gif");
  EXPECT_EQ(Str(item, "mimeType"), "image/gif");
  EXPECT_JSON(item.at("size"), "6");
  EXPECT_EQ(Str(item, "url"), "/_emdash/api/media/file/" + id + ".gif");
  EXPECT_TRUE(IsIso(Str(item, "createdAt"))) << Stringify(item);
}

TEST_F(MediaTest, GetMissingReturnsNull) {
  auto r = Call(reader_, "media/get", R"({"id":"nope"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->value.has_value());
  EXPECT_TRUE(r->value->is_null());
}

TEST_F(MediaTest, GetReturnsRowsInAnyStatusAndNullSize) {
  Insert("pending1", "image/png", "pending");
  Sql("UPDATE media SET size = NULL");
  json::value item = Ok(reader_, "media/get", R"({"id":"pending1"})");
  EXPECT_EQ(Str(item, "id"), "pending1");
  EXPECT_TRUE(item.at("size").is_null()) << Stringify(item);
  EXPECT_EQ(Str(item, "url"), "/_emdash/api/media/file/pending1.bin");
}

TEST_F(MediaTest, GetRequiresReadCapabilityAndId) {
  EXPECT_EQ(Err(writer_, "media/get", R"({"id":"x"})"), "Missing capability: media:read");
  EXPECT_EQ(Err(writer_, "media/get"), "Missing capability: media:read");
  EXPECT_EQ(Err(reader_, "media/get"), "Missing required string parameter: id");
  EXPECT_EQ(Err(reader_, "media/get", R"({"id":1})"), "Missing required string parameter: id");
}

// --- list

TEST_F(MediaTest, ListReturnsReadyItemsNewestIdFirst) {
  Insert("m1", "image/png");
  Insert("m2", "video/mp4", "pending");
  Insert("m3", "image/jpeg");
  Insert("m4", "audio/ogg", "failed");
  json::value page = Ok(reader_, "media/list");
  EXPECT_EQ(Ids(page), (V{"m3", "m1"}));
  EXPECT_JSON(page.at("hasMore"), "false");
  EXPECT_FALSE(page.as_object().contains("cursor"));
}

TEST_F(MediaTest, ListFiltersByMimeTypePrefix) {
  Insert("m1", "image/png");
  Insert("m2", "video/mp4");
  Insert("m3", "image/jpeg");
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"mimeType":"image/"})")), (V{"m3", "m1"}));
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"mimeType":"image/png"})")), (V{"m1"}));
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"mimeType":""})")), (V{"m3", "m2", "m1"}));
}

TEST_F(MediaTest, ListMimeTypePrefixIsCaseInsensitive) {
  Insert("m1", "image/png");
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"mimeType":"IMAGE/"})")), (V{"m1"}));
}

TEST_F(MediaTest, ListMimeTypePrefixTreatsUnderscoreLiterally) {
  Insert("m1", "image/x_icon");
  Insert("m2", "image/xbicon");
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"mimeType":"image/x_"})")), (V{"m1"}));
}

TEST_F(MediaTest, ListMimeTypePrefixTreatsPercentLiterally) {
  Insert("m1", "image/png");
  Insert("m2", "image/%weird");
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"mimeType":"%"})")), (V{}));
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"mimeType":"image/%"})")), (V{"m2"}));
}

TEST_F(MediaTest, ListIgnoresNonStringMimeTypeAndCursor) {
  Insert("m1", "image/png");
  Insert("m2", "video/mp4");
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"mimeType":5,"cursor":null})")), (V{"m2", "m1"}));
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"mimeType":null,"cursor":7})")), (V{"m2", "m1"}));
}

TEST_F(MediaTest, ListPagesWithRawIdCursor) {
  for (const char* id : {"m1", "m2", "m3", "m4", "m5"}) Insert(id, "image/png");
  json::value p1 = Ok(reader_, "media/list", R"({"limit":2})");
  EXPECT_EQ(Ids(p1), (V{"m5", "m4"}));
  EXPECT_JSON(p1.at("hasMore"), "true");
  EXPECT_EQ(Str(p1, "cursor"), "m4");
  json::value p2 = Ok(reader_, "media/list", R"({"limit":2,"cursor":"m4"})");
  EXPECT_EQ(Ids(p2), (V{"m3", "m2"}));
  json::value p3 = Ok(reader_, "media/list", R"({"limit":2,"cursor":"m2"})");
  EXPECT_EQ(Ids(p3), (V{"m1"}));
  EXPECT_JSON(p3.at("hasMore"), "false");
  EXPECT_FALSE(p3.as_object().contains("cursor"));
}

TEST_F(MediaTest, ListEmptyCursorYieldsEmptyPage) {
  Insert("m1", "image/png");
  EXPECT_JSON(Ok(reader_, "media/list", R"({"cursor":""})"), R"({"items":[],"hasMore":false})");
}

TEST_F(MediaTest, ListLimitClamps) {
  for (int i = 0; i < 105; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "m%03d", i);
    Insert(id, "image/png");
  }
  EXPECT_EQ(Ids(Ok(reader_, "media/list")).size(), 50u);
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"limit":0})")).size(), 50u);
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"limit":"x"})")).size(), 50u);
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"limit":-7})")), (V{"m104"}));
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"limit":500})")).size(), 100u);
  EXPECT_EQ(Ids(Ok(reader_, "media/list", R"({"limit":3})")).size(), 3u);
}

TEST_F(MediaTest, ListRequiresReadCapability) {
  EXPECT_EQ(Err(writer_, "media/list"), "Missing capability: media:read");
}

// --- delete

TEST_F(MediaTest, DeleteRemovesRowAndFile) {
  json::value up = Upload("a.png");
  std::string id = Str(up, "mediaId");
  std::string key = Str(up, "storageKey");
  ASSERT_TRUE(std::filesystem::exists(FileOf(key)));
  EXPECT_JSON(Ok(rw_, "media/delete", R"({"id":)" + Quote(id) + "}"), "true");
  EXPECT_EQ(CountRows(), 0);
  EXPECT_FALSE(std::filesystem::exists(FileOf(key)));
  EXPECT_TRUE(Ok(rw_, "media/get", R"({"id":)" + Quote(id) + "}").is_null());
}

TEST_F(MediaTest, DeleteReturnsFalseForMissingId) {
  Upload("a.png");
  EXPECT_JSON(Ok(rw_, "media/delete", R"({"id":"missing"})"), "false");
  EXPECT_EQ(CountRows(), 1);
}

TEST_F(MediaTest, DeleteSucceedsWhenFileIsAlreadyGone) {
  Insert("m1", "image/png");  // no file was ever written for it
  EXPECT_JSON(Ok(rw_, "media/delete", R"({"id":"m1"})"), "true");
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(MediaTest, DeleteLeavesOtherFiles) {
  std::string keep = KeyOf("keep.png");
  std::string id = Str(Upload("drop.png"), "mediaId");
  Ok(rw_, "media/delete", R"({"id":)" + Quote(id) + "}");
  EXPECT_TRUE(std::filesystem::exists(FileOf(keep)));
  EXPECT_EQ(CountRows(), 1);
}

TEST_F(MediaTest, DeleteRequiresWriteCapabilityAndId) {
  Insert("m1", "image/png");
  EXPECT_EQ(Err(reader_, "media/delete", R"({"id":"m1"})"), "Missing capability: media:write");
  EXPECT_EQ(Err(writer_, "media/delete"), "Missing required string parameter: id");
  EXPECT_EQ(CountRows(), 1);
}

TEST_F(MediaTest, WriteDoesNotImplyRead) {
  std::string id =
      Str(Ok(writer_, "media/upload", UploadParams("a.png", "image/png", "x")), "mediaId");
  EXPECT_EQ(Err(writer_, "media/get", R"({"id":)" + Quote(id) + "}"),
            "Missing capability: media:read");
}

TEST_F(MediaTest, LegacyCapabilityNamesGrantCurrentOnes) {
  auto legacy =
      Plugin(R"({"id":"legacy","version":"1.0.0","capabilities":["read:media","write:media"]})");
  std::string id =
      Str(Ok(legacy, "media/upload", UploadParams("a.png", "image/png", "x")), "mediaId");
  EXPECT_FALSE(Ok(legacy, "media/get", R"({"id":)" + Quote(id) + "}").is_null());
}

}  // namespace
}  // namespace ps::testing
