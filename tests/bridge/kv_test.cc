// KV (bridge.md §3.1): `_plugin_storage` rows under collection `__kv`, per plugin, no capability.
// Our fix (spec README decision 5): kv/list prefixes are LIKE-escaped, so `%`, `_` and `\` in a
// prefix are literal characters, while matching stays ASCII case-insensitive.

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "bridge/fixture.h"
#include "bridge/test_helpers.h"

namespace ps::testing {
namespace {

// kv/list entries as sorted "key=value-json" strings (the spec gives no order).
std::vector<std::string> Entries(const json::value& list) {
  std::vector<std::string> out;
  EXPECT_TRUE(list.is_array()) << Stringify(list);
  if (!list.is_array()) return out;
  for (const auto& e : list.get_array()) {
    EXPECT_TRUE(e.is_object() && e.get_object().size() == 2) << Stringify(e);
    out.push_back(Str(e, "key") + "=" + Stringify(e.at("value")));
  }
  std::sort(out.begin(), out.end());
  return out;
}

class KvTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    p_ = Plugin(R"({"id":"kv-plugin","version":"1.0.0","capabilities":[]})");
  }
  void Set(const std::string& key, const std::string& value_json) {
    Ok(p_, "kv/set", R"({"key":)" + Quote(key) + R"(,"value":)" + value_json + "}");
  }
  bridge::Grant p_;
};

TEST_F(KvTest, SetThenGetRoundTripsJsonValue) {
  Set("a", R"({"x":[1,2,{"y":null}],"s":"t","b":true,"f":1.5})");
  EXPECT_JSON(Ok(p_, "kv/get", R"({"key":"a"})"),
              R"({"x":[1,2,{"y":null}],"s":"t","b":true,"f":1.5})");
}

TEST_F(KvTest, SetReturnsVoid) {
  auto r = Call(p_, "kv/set", R"({"key":"a","value":1})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->value.has_value());
}

TEST_F(KvTest, GetMissingKeyReturnsNull) {
  auto r = Call(p_, "kv/get", R"({"key":"missing"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->value.has_value());
  EXPECT_TRUE(r->value->is_null());
}

TEST_F(KvTest, ScalarValuesRoundTrip) {
  Set("n", "42");
  Set("s", R"("text")");
  Set("b", "false");
  Set("arr", "[]");
  EXPECT_JSON(Ok(p_, "kv/get", R"({"key":"n"})"), "42");
  EXPECT_JSON(Ok(p_, "kv/get", R"({"key":"s"})"), R"("text")");
  EXPECT_JSON(Ok(p_, "kv/get", R"({"key":"b"})"), "false");
  EXPECT_JSON(Ok(p_, "kv/get", R"({"key":"arr"})"), "[]");
}

TEST_F(KvTest, EmptyKeyIsAllowed) {
  Set("", R"("empty")");
  EXPECT_JSON(Ok(p_, "kv/get", R"({"key":""})"), R"("empty")");
}

TEST_F(KvTest, SetStoresJsonTextInPluginStorageUnderKvCollection) {
  Set("settings:theme", R"({"dark":true})");
  auto rows =
      Sql("SELECT plugin_id, collection, id, data, created_at, updated_at FROM _plugin_storage");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Text(rows.rows[0][0]), "kv-plugin");
  EXPECT_EQ(Text(rows.rows[0][1]), "__kv");
  EXPECT_EQ(Text(rows.rows[0][2]), "settings:theme");  // the key is not prefixed
  EXPECT_JSON(J(Text(rows.rows[0][3])), R"({"dark":true})");
  EXPECT_TRUE(IsIso(Text(rows.rows[0][4]))) << Text(rows.rows[0][4]);
  EXPECT_EQ(Text(rows.rows[0][4]), Text(rows.rows[0][5]));
}

TEST_F(KvTest, OverwriteReplacesValueAndPreservesCreatedAt) {
  Set("k", "1");
  Sql("UPDATE _plugin_storage SET created_at = '2000-01-01T00:00:00.000Z', updated_at = "
      "'2000-01-01T00:00:00.000Z'");
  Set("k", "2");
  EXPECT_JSON(Ok(p_, "kv/get", R"({"key":"k"})"), "2");
  auto rows = Sql("SELECT created_at, updated_at FROM _plugin_storage WHERE id = 'k'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Text(rows.rows[0][0]), "2000-01-01T00:00:00.000Z");
  EXPECT_NE(Text(rows.rows[0][1]), "2000-01-01T00:00:00.000Z");
  EXPECT_TRUE(IsIso(Text(rows.rows[0][1]))) << Text(rows.rows[0][1]);
}

TEST_F(KvTest, GetReturnsRawTextWhenStoredDataIsNotJson) {
  Sql("INSERT INTO _plugin_storage (plugin_id, collection, id, data) VALUES ('kv-plugin', "
      "'__kv', 'raw', 'not json {')");
  EXPECT_JSON(Ok(p_, "kv/get", R"({"key":"raw"})"), R"("not json {")");
}

TEST_F(KvTest, SetWithoutValueFailsOnNotNullAndStoresNothing) {
  std::string err = Err(p_, "kv/set", R"({"key":"k"})");
  EXPECT_NE(err.find("NOT NULL constraint failed"), std::string::npos) << err;
  EXPECT_TRUE(Sql("SELECT 1 FROM _plugin_storage").empty());
}

TEST_F(KvTest, NullValueIsStoredAndListed) {
  Set("nothing", "null");
  EXPECT_TRUE(Ok(p_, "kv/get", R"({"key":"nothing"})").is_null());
  EXPECT_EQ(Entries(Ok(p_, "kv/list")), (std::vector<std::string>{"nothing=null"}));
}

TEST_F(KvTest, DeleteReturnsTrueOnlyWhenARowWasDeleted) {
  Set("k", "1");
  EXPECT_JSON(Ok(p_, "kv/delete", R"({"key":"k"})"), "true");
  EXPECT_TRUE(Ok(p_, "kv/get", R"({"key":"k"})").is_null());
  EXPECT_JSON(Ok(p_, "kv/delete", R"({"key":"k"})"), "false");
  EXPECT_JSON(Ok(p_, "kv/delete", R"({"key":"never"})"), "false");
}

TEST_F(KvTest, ListWithoutPrefixReturnsEveryKeyWithParsedValues) {
  Set("a", "1");
  Set("b", R"({"x":"y"})");
  Set("c", R"(["z"])");
  EXPECT_EQ(Entries(Ok(p_, "kv/list")),
            (std::vector<std::string>{"a=1", R"(b={"x":"y"})", R"(c=["z"])"}));
  EXPECT_EQ(Entries(Ok(p_, "kv/list", R"({"prefix":""})")).size(), 3u);
}

TEST_F(KvTest, ListOnEmptyStoreReturnsEmptyArray) { EXPECT_JSON(Ok(p_, "kv/list"), "[]"); }

TEST_F(KvTest, ListFiltersByPrefix) {
  Set("settings:a", "1");
  Set("settings:b", "2");
  Set("state:c", "3");
  Set("xsettings:d", "4");
  EXPECT_EQ(Entries(Ok(p_, "kv/list", R"({"prefix":"settings:"})")),
            (std::vector<std::string>{"settings:a=1", "settings:b=2"}));
}

TEST_F(KvTest, ListPrefixTreatsPercentLiterally) {
  Set("50%off", "1");
  Set("50xoff", "2");
  Set("50", "3");
  EXPECT_EQ(Entries(Ok(p_, "kv/list", R"({"prefix":"50%"})")),
            (std::vector<std::string>{"50%off=1"}));
  EXPECT_JSON(Ok(p_, "kv/list", R"({"prefix":"%"})"), "[]");
}

TEST_F(KvTest, ListPrefixTreatsUnderscoreLiterally) {
  Set("a_1", "1");
  Set("ab1", "2");
  EXPECT_EQ(Entries(Ok(p_, "kv/list", R"({"prefix":"a_"})")), (std::vector<std::string>{"a_1=1"}));
  EXPECT_JSON(Ok(p_, "kv/list", R"({"prefix":"_"})"), "[]");
}

TEST_F(KvTest, ListPrefixTreatsBackslashLiterally) {
  Set("dir\\file", "1");
  Set("dirxfile", "2");
  EXPECT_EQ(Entries(Ok(p_, "kv/list", R"({"prefix":"dir\\"})")),
            (std::vector<std::string>{"dir\\file=1"}));
  EXPECT_EQ(Entries(Ok(p_, "kv/list", R"({"prefix":"dir\\f"})")),
            (std::vector<std::string>{"dir\\file=1"}));
}

TEST_F(KvTest, ListPrefixIsAsciiCaseInsensitive) {
  Set("SETTINGS:x", "1");
  Set("settings:y", "2");
  Set("other", "3");
  EXPECT_EQ(Entries(Ok(p_, "kv/list", R"({"prefix":"settings:"})")),
            (std::vector<std::string>{"SETTINGS:x=1", "settings:y=2"}));
}

TEST_F(KvTest, ListEscapedPrefixIsStillCaseInsensitive) {
  Set("A_B:1", "1");
  Set("AxB:2", "2");
  EXPECT_EQ(Entries(Ok(p_, "kv/list", R"({"prefix":"a_b"})")),
            (std::vector<std::string>{"A_B:1=1"}));
}

TEST_F(KvTest, ListFailsWhenAStoredValueIsNotJson) {
  Set("good", "1");
  Sql("INSERT INTO _plugin_storage (plugin_id, collection, id, data) VALUES ('kv-plugin', "
      "'__kv', 'bad', 'not json {')");
  EXPECT_FALSE(Call(p_, "kv/list").ok());
}

TEST_F(KvTest, ListDoesNotIncludeStorageCollectionDocuments) {
  auto g =
      Plugin(R"({"id":"kv-store-plugin","version":"1.0.0","storage":{"items":{"indexes":[]}}})");
  Ok(g, "storage/put", R"({"collection":"items","id":"doc","data":{"a":1}})");
  Ok(g, "kv/set", R"({"key":"key","value":1})");
  EXPECT_EQ(Entries(Ok(g, "kv/list")), (std::vector<std::string>{"key=1"}));
  EXPECT_TRUE(Ok(g, "kv/get", R"({"key":"doc"})").is_null());
}

TEST_F(KvTest, GetRequiresStringKey) {
  EXPECT_EQ(Err(p_, "kv/get"), "Missing required string parameter: key");
  EXPECT_EQ(Err(p_, "kv/get", R"({"key":1})"), "Missing required string parameter: key");
  EXPECT_EQ(Err(p_, "kv/get", R"({"key":null})"), "Missing required string parameter: key");
}

TEST_F(KvTest, SetRequiresStringKey) {
  EXPECT_EQ(Err(p_, "kv/set", R"({"value":1})"), "Missing required string parameter: key");
  EXPECT_EQ(Err(p_, "kv/set", R"({"key":["k"],"value":1})"),
            "Missing required string parameter: key");
}

TEST_F(KvTest, DeleteRequiresStringKey) {
  EXPECT_EQ(Err(p_, "kv/delete"), "Missing required string parameter: key");
  EXPECT_EQ(Err(p_, "kv/delete", R"({"key":false})"), "Missing required string parameter: key");
}

TEST_F(KvTest, ListRejectsNonStringPrefixIncludingNull) {
  EXPECT_EQ(Err(p_, "kv/list", R"({"prefix":1})"),
            "Parameter prefix must be a string when provided");
  EXPECT_EQ(Err(p_, "kv/list", R"({"prefix":null})"),
            "Parameter prefix must be a string when provided");
}

TEST_F(KvTest, NeedsNoCapability) {
  // p_ declares no capabilities at all.
  EXPECT_TRUE(Call(p_, "kv/set", R"({"key":"a","value":1})").ok());
  EXPECT_TRUE(Call(p_, "kv/get", R"({"key":"a"})").ok());
  EXPECT_TRUE(Call(p_, "kv/list").ok());
  EXPECT_TRUE(Call(p_, "kv/delete", R"({"key":"a"})").ok());
}

TEST_F(KvTest, TwoPluginsCannotSeeEachOthersKeys) {
  auto other = Plugin(R"({"id":"other-plugin","version":"1.0.0"})");
  Set("shared", R"("mine")");
  EXPECT_TRUE(Ok(other, "kv/get", R"({"key":"shared"})").is_null());
  EXPECT_JSON(Ok(other, "kv/list"), "[]");
  EXPECT_JSON(Ok(other, "kv/delete", R"({"key":"shared"})"), "false");
  Ok(other, "kv/set", R"({"key":"shared","value":"theirs"})");
  EXPECT_JSON(Ok(p_, "kv/get", R"({"key":"shared"})"), R"("mine")");
  EXPECT_JSON(Ok(other, "kv/get", R"({"key":"shared"})"), R"("theirs")");
}

TEST_F(KvTest, KeysAreSharedAcrossVersionsOfOnePlugin) {
  // KV is keyed by plugin id only (bridge.md §3.1): an update keeps its data.
  Set("k", "1");
  auto v2 = Plugin(R"({"id":"kv-plugin","version":"2.0.0"})");
  EXPECT_JSON(Ok(v2, "kv/get", R"({"key":"k"})"), "1");
}

}  // namespace
}  // namespace ps::testing
