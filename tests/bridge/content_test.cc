// Content (bridge.md §3.3, §6): item shape, get/list/create/update/delete, locales, revisions,
// capability and validation precedence, and the content-write fence (§6.6, §2.3).

#include <algorithm>
#include <cstdio>
#include <regex>
#include <string>
#include <vector>

#include "bridge/fixture.h"
#include "bridge/test_helpers.h"

namespace ps::testing {
namespace {

constexpr ErrorCode kInProgress = ErrorCode::kMediaUsageActivationInProgress;

// Content item: exactly {id, type, data, createdAt, updatedAt, locale} (bridge.md §3.3), with a
// ULID id when the bridge created it.
void ExpectItemShape(const json::value& item, const std::string& type, bool ulid_id = true) {
  ASSERT_TRUE(item.is_object()) << Stringify(item);
  const auto& o = item.get_object();
  EXPECT_EQ(o.size(), 6u) << Stringify(item);
  EXPECT_TRUE(o.contains("id") && o.at("id").is_string()) << Stringify(item);
  if (ulid_id) {
    EXPECT_TRUE(IsUlid(Str(item, "id"))) << Stringify(item);
  }
  EXPECT_EQ(Str(item, "type"), type);
  ASSERT_TRUE(o.contains("data") && o.at("data").is_object()) << Stringify(item);
  EXPECT_TRUE(o.contains("createdAt") && o.at("createdAt").is_string()) << Stringify(item);
  EXPECT_TRUE(o.contains("updatedAt") && o.at("updatedAt").is_string()) << Stringify(item);
  EXPECT_TRUE(o.contains("locale") && o.at("locale").is_string()) << Stringify(item);
}

class ContentTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    MakeCollection({"posts",
                    "Posts",
                    {{"title", "string"},
                     {"body", "text"},
                     {"views", "integer"},
                     {"rating", "number"},
                     {"featured", "boolean"},
                     {"tags", "json"}},
                    {}});
    MakeCollection(
        {"articles", "Articles", {{"title", "string"}, {"body", "text"}}, {"revisions"}});
    rw_ =
        Plugin(R"({"id":"rw","version":"1.0.0","capabilities":["content:read","content:write"]})");
    reader_ = Plugin(R"({"id":"reader","version":"1.0.0","capabilities":["content:read"]})");
    writer_ = Plugin(R"({"id":"writer","version":"1.0.0","capabilities":["content:write"]})");
  }

  json::value Create(const std::string& data_json, const std::string& collection = "posts") {
    return Ok(rw_, "content/create",
              R"({"collection":)" + Quote(collection) + R"(,"data":)" + data_json + "}");
  }
  std::string CreateId(const std::string& data_json, const std::string& collection = "posts") {
    return Str(Create(data_json, collection), "id");
  }
  json::value Get(const std::string& id, const std::string& collection = "posts") {
    return Ok(rw_, "content/get",
              R"({"collection":)" + Quote(collection) + R"(,"id":)" + Quote(id) + "}");
  }
  std::string UpdateParams(const std::string& id, const std::string& data_json,
                           const std::string& collection = "posts") {
    return R"({"collection":)" + Quote(collection) + R"(,"id":)" + Quote(id) + R"(,"data":)" +
           data_json + "}";
  }
  // One column of one ec_<collection> row.
  store::Value Column(const std::string& id, const std::string& column,
                      const std::string& collection = "posts") {
    auto rows = Sql("SELECT " + column + " FROM ec_" + collection + " WHERE id = ?", {id});
    EXPECT_EQ(rows.size(), 1u) << id;
    return rows.empty() ? store::Value{} : rows.rows[0][0];
  }
  int64_t CountRows(const std::string& collection = "posts") {
    auto rows = Sql("SELECT COUNT(*) FROM ec_" + collection);
    return rows.empty() ? -1 : Int(rows.rows[0][0]);
  }
  void SeedRows(int n) {
    for (int i = 0; i < n; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "id%03d", i);
      Sql("INSERT INTO ec_posts (id, title, locale) VALUES (?, ?, 'en')",
          {std::string(id), "t" + std::to_string(i)});
    }
  }
  void Activate(const std::string& state = "activating") {
    AddEmdashMainSchema();  // the fence table exists only on EmDash's main branch
    Sql("INSERT INTO _emdash_media_usage_activation (task_key, state) VALUES "
        "('incremental_capture', ?)",
        {state});
  }

  bridge::Grant rw_, reader_, writer_;
};

std::vector<std::string> Ids(const json::value& page) {
  std::vector<std::string> out;
  for (const auto& item : page.at("items").as_array()) out.push_back(Str(item, "id"));
  return out;
}

// --- create

TEST_F(ContentTest, CreateReturnsItemWithUlidIdTypeDataTimestampsAndLocale) {
  json::value item = Create(R"({"title":"Hello"})");
  ExpectItemShape(item, "posts");
  EXPECT_JSON(item.at("data"), R"({"title":"Hello"})");
  EXPECT_TRUE(IsIso(Str(item, "createdAt"))) << Str(item, "createdAt");
  EXPECT_EQ(Str(item, "createdAt"), Str(item, "updatedAt"));
  EXPECT_EQ(Str(item, "locale"), "en");
}

TEST_F(ContentTest, CreateGivesEachItemADistinctId) { EXPECT_NE(CreateId("{}"), CreateId("{}")); }

TEST_F(ContentTest, CreateKeepsSystemColumnsOutOfData) {
  json::value item =
      Create(R"({"title":"T","slug":"hello","status":"published","author_id":"user-1"})");
  EXPECT_JSON(item.at("data"), R"({"title":"T"})");
  std::string id = Str(item, "id");
  EXPECT_EQ(Text(Column(id, "slug")), "hello");
  EXPECT_EQ(Text(Column(id, "status")), "published");
  EXPECT_EQ(Text(Column(id, "author_id")), "user-1");
  EXPECT_TRUE(store::IsNull(Column(id, "published_at")));  // published does not set it
}

TEST_F(ContentTest, CreateSetsVersionOneTranslationGroupAndIsoTimestamps) {
  std::string id = CreateId(R"({"title":"T"})");
  EXPECT_EQ(Int(Column(id, "version")), 1);
  EXPECT_EQ(Text(Column(id, "translation_group")), id);
  EXPECT_TRUE(IsIso(Text(Column(id, "created_at"))));
  EXPECT_EQ(Text(Column(id, "created_at")), Text(Column(id, "updated_at")));
  EXPECT_TRUE(store::IsNull(Column(id, "deleted_at")));
  EXPECT_EQ(Text(Column(id, "locale")), "en");
}

TEST_F(ContentTest, CreateDefaultsStatusToDraftAndSlugToNull) {
  std::string id = CreateId(R"({"title":"T"})");
  EXPECT_EQ(Text(Column(id, "status")), "draft");
  EXPECT_TRUE(store::IsNull(Column(id, "slug")));
}

TEST_F(ContentTest, CreateIgnoresNonStringSlugStatusAndAuthor) {
  std::string id = CreateId(R"({"slug":5,"status":true,"author_id":{"x":1}})");
  EXPECT_TRUE(store::IsNull(Column(id, "slug")));
  EXPECT_EQ(Text(Column(id, "status")), "draft");
  EXPECT_TRUE(store::IsNull(Column(id, "author_id")));
}

TEST_F(ContentTest, CreateSerializesFieldValuesAndOmitsNulls) {
  json::value item = Create(
      R"({"title":"T","views":3,"rating":2.5,"featured":true,"tags":["a","b"],"body":null})");
  EXPECT_JSON(item.at("data"),
              R"({"title":"T","views":3,"rating":2.5,"featured":1,"tags":["a","b"]})");
  std::string id = Str(item, "id");
  EXPECT_EQ(Int(Column(id, "featured")), 1);
  EXPECT_EQ(Text(Column(id, "tags")), R"(["a","b"])");
  EXPECT_TRUE(store::IsNull(Column(id, "body")));
}

TEST_F(ContentTest, CreateStoresFalseAsZero) {
  json::value item = Create(R"({"featured":false})");
  EXPECT_JSON(item.at("data"), R"({"featured":0})");
}

TEST_F(ContentTest, CreateSerializesObjectsAsJsonText) {
  json::value item = Create(R"({"tags":{"k":[1,{"n":null}]}})");
  EXPECT_JSON(item.at("data"), R"({"tags":{"k":[1,{"n":null}]}})");
  EXPECT_JSON(J(Text(Column(Str(item, "id"), "tags"))), R"({"k":[1,{"n":null}]})");
}

TEST_F(ContentTest, CreateSilentlySkipsInvalidFieldNames) {
  json::value item = Create(R"({"title":"T","Bad":1,"with-dash":2,"_under":3,"1st":4})");
  EXPECT_JSON(item.at("data"), R"({"title":"T"})");
}

TEST_F(ContentTest, CreateIgnoresSystemColumnsGivenInData) {
  json::value item = Create(
      R"({"title":"T","id":"mine","version":7,"created_at":"1999","deleted_at":"2000",)"
      R"("locale":"fr","translation_group":"tg","live_revision_id":"r","draft_revision_id":"r",)"
      R"("published_at":"p","scheduled_at":"s","updated_at":"u"})");
  ExpectItemShape(item, "posts");
  std::string id = Str(item, "id");
  EXPECT_NE(id, "mine");
  EXPECT_EQ(Int(Column(id, "version")), 1);
  EXPECT_TRUE(store::IsNull(Column(id, "deleted_at")));
  EXPECT_TRUE(store::IsNull(Column(id, "published_at")));
  EXPECT_EQ(Text(Column(id, "translation_group")), id);
  EXPECT_EQ(Str(item, "locale"), "en");
  EXPECT_JSON(item.at("data"), R"({"title":"T"})");
}

TEST_F(ContentTest, CreatePrimaryBylineIdIsWritableAndShowsInData) {
  json::value item = Create(R"({"title":"T","primary_byline_id":"byline-1"})");
  EXPECT_EQ(Text(Column(Str(item, "id"), "primary_byline_id")), "byline-1");
  EXPECT_JSON(item.at("data"), R"({"title":"T","primary_byline_id":"byline-1"})");
}

TEST_F(ContentTest, CreateWithUnknownColumnFailsWithDriverMessage) {
  EXPECT_EQ(Err(rw_, "content/create", R"({"collection":"posts","data":{"nope":1}})"),
            "table ec_posts has no column named nope");
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(ContentTest, CreateWithDuplicateSlugInOneLocaleFails) {
  Create(R"({"slug":"same"})");
  EXPECT_EQ(Err(rw_, "content/create", R"({"collection":"posts","data":{"slug":"same"}})"),
            "UNIQUE constraint failed: ec_posts.slug, ec_posts.locale");
  EXPECT_TRUE(Call(rw_, "content/create",
                   R"({"collection":"posts","data":{"slug":"same"},"options":{"locale":"fr"}})")
                  .ok());
  EXPECT_EQ(CountRows(), 2);
}

TEST_F(ContentTest, CreateIntoMissingTableFails) {
  std::string err = Err(rw_, "content/create", R"({"collection":"nosuch","data":{}})");
  EXPECT_NE(err.find("no such table"), std::string::npos) << err;
}

TEST_F(ContentTest, CreateRequiresWriteCapabilityFirst) {
  EXPECT_EQ(Err(reader_, "content/create"), "Missing capability: content:write");
  EXPECT_EQ(Err(reader_, "content/create", R"({"collection":"posts","data":{}})"),
            "Missing capability: content:write");
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(ContentTest, CreateRejectsNonObjectOptions) {
  for (const char* o : {"5", "null", "[]", R"("fr")"}) {
    EXPECT_EQ(Err(rw_, "content/create",
                  std::string(R"({"collection":"posts","data":{},"options":)") + o + "}"),
              "Parameter options must be an object when provided")
        << o;
  }
}

TEST_F(ContentTest, CreateRejectsNonStringLocaleOption) {
  EXPECT_EQ(
      Err(rw_, "content/create", R"({"collection":"posts","data":{},"options":{"locale":5}})"),
      "Parameter locale must be a string when provided");
  EXPECT_EQ(
      Err(rw_, "content/create", R"({"collection":"posts","data":{},"options":{"locale":null}})"),
      "Parameter locale must be a string when provided");
}

TEST_F(ContentTest, CreateChecksOptionsBeforeCollectionAndData) {
  EXPECT_EQ(Err(rw_, "content/create", R"({"options":1})"),
            "Parameter options must be an object when provided");
  EXPECT_EQ(Err(rw_, "content/create", R"({"options":{"locale":"not a locale"}})"),
            R"(Invalid locale code: "not a locale")");
}

TEST_F(ContentTest, CreateRequiresCollectionThenDataThenValidName) {
  EXPECT_EQ(Err(rw_, "content/create", R"({"data":{}})"),
            "Missing required string parameter: collection");
  EXPECT_EQ(Err(rw_, "content/create", R"({"collection":null,"data":{}})"),
            "Missing required string parameter: collection");
  EXPECT_EQ(Err(rw_, "content/create", R"({"collection":"posts"})"),
            "Missing required object parameter: data");
  for (const char* d : {"null", "[]", R"("x")", "3"}) {
    EXPECT_EQ(Err(rw_, "content/create", std::string(R"({"collection":"posts","data":)") + d + "}"),
              "Missing required object parameter: data")
        << d;
  }
  EXPECT_EQ(Err(rw_, "content/create", R"({"collection":"Bad"})"),
            "Missing required object parameter: data");
  EXPECT_EQ(Err(rw_, "content/create", R"({"collection":"Bad","data":{}})"),
            "Invalid collection name: Bad");
}

TEST_F(ContentTest, CreateRefusesPathTraversalAndInjectionCollectionNames) {
  for (const char* c : {"../posts", "posts/../users", "posts; DROP TABLE users", "posts\"", "Posts",
                        "1posts", "po-sts", "", "_posts", "posts "}) {
    EXPECT_EQ(
        Err(rw_, "content/create", R"({"collection":)" + Quote(c) + R"(,"data":{"title":"x"}})"),
        std::string("Invalid collection name: ") + c)
        << c;
  }
  EXPECT_EQ(CountRows(), 0);
}

// Found by fuzz/bridge_fuzzer.cc: the name check was a std::regex, whose matcher recurses per
// character; a name a few thousand characters long overflowed the host's stack.
TEST_F(ContentTest, AVeryLongCollectionOrLocaleIsRefusedWithoutExhaustingTheStack) {
  std::string name = "posts" + std::string(1 << 20, 'u') + "!";
  std::string err = Err(rw_, "content/updateMany",
                        R"({"collection":")" + name + R"(","items":[{"id":"x","data":{}}]})");
  EXPECT_EQ(err.rfind("Invalid collection name: posts", 0), 0u) << err.substr(0, 80);
  std::string locale = "en";
  for (int i = 0; i < 200000; ++i) locale += "-ab";
  EXPECT_EQ(Err(rw_, "content/create",
                R"({"collection":"posts","data":{},"options":{"locale":")" + locale + "-x\"}}"),
            "Invalid locale code: \"" + locale + "-x\"");
  EXPECT_EQ(CountRows(), 0);
}

// --- locales

TEST_F(ContentTest, CreateWithExplicitLocaleStoresIt) {
  json::value item =
      Ok(rw_, "content/create", R"({"collection":"posts","data":{},"options":{"locale":"fr"}})");
  EXPECT_EQ(Str(item, "locale"), "fr");
  EXPECT_EQ(Text(Column(Str(item, "id"), "locale")), "fr");
}

TEST_F(ContentTest, WithoutI18nConfigLocaleIsStoredAsGiven) {
  json::value item =
      Ok(rw_, "content/create", R"({"collection":"posts","data":{},"options":{"locale":"EN-us"}})");
  EXPECT_EQ(Str(item, "locale"), "EN-us");
  item = Ok(rw_, "content/create",
            R"({"collection":"posts","data":{},"options":{"locale":"zh-hant-tw"}})");
  EXPECT_EQ(Str(item, "locale"), "zh-hant-tw");
}

TEST_F(ContentTest, EmptyOptionsUseDefaultLocale) {
  json::value item = Ok(rw_, "content/create", R"({"collection":"posts","data":{},"options":{}})");
  EXPECT_EQ(Str(item, "locale"), "en");
}

TEST_F(ContentTest, InvalidLocaleCodeIsRefusedBeforeInserting) {
  for (const char* l : {"e", "english", "en_US", "en-", "en-a", "fr-toolongsub", "1en", "en us",
                        "en--ab", "-en", "en-ab-", "en-a1b2c3d4e"}) {
    EXPECT_EQ(Err(rw_, "content/create",
                  R"({"collection":"posts","data":{},"options":{"locale":)" + Quote(l) + "}}"),
              std::string("Invalid locale code: \"") + l + "\"")
        << l;
  }
  EXPECT_EQ(CountRows(), 0);
}

class ContentI18nTest : public ContentTest {
 protected:
  void Customize(bridge::BridgeOptions& o) override {
    o.site.default_locale = "en";
    o.site.locales = {"en", "fr", "zh-TW"};
  }
  std::string LocaleOf(const std::string& locale_json) {
    return Str(Ok(rw_, "content/create",
                  R"({"collection":"posts","data":{},"options":{"locale":)" + locale_json + "}}"),
               "locale");
  }
};

TEST_F(ContentI18nTest, ConfiguredLocaleIsStoredInItsConfiguredSpelling) {
  EXPECT_EQ(LocaleOf(R"("zh-tw")"), "zh-TW");
  EXPECT_EQ(LocaleOf(R"("FR")"), "fr");
  EXPECT_EQ(LocaleOf(R"("en")"), "en");
}

TEST_F(ContentI18nTest, UnconfiguredLocaleIsRefused) {
  EXPECT_EQ(
      Err(rw_, "content/create", R"({"collection":"posts","data":{},"options":{"locale":"de"}})"),
      R"(Locale "de" is not configured for this site)");
  EXPECT_EQ(CountRows(), 0);
}

TEST_F(ContentI18nTest, LocaleFormatIsCheckedBeforeConfiguration) {
  EXPECT_EQ(
      Err(rw_, "content/create", R"({"collection":"posts","data":{},"options":{"locale":"d_e"}})"),
      R"(Invalid locale code: "d_e")");
}

class ContentDefaultLocaleTest : public ContentTest {
 protected:
  void Customize(bridge::BridgeOptions& o) override {
    o.site.default_locale = "fr";
    o.site.locales = {"fr", "en"};
  }
};

TEST_F(ContentDefaultLocaleTest, OmittedLocaleFallsBackToSiteDefault) {
  json::value item = Create("{}");
  EXPECT_EQ(Str(item, "locale"), "fr");
  EXPECT_EQ(Text(Column(Str(item, "id"), "locale")), "fr");
}

TEST_F(ContentDefaultLocaleTest, CreateManyUsesSiteDefaultLocale) {
  json::value items =
      Ok(rw_, "content/createMany", R"({"collection":"posts","items":[{"title":"a"},{}]})");
  ASSERT_EQ(items.as_array().size(), 2u);
  for (const auto& item : items.as_array()) EXPECT_EQ(Str(item, "locale"), "fr");
}

// --- get

TEST_F(ContentTest, GetReturnsCreatedItem) {
  json::value created = Create(R"({"title":"T","views":2,"tags":[1]})");
  json::value got = Get(Str(created, "id"));
  ExpectItemShape(got, "posts");
  EXPECT_JSON(got, Stringify(created));
}

TEST_F(ContentTest, GetMissingIdReturnsNull) {
  auto r = Call(rw_, "content/get", R"({"collection":"posts","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->value.has_value());
  EXPECT_TRUE(r->value->is_null());
}

TEST_F(ContentTest, GetSeesDraftsAndOtherLocales) {
  std::string draft = CreateId(R"({"status":"draft"})");
  std::string fr = Str(
      Ok(rw_, "content/create", R"({"collection":"posts","data":{},"options":{"locale":"fr"}})"),
      "id");
  EXPECT_FALSE(Get(draft).is_null());
  EXPECT_EQ(Str(Get(fr), "locale"), "fr");
}

TEST_F(ContentTest, GetOnMissingTableReturnsNull) { EXPECT_TRUE(Get("x", "nosuch").is_null()); }

TEST_F(ContentTest, GetMapsJsonLookingStringsAndKeepsInvalidOnes) {
  Sql("INSERT INTO ec_posts (id, title, body, locale, created_at, updated_at) VALUES ('row1', "
      "'[1,2]', '{oops', 'de', '2020-01-01 00:00:00', '2020-01-02 00:00:00')");
  json::value item = Get("row1");
  EXPECT_JSON(item.at("data"), R"({"title":[1,2],"body":"{oops"})");
  EXPECT_EQ(Str(item, "id"), "row1");
  EXPECT_EQ(Str(item, "locale"), "de");
  EXPECT_EQ(Str(item, "createdAt"), "2020-01-01 00:00:00");
  EXPECT_EQ(Str(item, "updatedAt"), "2020-01-02 00:00:00");
}

TEST_F(ContentTest, GetRequiresReadCapabilityFirst) {
  std::string id = CreateId("{}");
  EXPECT_EQ(Err(writer_, "content/get"), "Missing capability: content:read");
  EXPECT_EQ(Err(writer_, "content/get", R"({"collection":"posts","id":)" + Quote(id) + "}"),
            "Missing capability: content:read");
}

TEST_F(ContentTest, GetValidatesCollectionThenIdThenName) {
  EXPECT_EQ(Err(reader_, "content/get"), "Missing required string parameter: collection");
  EXPECT_EQ(Err(reader_, "content/get", R"({"collection":"posts"})"),
            "Missing required string parameter: id");
  EXPECT_EQ(Err(reader_, "content/get", R"({"collection":"Bad"})"),
            "Missing required string parameter: id");
  EXPECT_EQ(Err(reader_, "content/get", R"({"collection":"posts","id":1})"),
            "Missing required string parameter: id");
  EXPECT_EQ(Err(reader_, "content/get", R"({"collection":"../etc/passwd","id":"x"})"),
            "Invalid collection name: ../etc/passwd");
  EXPECT_EQ(Err(reader_, "content/get", R"({"collection":"posts WHERE 1=1 --","id":"x"})"),
            "Invalid collection name: posts WHERE 1=1 --");
}

// --- list

TEST_F(ContentTest, ListReturnsItemsNewestIdFirst) {
  SeedRows(3);
  json::value page = Ok(reader_, "content/list", R"({"collection":"posts"})");
  EXPECT_EQ(Ids(page), (std::vector<std::string>{"id002", "id001", "id000"}));
  EXPECT_JSON(page.at("hasMore"), "false");
  EXPECT_FALSE(page.as_object().contains("cursor"));
  ExpectItemShape(page.at("items").at(0), "posts", /*ulid_id=*/false);
  EXPECT_JSON(page.at("items").at(0).at("data"), R"({"title":"t2"})");
}

TEST_F(ContentTest, ListOrdersCreatedItemsByIdDescending) {
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(CreateId("{}"));
  std::sort(ids.rbegin(), ids.rend());
  EXPECT_EQ(Ids(Ok(reader_, "content/list", R"({"collection":"posts"})")), ids);
}

TEST_F(ContentTest, ListPagesWithRawIdCursor) {
  SeedRows(5);
  json::value p1 = Ok(reader_, "content/list", R"({"collection":"posts","limit":2})");
  EXPECT_EQ(Ids(p1), (std::vector<std::string>{"id004", "id003"}));
  EXPECT_JSON(p1.at("hasMore"), "true");
  EXPECT_EQ(Str(p1, "cursor"), "id003");
  json::value p2 =
      Ok(reader_, "content/list", R"({"collection":"posts","limit":2,"cursor":"id003"})");
  EXPECT_EQ(Ids(p2), (std::vector<std::string>{"id002", "id001"}));
  EXPECT_EQ(Str(p2, "cursor"), "id001");
  json::value p3 =
      Ok(reader_, "content/list", R"({"collection":"posts","limit":2,"cursor":"id001"})");
  EXPECT_EQ(Ids(p3), (std::vector<std::string>{"id000"}));
  EXPECT_JSON(p3.at("hasMore"), "false");
  EXPECT_FALSE(p3.as_object().contains("cursor"));
}

TEST_F(ContentTest, ListEmptyCursorYieldsEmptyPage) {
  SeedRows(3);
  EXPECT_JSON(Ok(reader_, "content/list", R"({"collection":"posts","cursor":""})"),
              R"({"items":[],"hasMore":false})");
}

TEST_F(ContentTest, ListIgnoresNonStringCursor) {
  SeedRows(3);
  EXPECT_EQ(Ids(Ok(reader_, "content/list", R"({"collection":"posts","cursor":5})")).size(), 3u);
}

TEST_F(ContentTest, ListLimitAbsentZeroNullOrNaNMeans50) {
  SeedRows(105);
  for (const char* extra : {"", R"(,"limit":0)", R"(,"limit":null)", R"(,"limit":"abc")"}) {
    json::value page =
        Ok(reader_, "content/list", std::string(R"({"collection":"posts")") + extra + "}");
    EXPECT_EQ(Ids(page).size(), 50u) << extra;
    EXPECT_EQ(Str(page, "cursor"), "id055") << extra;
  }
}

TEST_F(ContentTest, ListNegativeLimitIsClampedToOne) {
  SeedRows(3);
  json::value page = Ok(reader_, "content/list", R"({"collection":"posts","limit":-3})");
  EXPECT_EQ(Ids(page), (std::vector<std::string>{"id002"}));
  EXPECT_JSON(page.at("hasMore"), "true");
}

TEST_F(ContentTest, ListLimitAbove100IsClampedTo100) {
  SeedRows(105);
  json::value page = Ok(reader_, "content/list", R"({"collection":"posts","limit":1000})");
  EXPECT_EQ(Ids(page).size(), 100u);
  EXPECT_JSON(page.at("hasMore"), "true");
}

TEST_F(ContentTest, ListLimitIsConvertedLikeJsNumber) {
  SeedRows(5);
  EXPECT_EQ(Ids(Ok(reader_, "content/list", R"({"collection":"posts","limit":"2"})")).size(), 2u);
}

TEST_F(ContentTest, ListExcludesSoftDeleted) {
  SeedRows(3);
  Ok(rw_, "content/delete", R"({"collection":"posts","id":"id001"})");
  EXPECT_EQ(Ids(Ok(reader_, "content/list", R"({"collection":"posts"})")),
            (std::vector<std::string>{"id002", "id000"}));
}

TEST_F(ContentTest, ListIgnoresWhereAndOrderBy) {
  SeedRows(3);
  EXPECT_EQ(Ids(Ok(reader_, "content/list",
                   R"({"collection":"posts","where":{"title":"t0"},"orderBy":{"id":"asc"}})")),
            (std::vector<std::string>{"id002", "id001", "id000"}));
}

TEST_F(ContentTest, ListOnMissingTableReturnsEmptyPage) {
  EXPECT_JSON(Ok(reader_, "content/list", R"({"collection":"nosuch"})"),
              R"({"items":[],"hasMore":false})");
}

TEST_F(ContentTest, ListRequiresReadCapabilityAndValidCollection) {
  EXPECT_EQ(Err(writer_, "content/list", R"({"collection":"posts"})"),
            "Missing capability: content:read");
  EXPECT_EQ(Err(reader_, "content/list"), "Missing required string parameter: collection");
  EXPECT_EQ(Err(reader_, "content/list", R"({"collection":"ec_posts; --"})"),
            "Invalid collection name: ec_posts; --");
}

// --- update (plain path)

TEST_F(ContentTest, UpdateChangesFieldsAndBumpsVersion) {
  std::string id = CreateId(R"({"title":"Old","views":1})");
  Sql("UPDATE ec_posts SET created_at = '2000-01-01T00:00:00.000Z', updated_at = "
      "'2000-01-01T00:00:00.000Z'");
  json::value item = Ok(rw_, "content/update", UpdateParams(id, R"({"title":"New"})"));
  ExpectItemShape(item, "posts");
  EXPECT_EQ(Str(item, "id"), id);
  EXPECT_JSON(item.at("data"), R"({"title":"New","views":1})");
  EXPECT_EQ(Str(item, "createdAt"), "2000-01-01T00:00:00.000Z");
  EXPECT_NE(Str(item, "updatedAt"), "2000-01-01T00:00:00.000Z");
  EXPECT_TRUE(IsIso(Str(item, "updatedAt")));
  EXPECT_EQ(Int(Column(id, "version")), 2);
  EXPECT_EQ(Text(Column(id, "title")), "New");
}

TEST_F(ContentTest, EveryUpdateBumpsVersionByOne) {
  std::string id = CreateId("{}");
  for (int i = 0; i < 3; ++i) Ok(rw_, "content/update", UpdateParams(id, R"({"views":1})"));
  EXPECT_EQ(Int(Column(id, "version")), 4);
}

TEST_F(ContentTest, NoOpUpdateBumpsVersionButNotUpdatedAt) {
  std::string id = CreateId(R"({"title":"T"})");
  Sql("UPDATE ec_posts SET updated_at = '2000-01-01T00:00:00.000Z'");
  json::value item = Ok(rw_, "content/update", UpdateParams(id, "{}"));
  EXPECT_EQ(Int(Column(id, "version")), 2);
  EXPECT_EQ(Text(Column(id, "updated_at")), "2000-01-01T00:00:00.000Z");
  EXPECT_JSON(item.at("data"), R"({"title":"T"})");
}

TEST_F(ContentTest, UpdateSetsStatusAndSlugColumns) {
  std::string id = CreateId(R"({"slug":"one"})");
  json::value item =
      Ok(rw_, "content/update", UpdateParams(id, R"({"status":"published","slug":"two"})"));
  EXPECT_EQ(Text(Column(id, "status")), "published");
  EXPECT_EQ(Text(Column(id, "slug")), "two");
  EXPECT_JSON(item.at("data"), "{}");
}

TEST_F(ContentTest, UpdateWithNullOrNonStringSlugClearsIt) {
  std::string id = CreateId(R"({"slug":"one"})");
  Ok(rw_, "content/update", UpdateParams(id, R"({"slug":null})"));
  EXPECT_TRUE(store::IsNull(Column(id, "slug")));
  Ok(rw_, "content/update", UpdateParams(id, R"({"slug":"again"})"));
  Ok(rw_, "content/update", UpdateParams(id, R"({"slug":5})"));
  EXPECT_TRUE(store::IsNull(Column(id, "slug")));
}

TEST_F(ContentTest, UpdateWithoutSlugKeyLeavesSlug) {
  std::string id = CreateId(R"({"slug":"keep"})");
  Ok(rw_, "content/update", UpdateParams(id, R"({"title":"x"})"));
  EXPECT_EQ(Text(Column(id, "slug")), "keep");
}

TEST_F(ContentTest, UpdateSerializesValuesLikeCreate) {
  std::string id = CreateId("{}");
  json::value item = Ok(rw_, "content/update",
                        UpdateParams(id, R"({"featured":true,"tags":{"a":1},"rating":1.25})"));
  EXPECT_JSON(item.at("data"), R"({"featured":1,"tags":{"a":1},"rating":1.25})");
  EXPECT_EQ(Int(Column(id, "featured")), 1);
}

TEST_F(ContentTest, UpdateMissingOrDeletedContentIsNotFound) {
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams("nope", R"({"title":"x"})")),
            "Content not found");
  std::string id = CreateId("{}");
  Ok(rw_, "content/delete", R"({"collection":"posts","id":)" + Quote(id) + "}");
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams(id, R"({"title":"x"})")), "Content not found");
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams(id, "{}")), "Content not found");
}

TEST_F(ContentTest, UpdateRejectsInvalidFieldNames) {
  std::string id = CreateId("{}");
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams(id, R"({"Title":"x"})")),
            R"(content field name must match /^[a-z][a-z0-9_]*$/ (got "Title"))");
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams(id, R"({"a-b":"x"})")),
            R"(content field name must match /^[a-z][a-z0-9_]*$/ (got "a-b"))");
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams(id, R"({"":"x"})")),
            "content field name must be a non-empty string");
  std::string long_name(129, 'a');
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams(id, R"({")" + long_name + R"(":1})")),
            "content field name must be 128 characters or less, got 129");
  EXPECT_EQ(Int(Column(id, "version")), 1);
}

TEST_F(ContentTest, UpdateValidatesFieldNamesBeforeLookingUpTheRow) {
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams("missing", R"({"Bad":1})")),
            R"(content field name must match /^[a-z][a-z0-9_]*$/ (got "Bad"))");
}

TEST_F(ContentTest, UpdateWithUnknownColumnFailsAndChangesNothing) {
  std::string id = CreateId(R"({"title":"T"})");
  EXPECT_FALSE(Call(rw_, "content/update", UpdateParams(id, R"({"nope":1})")).ok());
  EXPECT_EQ(Int(Column(id, "version")), 1);
}

TEST_F(ContentTest, UpdateRequiresWriteCapabilityFirst) {
  std::string id = CreateId("{}");
  EXPECT_EQ(Err(reader_, "content/update"), "Missing capability: content:write");
  EXPECT_EQ(Err(reader_, "content/update", UpdateParams(id, R"({"title":"x"})")),
            "Missing capability: content:write");
  EXPECT_EQ(Int(Column(id, "version")), 1);
}

TEST_F(ContentTest, UpdateValidatesCollectionIdDataThenName) {
  EXPECT_EQ(Err(writer_, "content/update"), "Missing required string parameter: collection");
  EXPECT_EQ(Err(writer_, "content/update", R"({"collection":"posts"})"),
            "Missing required string parameter: id");
  EXPECT_EQ(Err(writer_, "content/update", R"({"collection":"posts","id":"x"})"),
            "Missing required object parameter: data");
  EXPECT_EQ(Err(writer_, "content/update", R"({"collection":"posts","id":"x","data":[]})"),
            "Missing required object parameter: data");
  EXPECT_EQ(Err(writer_, "content/update", R"({"collection":"Bad","id":"x"})"),
            "Missing required object parameter: data");
  EXPECT_EQ(Err(writer_, "content/update", R"({"collection":"Bad","id":"x","data":{}})"),
            "Invalid collection name: Bad");
}

// --- update (revision path: collection supports "revisions")

TEST_F(ContentTest, RevisionUpdateStagesDraftAndLeavesLiveColumns) {
  std::string id = CreateId(R"({"title":"Live","body":"B0"})", "articles");
  json::value item =
      Ok(rw_, "content/update", UpdateParams(id, R"({"title":"Draft"})", "articles"));
  ExpectItemShape(item, "articles");
  EXPECT_JSON(item.at("data"), R"({"title":"Draft","body":"B0"})");
  EXPECT_EQ(Text(Column(id, "title", "articles")), "Live");
  EXPECT_EQ(Int(Column(id, "version", "articles")), 2);
  std::string rev = Text(Column(id, "draft_revision_id", "articles"));
  EXPECT_TRUE(IsUlid(rev)) << rev;
  auto revs = Sql("SELECT collection, entry_id, data FROM revisions WHERE id = ?", {rev});
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(Text(revs.rows[0][0]), "articles");
  EXPECT_EQ(Text(revs.rows[0][1]), id);
  EXPECT_JSON(J(Text(revs.rows[0][2])), R"({"title":"Draft","body":"B0"})");
  // get returns the live row.
  EXPECT_JSON(Get(id, "articles").at("data"), R"({"title":"Live","body":"B0"})");
}

TEST_F(ContentTest, RevisionUpdateMergesOverCurrentDraft) {
  std::string id = CreateId(R"({"title":"Live","body":"B0"})", "articles");
  Ok(rw_, "content/update", UpdateParams(id, R"({"title":"Draft"})", "articles"));
  std::string first = Text(Column(id, "draft_revision_id", "articles"));
  json::value item = Ok(rw_, "content/update", UpdateParams(id, R"({"body":"B1"})", "articles"));
  EXPECT_JSON(item.at("data"), R"({"title":"Draft","body":"B1"})");
  std::string second = Text(Column(id, "draft_revision_id", "articles"));
  EXPECT_NE(first, second);
  EXPECT_GT(second, first);  // monotonic revision ids
  EXPECT_JSON(J(Text(Sql("SELECT data FROM revisions WHERE id = ?", {second}).rows.at(0).at(0))),
              R"({"title":"Draft","body":"B1"})");
  EXPECT_EQ(Int(Column(id, "version", "articles")), 3);
  EXPECT_EQ(Text(Column(id, "title", "articles")), "Live");
}

TEST_F(ContentTest, RevisionUpdateRecordsPruneQueueEntry) {
  AddEmdashMainSchema();
  std::string id = CreateId(R"({"title":"Live"})", "articles");
  Ok(rw_, "content/update", UpdateParams(id, R"({"title":"Draft"})", "articles"));
  auto q =
      Sql("SELECT revision_id FROM _emdash_revision_prune_queue WHERE collection = "
          "'articles' AND entry_id = ?",
          {id});
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(Text(q.rows[0][0]), Text(Column(id, "draft_revision_id", "articles")));
}

TEST_F(ContentTest, RevisionUpdateKeepsStringSlugInRevisionOnly) {
  std::string id = CreateId(R"({"title":"Live","slug":"live"})", "articles");
  json::value item = Ok(rw_, "content/update",
                        UpdateParams(id, R"({"title":"D","slug":"draft-slug"})", "articles"));
  EXPECT_JSON(item.at("data"), R"({"title":"D"})");
  EXPECT_EQ(Text(Column(id, "slug", "articles")), "live");
  std::string rev = Text(Column(id, "draft_revision_id", "articles"));
  EXPECT_JSON(J(Text(Sql("SELECT data FROM revisions WHERE id = ?", {rev}).rows.at(0).at(0))),
              R"({"title":"D","_slug":"draft-slug"})");
}

TEST_F(ContentTest, RevisionUpdateSetsStatusOnTheRow) {
  std::string id = CreateId(R"({"title":"Live"})", "articles");
  Ok(rw_, "content/update", UpdateParams(id, R"({"title":"D","status":"published"})", "articles"));
  EXPECT_EQ(Text(Column(id, "status", "articles")), "published");
  EXPECT_EQ(Text(Column(id, "title", "articles")), "Live");
}

TEST_F(ContentTest, RevisionUpdateRefusesUndeclaredField) {
  std::string id = CreateId(R"({"title":"Live"})", "articles");
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams(id, R"({"nope":1})", "articles")),
            "Unknown field 'nope' in collection 'articles'");
  EXPECT_EQ(Int(Column(id, "version", "articles")), 1);
  EXPECT_TRUE(Sql("SELECT 1 FROM revisions").empty());
}

TEST_F(ContentTest, RevisionUpdateOfMissingContentIsNotFound) {
  EXPECT_EQ(Err(rw_, "content/update", UpdateParams("missing", R"({"title":"x"})", "articles")),
            "Content not found");
  EXPECT_TRUE(Sql("SELECT 1 FROM revisions").empty());
}

TEST_F(ContentTest, RevisionCollectionStatusOnlyUpdateIsPlain) {
  std::string id = CreateId(R"({"title":"Live"})", "articles");
  Ok(rw_, "content/update", UpdateParams(id, R"({"status":"published"})", "articles"));
  EXPECT_EQ(Text(Column(id, "status", "articles")), "published");
  EXPECT_TRUE(store::IsNull(Column(id, "draft_revision_id", "articles")));
  EXPECT_EQ(Int(Column(id, "version", "articles")), 2);
  EXPECT_TRUE(Sql("SELECT 1 FROM revisions").empty());
}

// --- delete (soft)

TEST_F(ContentTest, DeleteSoftDeletesAndKeepsVersion) {
  std::string id = CreateId(R"({"title":"T"})");
  Ok(rw_, "content/update", UpdateParams(id, R"({"title":"T2"})"));
  EXPECT_JSON(Ok(rw_, "content/delete", R"({"collection":"posts","id":)" + Quote(id) + "}"),
              "true");
  EXPECT_EQ(CountRows(), 1);
  std::string deleted_at = Text(Column(id, "deleted_at"));
  EXPECT_TRUE(IsIso(deleted_at)) << deleted_at;
  EXPECT_EQ(Text(Column(id, "updated_at")), deleted_at);
  EXPECT_EQ(Int(Column(id, "version")), 2);
  EXPECT_TRUE(Get(id).is_null());
}

TEST_F(ContentTest, DeleteReturnsFalseForMissingOrAlreadyDeleted) {
  std::string id = CreateId("{}");
  std::string params = R"({"collection":"posts","id":)" + Quote(id) + "}";
  EXPECT_JSON(Ok(rw_, "content/delete", params), "true");
  EXPECT_JSON(Ok(rw_, "content/delete", params), "false");
  EXPECT_JSON(Ok(rw_, "content/delete", R"({"collection":"posts","id":"missing"})"), "false");
}

TEST_F(ContentTest, DeleteRequiresWriteCapabilityThenValidParams) {
  std::string id = CreateId("{}");
  EXPECT_EQ(Err(reader_, "content/delete", R"({"collection":"posts","id":)" + Quote(id) + "}"),
            "Missing capability: content:write");
  EXPECT_EQ(Err(reader_, "content/delete"), "Missing capability: content:write");
  EXPECT_EQ(Err(writer_, "content/delete"), "Missing required string parameter: collection");
  EXPECT_EQ(Err(writer_, "content/delete", R"({"collection":"posts"})"),
            "Missing required string parameter: id");
  EXPECT_EQ(Err(writer_, "content/delete", R"({"collection":"Bad","id":"x"})"),
            "Invalid collection name: Bad");
  EXPECT_TRUE(store::IsNull(Column(id, "deleted_at")));
}

// --- the content-write fence (bridge.md §6.6)

TEST_F(ContentTest, FenceRefusesEveryWriteMethodWithUnavailable) {
  std::string id = CreateId(R"({"title":"T"})");
  Activate();
  const std::pair<const char*, std::string> calls[] = {
      {"content/create", R"({"collection":"posts","data":{}})"},
      {"content/update", UpdateParams(id, R"({"title":"x"})")},
      {"content/delete", R"({"collection":"posts","id":)" + Quote(id) + "}"},
      {"content/createMany", R"({"collection":"posts","items":[{}]})"},
      {"content/updateMany",
       R"({"collection":"posts","items":[{"id":)" + Quote(id) + R"(,"data":{}}]})"},
      {"content/deleteMany", R"({"collection":"posts","ids":[)" + Quote(id) + "]}"},
  };
  for (const auto& [method, params] : calls) {
    auto r = Call(rw_, method, params);
    ASSERT_FALSE(r.ok()) << method;
    EXPECT_EQ(r.status().code(), Code::kUnavailable) << method;
    EXPECT_EQ(r.status().error_code(), kInProgress) << method;
    EXPECT_EQ(r.status().message(), "Media usage activation is in progress") << method;
  }
  EXPECT_EQ(CountRows(), 1);
  EXPECT_EQ(Int(Column(id, "version")), 1);
  EXPECT_TRUE(store::IsNull(Column(id, "deleted_at")));
}

TEST_F(ContentTest, FenceIsCheckedBeforeCollectionParameter) {
  Activate();
  auto r = Call(rw_, "content/create", R"({"data":{}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), kInProgress);
  r = Call(rw_, "content/update", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), kInProgress);
  r = Call(rw_, "content/deleteMany", R"({"collection":"Bad!","ids":5})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), kInProgress);
}

TEST_F(ContentTest, CapabilityIsCheckedBeforeFence) {
  Activate();
  auto r = Call(reader_, "content/create", R"({"collection":"posts","data":{}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "Missing capability: content:write");
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
}

TEST_F(ContentTest, CreateChecksLocaleBeforeFence) {
  Activate();
  EXPECT_EQ(
      Err(rw_, "content/create", R"({"collection":"posts","data":{},"options":{"locale":"x_y"}})"),
      R"(Invalid locale code: "x_y")");
}

TEST_F(ContentTest, FenceDoesNotBlockReads) {
  std::string id = CreateId(R"({"title":"T"})");
  Activate();
  EXPECT_FALSE(Get(id).is_null());
  EXPECT_EQ(Ids(Ok(rw_, "content/list", R"({"collection":"posts"})")).size(), 1u);
}

TEST_F(ContentTest, FenceInOtherStatesAllowsWrites) {
  Activate("expanded");
  EXPECT_TRUE(Call(rw_, "content/create", R"({"collection":"posts","data":{}})").ok());
  Sql("UPDATE _emdash_media_usage_activation SET state = 'done'");
  EXPECT_TRUE(Call(rw_, "content/create", R"({"collection":"posts","data":{}})").ok());
  Sql("UPDATE _emdash_media_usage_activation SET task_key = 'other', state = 'activating'");
  EXPECT_TRUE(Call(rw_, "content/create", R"({"collection":"posts","data":{}})").ok());
  EXPECT_EQ(CountRows(), 3);
}

TEST_F(ContentTest, FenceTableMissingAllowsWrites) {
  ASSERT_FALSE(db_->schema().media_usage_fence());  // released EmDash has no fence table
  EXPECT_TRUE(Call(rw_, "content/create", R"({"collection":"posts","data":{}})").ok());
}

TEST_F(ContentTest, FenceQueryFailureReportsCheckFailed) {
  AddEmdashMainSchema();
  Sql("DROP TABLE _emdash_media_usage_activation");
  Sql("CREATE TABLE _emdash_media_usage_activation (unrelated TEXT)");
  auto r = Call(rw_, "content/create", R"({"collection":"posts","data":{}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().error_code(), ErrorCode::kMediaUsageActivationCheckFailed);
  EXPECT_EQ(r.status().message(), "Unable to verify media usage activation state");
  EXPECT_EQ(CountRows(), 0);
}

// --- capabilities by legacy names

TEST_F(ContentTest, LegacyCapabilityNamesGrantCurrentOnes) {
  auto legacy = Plugin(
      R"({"id":"legacy","version":"1.0.0","capabilities":["read:content","write:content"]})");
  std::string id = Str(Ok(legacy, "content/create", R"({"collection":"posts","data":{}})"), "id");
  EXPECT_FALSE(
      Ok(legacy, "content/get", R"({"collection":"posts","id":)" + Quote(id) + "}").is_null());
}

TEST_F(ContentTest, WriteDoesNotImplyRead) {
  std::string id = CreateId("{}");
  EXPECT_EQ(Err(writer_, "content/get", R"({"collection":"posts","id":)" + Quote(id) + "}"),
            "Missing capability: content:read");
  EXPECT_EQ(Err(writer_, "content/list", R"({"collection":"posts"})"),
            "Missing capability: content:read");
  EXPECT_TRUE(Call(writer_, "content/create", R"({"collection":"posts","data":{}})").ok());
}

}  // namespace
}  // namespace ps::testing
