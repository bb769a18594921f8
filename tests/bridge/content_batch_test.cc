// Content batches (bridge.md §3.3, §6.4; spec README decision 7): createMany, updateMany,
// deleteMany, at most 100 items, one transaction each (all-or-nothing).

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "bridge/fixture.h"
#include "bridge/test_helpers.h"

namespace ps::testing {
namespace {

std::string Repeat(const std::string& element, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += (i ? "," : "") + element;
  return out;
}

class ContentBatchTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    MakeCollection({"posts", "Posts", {{"title", "string"}, {"views", "integer"}}, {}});
    MakeCollection({"articles", "Articles", {{"title", "string"}}, {"revisions"}});
    rw_ =
        Plugin(R"({"id":"rw","version":"1.0.0","capabilities":["content:read","content:write"]})");
    reader_ = Plugin(R"({"id":"reader","version":"1.0.0","capabilities":["content:read"]})");
  }
  std::string CreateId(const std::string& data_json, const std::string& collection = "posts") {
    return Str(Ok(rw_, "content/create",
                  R"({"collection":)" + Quote(collection) + R"(,"data":)" + data_json + "}"),
               "id");
  }
  int64_t CountRows(const std::string& where = "1=1") {
    auto rows = Sql("SELECT COUNT(*) FROM ec_posts WHERE " + where);
    return rows.empty() ? -1 : Int(rows.rows[0][0]);
  }
  store::Value Column(const std::string& id, const std::string& column,
                      const std::string& collection = "posts") {
    auto rows = Sql("SELECT " + column + " FROM ec_" + collection + " WHERE id = ?", {id});
    EXPECT_EQ(rows.size(), 1u) << id;
    return rows.empty() ? store::Value{} : rows.rows[0][0];
  }
  bridge::Grant rw_, reader_;
};

// --- createMany

TEST_F(ContentBatchTest, CreateManyReturnsItemsInInputOrder) {
  json::value items = Ok(rw_, "content/createMany",
                         R"({"collection":"posts","items":[{"title":"a"},{"title":"b"},)"
                         R"({"title":"c","views":3}]})");
  ASSERT_TRUE(items.is_array()) << Stringify(items);
  ASSERT_EQ(items.as_array().size(), 3u);
  const char* titles[] = {"a", "b", "c"};
  std::set<std::string> ids;
  for (size_t i = 0; i < 3; ++i) {
    const json::value& item = items.as_array()[i];
    EXPECT_EQ(Str(item.at("data"), "title"), titles[i]);
    EXPECT_EQ(Str(item, "type"), "posts");
    EXPECT_EQ(Str(item, "locale"), "en");
    EXPECT_TRUE(IsUlid(Str(item, "id"))) << Stringify(item);
    EXPECT_TRUE(IsIso(Str(item, "createdAt"))) << Stringify(item);
    ids.insert(Str(item, "id"));
    EXPECT_EQ(Int(Column(Str(item, "id"), "version")), 1);
    EXPECT_EQ(Text(Column(Str(item, "id"), "translation_group")), Str(item, "id"));
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_JSON(items.as_array()[2].at("data"), R"({"title":"c","views":3})");
  EXPECT_EQ(CountRows(), 3);
}

TEST_F(ContentBatchTest, CreateManyWithNoItemsReturnsEmptyArray) {
  EXPECT_JSON(Ok(rw_, "content/createMany", R"({"collection":"posts","items":[]})"), "[]");
}

TEST_F(ContentBatchTest, CreateManyAcceptsExactly100Items) {
  json::value items = Ok(rw_, "content/createMany",
                         R"({"collection":"posts","items":[)" + Repeat("{}", 100) + "]}");
  EXPECT_EQ(items.as_array().size(), 100u);
  EXPECT_EQ(CountRows(), 100);
}

TEST_F(ContentBatchTest, CreateManyRefuses101Items) {
  EXPECT_EQ(Err(rw_, "content/createMany",
                R"({"collection":"posts","items":[)" + Repeat("{}", 101) + "]}"),
            "Batch size 101 exceeds maximum of 100");
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(ContentBatchTest, CreateManyRollsBackWhenAMidBatchItemFails) {
  std::string existing = CreateId(R"({"title":"before"})");
  EXPECT_EQ(Err(rw_, "content/createMany",
                R"({"collection":"posts","items":[{"title":"a"},{"nope":1},{"title":"c"}]})"),
            "table ec_posts has no column named nope");
  EXPECT_EQ(CountRows(), 1);
  EXPECT_EQ(CountRows("title = 'a'"), 0);
  EXPECT_EQ(Text(Column(existing, "title")), "before");
}

TEST_F(ContentBatchTest, CreateManyRollsBackOnDuplicateSlug) {
  EXPECT_EQ(Err(rw_, "content/createMany",
                R"({"collection":"posts","items":[{"slug":"s"},{"slug":"t"},{"slug":"s"}]})"),
            "UNIQUE constraint failed: ec_posts.slug, ec_posts.locale");
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(ContentBatchTest, CreateManyRequiresArrayOfObjects) {
  for (const char* items : {"", R"(,"items":{})", R"(,"items":[1])", R"(,"items":[[]])",
                            R"(,"items":[null])", R"(,"items":[{},"x"])", R"(,"items":"x")"}) {
    EXPECT_EQ(Err(rw_, "content/createMany", std::string(R"({"collection":"posts")") + items + "}"),
              "Parameter items must be an array of objects")
        << items;
  }
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(ContentBatchTest, CreateManyValidatesItemsBeforeSize) {
  EXPECT_EQ(Err(rw_, "content/createMany",
                R"({"collection":"posts","items":[)" + Repeat("1", 101) + "]}"),
            "Parameter items must be an array of objects");
}

TEST_F(ContentBatchTest, CreateManyChecksSizeBeforeItemWork) {
  EXPECT_EQ(Err(rw_, "content/createMany",
                R"({"collection":"posts","items":[)" + Repeat(R"({"nope":1})", 101) + "]}"),
            "Batch size 101 exceeds maximum of 100");
}

TEST_F(ContentBatchTest, CreateManyRequiresCollectionBeforeItems) {
  EXPECT_EQ(Err(rw_, "content/createMany", R"({"items":5})"),
            "Missing required string parameter: collection");
  EXPECT_EQ(Err(rw_, "content/createMany", R"({"collection":"../x","items":[{}]})"),
            "Invalid collection name: ../x");
}

TEST_F(ContentBatchTest, CreateManyRequiresWriteCapability) {
  EXPECT_EQ(Err(reader_, "content/createMany", R"({"collection":"posts","items":[{}]})"),
            "Missing capability: content:write");
  EXPECT_EQ(CountRows(), 0);
}

// --- updateMany

TEST_F(ContentBatchTest, UpdateManyReturnsUpdatedItemsInInputOrder) {
  std::string a = CreateId(R"({"title":"a"})");
  std::string b = CreateId(R"({"title":"b"})");
  json::value items =
      Ok(rw_, "content/updateMany",
         R"({"collection":"posts","items":[{"id":)" + Quote(b) +
             R"(,"data":{"title":"B"}},{"id":)" + Quote(a) + R"(,"data":{"views":7}}]})");
  ASSERT_EQ(items.as_array().size(), 2u);
  EXPECT_EQ(Str(items.at(0), "id"), b);
  EXPECT_JSON(items.at(0).at("data"), R"({"title":"B"})");
  EXPECT_EQ(Str(items.at(1), "id"), a);
  EXPECT_JSON(items.at(1).at("data"), R"({"title":"a","views":7})");
  EXPECT_EQ(Int(Column(a, "version")), 2);
  EXPECT_EQ(Int(Column(b, "version")), 2);
}

TEST_F(ContentBatchTest, UpdateManyAppliesRepeatedIdsInOrder) {
  std::string a = CreateId(R"({"title":"a"})");
  Ok(rw_, "content/updateMany",
     R"({"collection":"posts","items":[{"id":)" + Quote(a) + R"(,"data":{"title":"1"}},{"id":)" +
         Quote(a) + R"(,"data":{"title":"2"}}]})");
  EXPECT_EQ(Text(Column(a, "title")), "2");
  EXPECT_EQ(Int(Column(a, "version")), 3);
}

TEST_F(ContentBatchTest, UpdateManyRollsBackWhenAMidBatchItemFails) {
  std::string a = CreateId(R"({"title":"a"})");
  std::string c = CreateId(R"({"title":"c"})");
  EXPECT_EQ(Err(rw_, "content/updateMany",
                R"({"collection":"posts","items":[{"id":)" + Quote(a) +
                    R"(,"data":{"title":"A"}},{"id":"missing","data":{"title":"x"}},{"id":)" +
                    Quote(c) + R"(,"data":{"title":"C"}}]})"),
            "Content not found");
  EXPECT_EQ(Text(Column(a, "title")), "a");
  EXPECT_EQ(Int(Column(a, "version")), 1);
  EXPECT_EQ(Text(Column(c, "title")), "c");
}

TEST_F(ContentBatchTest, UpdateManyRollsBackOnInvalidFieldName) {
  std::string a = CreateId(R"({"title":"a"})");
  EXPECT_EQ(Err(rw_, "content/updateMany",
                R"({"collection":"posts","items":[{"id":)" + Quote(a) +
                    R"(,"data":{"title":"A"}},{"id":)" + Quote(a) + R"(,"data":{"Bad":1}}]})"),
            R"(content field name must match /^[a-z][a-z0-9_]*$/ (got "Bad"))");
  EXPECT_EQ(Text(Column(a, "title")), "a");
  EXPECT_EQ(Int(Column(a, "version")), 1);
}

TEST_F(ContentBatchTest, UpdateManyRequiresIdAndDataObjectItems) {
  for (const char* items :
       {"", R"(,"items":{})", R"(,"items":[1])", R"(,"items":[{"id":"x"}])",
        R"(,"items":[{"data":{}}])", R"(,"items":[{"id":1,"data":{}}])",
        R"(,"items":[{"id":"x","data":[]}])", R"(,"items":[{"id":"x","data":null}])",
        R"(,"items":[{"id":"x","data":{}},null])"}) {
    EXPECT_EQ(Err(rw_, "content/updateMany", std::string(R"({"collection":"posts")") + items + "}"),
              "Parameter items must be an array of { id: string, data: object } items")
        << items;
  }
}

TEST_F(ContentBatchTest, UpdateManyRefuses101Items) {
  std::string a = CreateId(R"({"title":"a"})");
  EXPECT_EQ(Err(rw_, "content/updateMany",
                R"({"collection":"posts","items":[)" +
                    Repeat(R"({"id":)" + Quote(a) + R"(,"data":{"title":"x"}})", 101) + "]}"),
            "Batch size 101 exceeds maximum of 100");
  EXPECT_EQ(Int(Column(a, "version")), 1);
}

TEST_F(ContentBatchTest, UpdateManyStagesDraftsInRevisionCollections) {
  std::string a = CreateId(R"({"title":"Live"})", "articles");
  json::value items = Ok(
      rw_, "content/updateMany",
      R"({"collection":"articles","items":[{"id":)" + Quote(a) + R"(,"data":{"title":"Draft"}}]})");
  EXPECT_JSON(items.at(0).at("data"), R"({"title":"Draft"})");
  EXPECT_EQ(Text(Column(a, "title", "articles")), "Live");
  EXPECT_FALSE(store::IsNull(Column(a, "draft_revision_id", "articles")));
}

TEST_F(ContentBatchTest, UpdateManyRequiresWriteCapability) {
  std::string a = CreateId(R"({"title":"a"})");
  EXPECT_EQ(Err(reader_, "content/updateMany",
                R"({"collection":"posts","items":[{"id":)" + Quote(a) + R"(,"data":{}}]})"),
            "Missing capability: content:write");
  EXPECT_EQ(Int(Column(a, "version")), 1);
}

// --- deleteMany

TEST_F(ContentBatchTest, DeleteManyCountsOnlyRowsActuallySoftDeleted) {
  std::string a = CreateId("{}");
  std::string b = CreateId("{}");
  std::string c = CreateId("{}");
  Ok(rw_, "content/delete", R"({"collection":"posts","id":)" + Quote(c) + "}");
  EXPECT_JSON(Ok(rw_, "content/deleteMany",
                 R"({"collection":"posts","ids":[)" + Quote(a) + "," + Quote(c) + R"(,"missing",)" +
                     Quote(a) + "]}"),
              "1");
  EXPECT_FALSE(store::IsNull(Column(a, "deleted_at")));
  EXPECT_TRUE(store::IsNull(Column(b, "deleted_at")));
  EXPECT_EQ(Int(Column(a, "version")), 1);
  EXPECT_EQ(CountRows(), 3);
}

TEST_F(ContentBatchTest, DeleteManyWithNoIdsReturnsZero) {
  CreateId("{}");
  EXPECT_JSON(Ok(rw_, "content/deleteMany", R"({"collection":"posts","ids":[]})"), "0");
  EXPECT_EQ(CountRows("deleted_at IS NULL"), 1);
}

TEST_F(ContentBatchTest, DeleteManyRefuses101Ids) {
  std::string a = CreateId("{}");
  EXPECT_EQ(Err(rw_, "content/deleteMany",
                R"({"collection":"posts","ids":[)" + Repeat(Quote(a), 101) + "]}"),
            "Batch size 101 exceeds maximum of 100");
  EXPECT_TRUE(store::IsNull(Column(a, "deleted_at")));
}

TEST_F(ContentBatchTest, DeleteManyRequiresArrayOfStrings) {
  for (const char* ids : {"", R"(,"ids":"a")", R"(,"ids":[1])", R"(,"ids":["a",null])"}) {
    EXPECT_EQ(Err(rw_, "content/deleteMany", std::string(R"({"collection":"posts")") + ids + "}"),
              "Parameter ids must be an array of strings")
        << ids;
  }
}

TEST_F(ContentBatchTest, DeleteManyRequiresWriteCapability) {
  std::string a = CreateId("{}");
  EXPECT_EQ(
      Err(reader_, "content/deleteMany", R"({"collection":"posts","ids":[)" + Quote(a) + "]}"),
      "Missing capability: content:write");
  EXPECT_TRUE(store::IsNull(Column(a, "deleted_at")));
}

TEST_F(ContentBatchTest, BatchMethodsRequireCollectionFirst) {
  EXPECT_EQ(Err(rw_, "content/updateMany", R"({"items":[]})"),
            "Missing required string parameter: collection");
  EXPECT_EQ(Err(rw_, "content/deleteMany", R"({"ids":[]})"),
            "Missing required string parameter: collection");
}

}  // namespace
}  // namespace ps::testing
