// Storage collections (bridge.md §3.2): declared collections only, per plugin, documents as JSON
// in `_plugin_storage`. Queries are in storage_query_test.cc.

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "bridge/fixture.h"
#include "bridge/test_helpers.h"

namespace ps::testing {
namespace {

constexpr const char* kManifest = R"({
  "id": "store-plugin",
  "version": "1.0.0",
  "storage": {
    "items": {"indexes": ["status"]},
    "people": {"indexes": [], "uniqueIndexes": ["email"]}
  }
})";

// storage/getMany pairs as sorted "id=doc-json" strings (the spec gives no order).
std::vector<std::string> Pairs(const json::value& v) {
  std::vector<std::string> out;
  EXPECT_TRUE(v.is_array()) << Stringify(v);
  if (!v.is_array()) return out;
  for (const auto& p : v.get_array()) {
    EXPECT_TRUE(p.is_array() && p.get_array().size() == 2) << Stringify(p);
    if (!p.is_array() || p.get_array().size() != 2) continue;
    out.push_back(Str(p.get_array()[0]) + "=" + Stringify(p.get_array()[1]));
  }
  std::sort(out.begin(), out.end());
  return out;
}

class StorageTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    p_ = Plugin(kManifest);
  }
  void Put(const std::string& id, const std::string& data_json,
           const std::string& collection = "items") {
    Ok(p_, "storage/put",
       R"({"collection":)" + Quote(collection) + R"(,"id":)" + Quote(id) + R"(,"data":)" +
           data_json + "}");
  }
  int64_t Rows(const std::string& collection = "items") {
    auto r = Sql("SELECT COUNT(*) FROM _plugin_storage WHERE collection = ?", {collection});
    return r.empty() ? -1 : Int(r.rows[0][0]);
  }
  bridge::Grant p_;
};

TEST_F(StorageTest, PutThenGetRoundTripsDocument) {
  Put("a", R"({"title":"T","n":1,"nested":{"list":[1,"two",null]}})");
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"a"})"),
              R"({"title":"T","n":1,"nested":{"list":[1,"two",null]}})");
}

TEST_F(StorageTest, PutReturnsVoid) {
  auto r = Call(p_, "storage/put", R"({"collection":"items","id":"a","data":{}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->value.has_value());
}

TEST_F(StorageTest, GetMissingDocumentReturnsNull) {
  auto r = Call(p_, "storage/get", R"({"collection":"items","id":"nope"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->value.has_value());
  EXPECT_TRUE(r->value->is_null());
}

TEST_F(StorageTest, PutStoresRowUnderPluginAndCollectionWithIsoTimestamps) {
  Put("doc-1", R"({"a":1})");
  auto rows =
      Sql("SELECT plugin_id, collection, id, data, created_at, updated_at FROM _plugin_storage");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Text(rows.rows[0][0]), "store-plugin");
  EXPECT_EQ(Text(rows.rows[0][1]), "items");
  EXPECT_EQ(Text(rows.rows[0][2]), "doc-1");
  EXPECT_JSON(J(Text(rows.rows[0][3])), R"({"a":1})");
  EXPECT_TRUE(IsIso(Text(rows.rows[0][4]))) << Text(rows.rows[0][4]);
  EXPECT_EQ(Text(rows.rows[0][4]), Text(rows.rows[0][5]));
}

TEST_F(StorageTest, PutOverwritesDocumentAndPreservesCreatedAt) {
  Put("a", R"({"v":1})");
  Sql("UPDATE _plugin_storage SET created_at = '2000-01-01T00:00:00.000Z', updated_at = "
      "'2000-01-01T00:00:00.000Z'");
  Put("a", R"({"v":2})");
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"a"})"), R"({"v":2})");
  auto rows = Sql("SELECT created_at, updated_at FROM _plugin_storage");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Text(rows.rows[0][0]), "2000-01-01T00:00:00.000Z");
  EXPECT_NE(Text(rows.rows[0][1]), "2000-01-01T00:00:00.000Z");
  EXPECT_TRUE(IsIso(Text(rows.rows[0][1])));
}

TEST_F(StorageTest, PutWithoutDataFailsOnNotNull) {
  std::string err = Err(p_, "storage/put", R"({"collection":"items","id":"a"})");
  EXPECT_NE(err.find("NOT NULL constraint failed"), std::string::npos) << err;
  EXPECT_EQ(Rows(), 0);
}

TEST_F(StorageTest, StoredJsonNullDocumentReadsAsNull) {
  Put("n", "null");
  EXPECT_TRUE(Ok(p_, "storage/get", R"({"collection":"items","id":"n"})").is_null());
  EXPECT_EQ(Rows(), 1);
}

TEST_F(StorageTest, DeleteReturnsTrueOnlyWhenADocumentWasDeleted) {
  Put("a", "{}");
  EXPECT_JSON(Ok(p_, "storage/delete", R"({"collection":"items","id":"a"})"), "true");
  EXPECT_TRUE(Ok(p_, "storage/get", R"({"collection":"items","id":"a"})").is_null());
  EXPECT_JSON(Ok(p_, "storage/delete", R"({"collection":"items","id":"a"})"), "false");
}

TEST_F(StorageTest, CollectionsOfOnePluginAreSeparate) {
  Put("same", R"({"in":"items"})");
  Put("same", R"({"in":"people","email":"x@y"})", "people");
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"same"})"), R"({"in":"items"})");
  EXPECT_JSON(Ok(p_, "storage/count", R"({"collection":"people"})"), "1");
  Ok(p_, "storage/delete", R"({"collection":"people","id":"same"})");
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"same"})"), R"({"in":"items"})");
}

TEST_F(StorageTest, GetManyReturnsPairsForFoundIdsOnly) {
  Put("a", R"({"v":"a"})");
  Put("b", R"({"v":"b"})");
  Put("__proto__", R"({"v":"proto"})");
  auto v = Ok(p_, "storage/getMany", R"({"collection":"items","ids":["a","missing","__proto__"]})");
  EXPECT_EQ(Pairs(v), (std::vector<std::string>{R"(__proto__={"v":"proto"})", R"(a={"v":"a"})"}));
}

TEST_F(StorageTest, GetManyWithNoIdsReturnsEmptyArray) {
  Put("a", "{}");
  EXPECT_JSON(Ok(p_, "storage/getMany", R"({"collection":"items","ids":[]})"), "[]");
}

TEST_F(StorageTest, PutManyStoresEveryItemAndReturnsVoid) {
  auto r =
      Call(p_, "storage/putMany",
           R"({"collection":"items","items":[{"id":"a","data":{"v":1}},{"id":"b","data":[2]}]})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->value.has_value());
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"a"})"), R"({"v":1})");
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"b"})"), "[2]");
}

TEST_F(StorageTest, PutManyRowsShareOneTimestamp) {
  std::string items;
  for (int i = 0; i < 20; ++i)
    items += std::string(i ? "," : "") + R"({"id":"d)" + std::to_string(i) + R"(","data":{}})";
  Ok(p_, "storage/putMany", R"({"collection":"items","items":[)" + items + "]}");
  auto rows = Sql("SELECT DISTINCT created_at, updated_at FROM _plugin_storage");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(IsIso(Text(rows.rows[0][0])));
  EXPECT_EQ(Text(rows.rows[0][0]), Text(rows.rows[0][1]));
}

TEST_F(StorageTest, PutManyPreservesCreatedAtOfExistingDocuments) {
  Put("a", R"({"v":1})");
  Sql("UPDATE _plugin_storage SET created_at = '2000-01-01T00:00:00.000Z'");
  Ok(p_, "storage/putMany", R"({"collection":"items","items":[{"id":"a","data":{"v":2}}]})");
  EXPECT_EQ(Text(Sql("SELECT created_at FROM _plugin_storage").rows.at(0).at(0)),
            "2000-01-01T00:00:00.000Z");
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"a"})"), R"({"v":2})");
}

TEST_F(StorageTest, PutManyWithNoItemsIsANoOp) {
  auto r = Call(p_, "storage/putMany", R"({"collection":"items","items":[]})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->value.has_value());
  EXPECT_EQ(Rows(), 0);
}

TEST_F(StorageTest, PutManyRollsBackEverythingWhenAnItemFails) {
  Put("existing", R"({"v":"old"})");
  // The third item has no data: NOT NULL fails after two rows were written.
  std::string err = Err(p_, "storage/putMany",
                        R"({"collection":"items","items":[{"id":"a","data":1},)"
                        R"({"id":"existing","data":{"v":"new"}},{"id":"c"}]})");
  EXPECT_NE(err.find("NOT NULL constraint failed"), std::string::npos) << err;
  EXPECT_TRUE(Ok(p_, "storage/get", R"({"collection":"items","id":"a"})").is_null());
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"existing"})"), R"({"v":"old"})");
  EXPECT_EQ(Rows(), 1);
}

TEST_F(StorageTest, UniqueIndexViolationFailsPutWithConstraintMessage) {
  Put("p1", R"({"email":"a@example.com"})", "people");
  std::string err = Err(p_, "storage/put",
                        R"({"collection":"people","id":"p2","data":{"email":"a@example.com"}})");
  EXPECT_NE(err.find("UNIQUE constraint failed"), std::string::npos) << err;
  EXPECT_EQ(Rows("people"), 1);
}

TEST_F(StorageTest, PutManyRollsBackOnUniqueIndexViolation) {
  std::string err = Err(p_, "storage/putMany",
                        R"({"collection":"people","items":[{"id":"p1","data":{"email":"x"}},)"
                        R"({"id":"p2","data":{"email":"y"}},{"id":"p3","data":{"email":"x"}}]})");
  EXPECT_NE(err.find("UNIQUE constraint failed"), std::string::npos) << err;
  EXPECT_EQ(Rows("people"), 0);
}

TEST_F(StorageTest, DeleteManyReturnsNumberActuallyDeleted) {
  Put("a", "{}");
  Put("b", "{}");
  Put("c", "{}");
  EXPECT_JSON(Ok(p_, "storage/deleteMany", R"({"collection":"items","ids":["a","c","missing"]})"),
              "2");
  EXPECT_EQ(Rows(), 1);
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"b"})"), "{}");
}

TEST_F(StorageTest, DeleteManyWithNoIdsReturnsZero) {
  Put("a", "{}");
  EXPECT_JSON(Ok(p_, "storage/deleteMany", R"({"collection":"items","ids":[]})"), "0");
  EXPECT_EQ(Rows(), 1);
}

TEST_F(StorageTest, CountWithoutWhereCountsWholeCollection) {
  Put("a", R"({"status":"x"})");
  Put("b", R"({"status":"y"})");
  Put("c", "{}", "people");
  auto v = Ok(p_, "storage/count", R"({"collection":"items"})");
  EXPECT_TRUE(v.is_int64() || v.is_uint64()) << Stringify(v);
  EXPECT_JSON(v, "2");
  EXPECT_JSON(Ok(p_, "storage/count", R"({"collection":"items","where":{}})"), "2");
}

TEST_F(StorageTest, CountWithWhereCountsMatches) {
  Put("a", R"({"status":"x"})");
  Put("b", R"({"status":"y"})");
  Put("c", R"({"status":"x"})");
  EXPECT_JSON(Ok(p_, "storage/count", R"({"collection":"items","where":{"status":"x"}})"), "2");
  EXPECT_JSON(Ok(p_, "storage/count", R"({"collection":"items","where":{"status":{"in":[]}}})"),
              "0");
}

TEST_F(StorageTest, CountRefusesNonIndexedWhereField) {
  EXPECT_EQ(Err(p_, "storage/count", R"({"collection":"items","where":{"secret":1}})"),
            "Cannot query on non-indexed field 'secret'.");
}

TEST_F(StorageTest, CountRejectsNonObjectWhere) {
  EXPECT_EQ(Err(p_, "storage/count", R"({"collection":"items","where":[]})"),
            "Parameter where must be an object when provided");
  EXPECT_EQ(Err(p_, "storage/count", R"({"collection":"items","where":null})"),
            "Parameter where must be an object when provided");
}

TEST_F(StorageTest, CountReportsUnknownFilter) {
  EXPECT_EQ(Err(p_, "storage/count", R"({"collection":"items","where":{"status":{"near":1}}})"),
            "Unknown filter type for field 'status'");
}

// A plugin without indexes: with any declared index, SQLite evaluates json_extract() on every
// row of _plugin_storage, so non-JSON text could not even be inserted.
class StorageWithoutIndexesTest : public BridgeTest {};

TEST_F(StorageWithoutIndexesTest, GetFailsWhenStoredTextIsNotJson) {
  auto p = Plugin(R"({"id":"plain","version":"1.0.0","storage":{"items":{"indexes":[]}}})");
  Sql("INSERT INTO _plugin_storage (plugin_id, collection, id, data) VALUES ('plain', "
      "'items', 'bad', 'not json {')");
  EXPECT_FALSE(Call(p, "storage/get", R"({"collection":"items","id":"bad"})").ok());
}

// --- Declared collections and parameter precedence: collection string -> declared -> rest.

TEST_F(StorageTest, UndeclaredCollectionIsRefusedForEveryMethod) {
  const char* methods[] = {"storage/get",     "storage/put",       "storage/delete",
                           "storage/query",   "storage/count",     "storage/getMany",
                           "storage/putMany", "storage/deleteMany"};
  for (const char* m : methods) {
    EXPECT_EQ(Err(p_, m, R"({"collection":"secrets"})"), "Storage collection not declared: secrets")
        << m;
  }
}

TEST_F(StorageTest, MissingCollectionIsReportedFirst) {
  EXPECT_EQ(Err(p_, "storage/get"), "Missing required string parameter: collection");
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":3,"id":"a"})"),
            "Missing required string parameter: collection");
  EXPECT_EQ(Err(p_, "storage/query"), "Missing required string parameter: collection");
  EXPECT_EQ(Err(p_, "storage/putMany", R"({"items":5})"),
            "Missing required string parameter: collection");
}

TEST_F(StorageTest, DeclaredCheckPrecedesOtherParameters) {
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":"nope"})"),
            "Storage collection not declared: nope");
  EXPECT_EQ(Err(p_, "storage/getMany", R"({"collection":"nope","ids":"x"})"),
            "Storage collection not declared: nope");
}

TEST_F(StorageTest, DeclaredMembershipIsExact) {
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":"Items","id":"a"})"),
            "Storage collection not declared: Items");
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":"items ","id":"a"})"),
            "Storage collection not declared: items ");
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":"","id":"a"})"),
            "Storage collection not declared: ");
}

TEST_F(StorageTest, PathTraversalAndSqlInjectionCollectionNamesAreRefused) {
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":"../items","id":"a"})"),
            "Storage collection not declared: ../items");
  EXPECT_EQ(Err(p_, "storage/put", R"({"collection":"items' OR '1'='1","id":"a","data":{}})"),
            "Storage collection not declared: items' OR '1'='1");
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":"__kv","id":"a"})"),
            "Storage collection not declared: __kv");
  EXPECT_EQ(Rows(), 0);
}

TEST_F(StorageTest, GetRequiresStringId) {
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":"items"})"),
            "Missing required string parameter: id");
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":"items","id":7})"),
            "Missing required string parameter: id");
}

TEST_F(StorageTest, PutAndDeleteRequireStringId) {
  EXPECT_EQ(Err(p_, "storage/put", R"({"collection":"items","data":{}})"),
            "Missing required string parameter: id");
  EXPECT_EQ(Err(p_, "storage/delete", R"({"collection":"items","id":null})"),
            "Missing required string parameter: id");
}

TEST_F(StorageTest, GetManyAndDeleteManyRequireArrayOfStrings) {
  for (const char* m : {"storage/getMany", "storage/deleteMany"}) {
    EXPECT_EQ(Err(p_, m, R"({"collection":"items"})"), "Parameter ids must be an array of strings")
        << m;
    EXPECT_EQ(Err(p_, m, R"({"collection":"items","ids":"a"})"),
              "Parameter ids must be an array of strings")
        << m;
    EXPECT_EQ(Err(p_, m, R"({"collection":"items","ids":["a",1]})"),
              "Parameter ids must be an array of strings")
        << m;
  }
}

TEST_F(StorageTest, PutManyRequiresItemsWithStringIds) {
  const char* bad[] = {R"({"collection":"items"})",
                       R"({"collection":"items","items":{}})",
                       R"({"collection":"items","items":[1]})",
                       R"({"collection":"items","items":[{"data":1}]})",
                       R"({"collection":"items","items":[{"id":2,"data":1}]})",
                       R"({"collection":"items","items":[{"id":"a","data":1},null]})"};
  for (const char* params : bad) {
    EXPECT_EQ(Err(p_, "storage/putMany", params),
              "Parameter items must be an array of { id: string, data } items")
        << params;
  }
  EXPECT_EQ(Rows(), 0);
}

TEST_F(StorageTest, NeedsNoCapability) {
  // p_ declares no capabilities.
  EXPECT_TRUE(Call(p_, "storage/put", R"({"collection":"items","id":"a","data":{}})").ok());
  EXPECT_TRUE(Call(p_, "storage/query", R"({"collection":"items"})").ok());
}

TEST_F(StorageTest, TwoPluginsCannotSeeEachOthersDocuments) {
  auto other = Plugin(R"({"id":"other-plugin","version":"1.0.0",
                          "storage":{"items":{"indexes":["status"]}}})");
  Put("a", R"({"status":"mine"})");
  EXPECT_TRUE(Ok(other, "storage/get", R"({"collection":"items","id":"a"})").is_null());
  EXPECT_JSON(Ok(other, "storage/count", R"({"collection":"items"})"), "0");
  EXPECT_JSON(Ok(other, "storage/query", R"({"collection":"items"})"),
              R"({"items":[],"hasMore":false})");
  EXPECT_JSON(Ok(other, "storage/getMany", R"({"collection":"items","ids":["a"]})"), "[]");
  EXPECT_JSON(Ok(other, "storage/delete", R"({"collection":"items","id":"a"})"), "false");
  EXPECT_JSON(Ok(other, "storage/deleteMany", R"({"collection":"items","ids":["a"]})"), "0");
  Ok(other, "storage/put", R"({"collection":"items","id":"a","data":{"status":"theirs"}})");
  EXPECT_JSON(Ok(p_, "storage/get", R"({"collection":"items","id":"a"})"), R"({"status":"mine"})");
  EXPECT_JSON(Ok(p_, "storage/count", R"({"collection":"items","where":{"status":"theirs"}})"),
              "0");
}

TEST_F(StorageTest, CollectionsComeFromTheGrantOfTheCallingVersion) {
  // State is keyed by (id, version): v2 declares another collection than v1.
  auto v2 = Plugin(R"({"id":"store-plugin","version":"2.0.0",
                       "storage":{"archive":{"indexes":[]}}})");
  EXPECT_TRUE(Call(v2, "storage/put", R"({"collection":"archive","id":"a","data":{}})").ok());
  EXPECT_EQ(Err(v2, "storage/get", R"({"collection":"items","id":"a"})"),
            "Storage collection not declared: items");
  EXPECT_EQ(Err(p_, "storage/get", R"({"collection":"archive","id":"a"})"),
            "Storage collection not declared: archive");
}

}  // namespace
}  // namespace ps::testing
