// Taxonomies (bridge.md §3.4), users (§3.8), email (§3.7) and log (§3.9).

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "bridge/fixture.h"
#include "bridge/test_helpers.h"

namespace ps::testing {
namespace {

std::vector<std::string> IdsOf(const json::value& arr) {
  std::vector<std::string> out;
  for (const auto& e : arr.as_array()) out.push_back(Str(e, "id"));
  return out;
}

using V = std::vector<std::string>;

// --- taxonomies

class TaxonomyTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    AddEmdashMainSchema();  // these pin main's term order (sort_order first)
    p_ = Plugin(R"({"id":"tax","version":"1.0.0","capabilities":["taxonomies:read"]})");
    none_ = Plugin(R"({"id":"none","version":"1.0.0","capabilities":["content:read"]})");
  }
  void Term(const std::string& id, const std::string& name, const std::string& slug,
            const std::string& label, store::Value parent, store::Value data,
            const std::string& locale, store::Value group, int64_t sort) {
    Sql("INSERT INTO taxonomies (id, name, slug, label, parent_id, data, locale, "
        "translation_group, sort_order) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {id, name, slug, label, parent, data, locale, group, sort});
  }
  void Pivot(const std::string& collection, const std::string& entry, const std::string& term) {
    Sql("INSERT INTO content_taxonomies (collection, entry_id, taxonomy_id) VALUES (?, ?, ?)",
        {collection, entry, term});
  }
  void SeedTerms() {
    using store::Value;
    Term("t1", "category", "news", "News", Value{}, std::string(R"({"color":"red"})"), "en",
         std::string("tg1"), 2);
    Term("t2", "category", "alpha", "Alpha", std::string("t1"), std::string("[1]"), "en",
         std::string("tg2"), 1);
    Term("t3", "category", "beta", "Beta", Value{}, std::string("not json"), "en",
         std::string("tg3"), 2);
    Term("t0", "category", "gamma", "Beta", Value{}, Value{}, "en", Value{}, 2);
    Term("t4", "category", "news", "Nouvelles", Value{}, Value{}, "fr", std::string("tg1"), 0);
    Term("t5", "tag", "hot", "Hot", Value{}, std::string("{}"), "en", std::string("tg5"), 0);
  }
  bridge::Grant p_, none_;
};

TEST_F(TaxonomyTest, ListReturnsDefinitionsOrderedByName) {
  EXPECT_JSON(Ok(p_, "taxonomy/list"),
              R"([{"name":"category","label":"Categories","labelSingular":"Category",)"
              R"("hierarchical":true,"collections":["posts"],"locale":"en"},)"
              R"({"name":"tag","label":"Tags","labelSingular":"Tag","hierarchical":false,)"
              R"("collections":["posts"],"locale":"en"}])");
}

TEST_F(TaxonomyTest, ListFiltersByLocale) {
  Sql("INSERT INTO _emdash_taxonomy_defs (id, name, label, collections, locale) VALUES "
      "('d1', 'genre', 'Genres', '[\"books\"]', 'fr')");
  json::value fr = Ok(p_, "taxonomy/list", R"({"locale":"fr"})");
  ASSERT_EQ(fr.as_array().size(), 1u) << Stringify(fr);
  EXPECT_EQ(Str(fr.at(0), "name"), "genre");
  EXPECT_EQ(Str(fr.at(0), "locale"), "fr");
  EXPECT_TRUE(fr.at(0).at("labelSingular").is_null());
  EXPECT_JSON(fr.at(0).at("hierarchical"), "false");
  std::vector<std::string> names;
  json::value all = Ok(p_, "taxonomy/list");
  for (const auto& d : all.as_array()) names.push_back(Str(d, "name"));
  EXPECT_EQ(names, (V{"category", "genre", "tag"}));
  EXPECT_JSON(Ok(p_, "taxonomy/list", R"({"locale":"de"})"), "[]");
}

TEST_F(TaxonomyTest, ListToleratesOddCollectionsColumns) {
  Sql("DELETE FROM _emdash_taxonomy_defs");
  Sql("INSERT INTO _emdash_taxonomy_defs (id, name, label, hierarchical, collections, locale) "
      "VALUES ('a', 'a', 'A', 2, '[\"x\",1,\"y\",null]', 'en'), "
      "('b', 'b', 'B', 1, 'garbage', 'en'), ('c', 'c', 'C', 0, '{\"x\":1}', 'en'), "
      "('d', 'd', 'D', NULL, NULL, 'en')");
  json::value defs = Ok(p_, "taxonomy/list");
  ASSERT_EQ(defs.as_array().size(), 4u) << Stringify(defs);
  EXPECT_JSON(defs.at(0).at("collections"), R"(["x","y"])");
  EXPECT_JSON(defs.at(0).at("hierarchical"), "false");  // only 1 is true
  EXPECT_JSON(defs.at(1).at("collections"), "[]");
  EXPECT_JSON(defs.at(1).at("hierarchical"), "true");
  EXPECT_JSON(defs.at(2).at("collections"), "[]");
  EXPECT_JSON(defs.at(3).at("collections"), "[]");
  EXPECT_JSON(defs.at(3).at("hierarchical"), "false");
}

TEST_F(TaxonomyTest, TermsAreOrderedBySortOrderThenLabelThenId) {
  SeedTerms();
  EXPECT_EQ(IdsOf(Ok(p_, "taxonomy/terms", R"({"taxonomy":"category","locale":"en"})")),
            (V{"t2", "t0", "t3", "t1"}));
  EXPECT_EQ(IdsOf(Ok(p_, "taxonomy/terms", R"({"taxonomy":"category"})")),
            (V{"t4", "t2", "t0", "t3", "t1"}));
  EXPECT_EQ(IdsOf(Ok(p_, "taxonomy/terms", R"({"taxonomy":"tag"})")), (V{"t5"}));
  EXPECT_JSON(Ok(p_, "taxonomy/terms", R"({"taxonomy":"nope"})"), "[]");
}

TEST_F(TaxonomyTest, TermShapeParsesObjectDataOnly) {
  SeedTerms();
  json::value terms = Ok(p_, "taxonomy/terms", R"({"taxonomy":"category","locale":"en"})");
  ASSERT_EQ(terms.as_array().size(), 4u);
  EXPECT_JSON(terms.at(3), R"({"id":"t1","taxonomy":"category","slug":"news","label":"News",)"
                           R"("parentId":null,"data":{"color":"red"},"locale":"en",)"
                           R"("translationGroup":"tg1"})");
  EXPECT_JSON(terms.at(0),
              R"({"id":"t2","taxonomy":"category","slug":"alpha","label":"Alpha",)"
              R"("parentId":"t1","data":null,"locale":"en","translationGroup":"tg2"})");
  EXPECT_TRUE(terms.at(1).at("translationGroup").is_null());  // t0
  EXPECT_TRUE(terms.at(1).at("data").is_null());
  EXPECT_TRUE(terms.at(2).at("data").is_null());  // t3: invalid JSON
}

TEST_F(TaxonomyTest, EntryTermsJoinPivotOnTranslationGroup) {
  SeedTerms();
  Pivot("posts", "entry1", "tg1");
  Pivot("posts", "entry1", "tg5");
  Pivot("posts", "entry2", "tg2");
  Pivot("pages", "entry1", "tg3");
  json::value terms = Ok(p_, "taxonomy/entryTerms", R"({"collection":"posts","entryId":"entry1"})");
  V ids = IdsOf(terms);
  ASSERT_EQ(ids.size(), 3u) << Stringify(terms);
  // Ordered by locale only: the two "en" terms first, then "fr".
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.begin() + 2),
            (std::set<std::string>{"t1", "t5"}));
  EXPECT_EQ(ids[2], "t4");
}

TEST_F(TaxonomyTest, EntryTermsFilterByTaxonomyAndLocale) {
  SeedTerms();
  Pivot("posts", "entry1", "tg1");
  Pivot("posts", "entry1", "tg5");
  EXPECT_EQ(IdsOf(Ok(p_, "taxonomy/entryTerms",
                     R"({"collection":"posts","entryId":"entry1","taxonomy":"category"})")),
            (V{"t1", "t4"}));
  EXPECT_EQ(IdsOf(Ok(p_, "taxonomy/entryTerms",
                     R"({"collection":"posts","entryId":"entry1","locale":"fr"})")),
            (V{"t4"}));
  EXPECT_EQ(
      IdsOf(Ok(p_, "taxonomy/entryTerms",
               R"({"collection":"posts","entryId":"entry1","taxonomy":"tag","locale":"en"})")),
      (V{"t5"}));
}

TEST_F(TaxonomyTest, EntryTermsDoNotMatchPivotOnTermId) {
  SeedTerms();
  Pivot("posts", "entry3", "t3");  // a term id, not a translation group
  EXPECT_JSON(Ok(p_, "taxonomy/entryTerms", R"({"collection":"posts","entryId":"entry3"})"), "[]");
}

TEST_F(TaxonomyTest, EntryTermsScopeByCollection) {
  SeedTerms();
  Pivot("pages", "entry1", "tg3");
  EXPECT_JSON(Ok(p_, "taxonomy/entryTerms", R"({"collection":"posts","entryId":"entry1"})"), "[]");
  EXPECT_EQ(IdsOf(Ok(p_, "taxonomy/entryTerms", R"({"collection":"pages","entryId":"entry1"})")),
            (V{"t3"}));
}

TEST_F(TaxonomyTest, EntryTermsBindCollectionWithoutNameValidation) {
  EXPECT_JSON(Ok(p_, "taxonomy/entryTerms",
                 R"({"collection":"../x'; DROP TABLE taxonomies;--","entryId":"e"})"),
              "[]");
  EXPECT_JSON(Ok(p_, "taxonomy/terms", R"({"taxonomy":"category"})"), "[]");
}

TEST_F(TaxonomyTest, ParameterErrors) {
  EXPECT_EQ(Err(p_, "taxonomy/list", R"({"locale":1})"),
            "Parameter locale must be a string when provided");
  EXPECT_EQ(Err(p_, "taxonomy/list", R"({"locale":null})"),
            "Parameter locale must be a string when provided");
  EXPECT_EQ(Err(p_, "taxonomy/terms"), "Missing required string parameter: taxonomy");
  EXPECT_EQ(Err(p_, "taxonomy/terms", R"({"taxonomy":"category","locale":5})"),
            "Parameter locale must be a string when provided");
  EXPECT_EQ(Err(p_, "taxonomy/entryTerms"), "Missing required string parameter: collection");
  EXPECT_EQ(Err(p_, "taxonomy/entryTerms", R"({"collection":"posts"})"),
            "Missing required string parameter: entryId");
  EXPECT_EQ(Err(p_, "taxonomy/entryTerms", R"({"collection":"posts","entryId":"e","taxonomy":3})"),
            "Parameter taxonomy must be a string when provided");
  EXPECT_EQ(Err(p_, "taxonomy/entryTerms", R"({"collection":"posts","entryId":"e","locale":[]})"),
            "Parameter locale must be a string when provided");
}

TEST_F(TaxonomyTest, EveryMethodRequiresTaxonomiesRead) {
  EXPECT_EQ(Err(none_, "taxonomy/list"), "Missing capability: taxonomies:read");
  EXPECT_EQ(Err(none_, "taxonomy/terms", R"({"taxonomy":"category"})"),
            "Missing capability: taxonomies:read");
  EXPECT_EQ(Err(none_, "taxonomy/entryTerms", R"({"collection":"posts","entryId":"e"})"),
            "Missing capability: taxonomies:read");
}

// --- users

class UsersTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    p_ = Plugin(R"({"id":"users","version":"1.0.0","capabilities":["users:read"]})");
    Sql("INSERT INTO users (id, email, name, role, created_at, disabled) VALUES "
        "('u1', 'alice@example.com', 'Alice', 50, '2020-01-01T00:00:00.000Z', 0), "
        "('u2', 'Bob@Example.com', NULL, 10, '2020-01-02T00:00:00.000Z', 0), "
        "('u3', 'carol@example.com', 'Carol', 50, '2020-01-03T00:00:00.000Z', 1)");
  }
  bridge::Grant p_;
};

TEST_F(UsersTest, GetReturnsUserShape) {
  EXPECT_JSON(Ok(p_, "users/get", R"({"id":"u1"})"),
              R"({"id":"u1","email":"alice@example.com","name":"Alice","role":50,)"
              R"("createdAt":"2020-01-01T00:00:00.000Z"})");
  EXPECT_JSON(Ok(p_, "users/get", R"({"id":"u2"})"),
              R"({"id":"u2","email":"Bob@Example.com","name":null,"role":10,)"
              R"("createdAt":"2020-01-02T00:00:00.000Z"})");
}

TEST_F(UsersTest, GetDoesNotFilterDisabledUsers) {
  EXPECT_EQ(Str(Ok(p_, "users/get", R"({"id":"u3"})"), "email"), "carol@example.com");
}

TEST_F(UsersTest, GetMissingReturnsNull) {
  auto r = Call(p_, "users/get", R"({"id":"nope"})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->value.has_value());
  EXPECT_TRUE(r->value->is_null());
}

TEST_F(UsersTest, GetByEmailLowerCasesTheArgument) {
  EXPECT_EQ(Str(Ok(p_, "users/getByEmail", R"({"email":"ALICE@Example.COM"})"), "id"), "u1");
  EXPECT_EQ(Str(Ok(p_, "users/getByEmail", R"({"email":"alice@example.com"})"), "id"), "u1");
}

TEST_F(UsersTest, GetByEmailMatchesStoredEmailExactly) {
  // The stored address is mixed-case; the lower-cased argument never equals it.
  EXPECT_TRUE(Ok(p_, "users/getByEmail", R"({"email":"Bob@Example.com"})").is_null());
  EXPECT_TRUE(Ok(p_, "users/getByEmail", R"({"email":"bob@example.com"})").is_null());
  EXPECT_TRUE(Ok(p_, "users/getByEmail", R"({"email":"alice@example"})").is_null());
}

TEST_F(UsersTest, ListReturnsUsersNewestIdFirstWithoutCursorOrHasMore) {
  json::value page = Ok(p_, "users/list");
  EXPECT_EQ(IdsOf(page.at("items")), (V{"u3", "u2", "u1"}));
  EXPECT_EQ(page.as_object().size(), 1u) << Stringify(page);  // no nextCursor, no hasMore
  EXPECT_EQ(page.at("items").at(0).as_object().size(), 5u);
}

TEST_F(UsersTest, ListPagesWithNextCursor) {
  json::value p1 = Ok(p_, "users/list", R"({"limit":2})");
  EXPECT_EQ(IdsOf(p1.at("items")), (V{"u3", "u2"}));
  EXPECT_EQ(Str(p1, "nextCursor"), "u2");
  EXPECT_FALSE(p1.as_object().contains("hasMore"));
  json::value p2 = Ok(p_, "users/list", R"({"limit":2,"cursor":"u2"})");
  EXPECT_EQ(IdsOf(p2.at("items")), (V{"u1"}));
  EXPECT_FALSE(p2.as_object().contains("nextCursor"));
}

TEST_F(UsersTest, ListIgnoresNonStringCursor) {
  EXPECT_EQ(IdsOf(Ok(p_, "users/list", R"({"cursor":5})").at("items")), (V{"u3", "u2", "u1"}));
  EXPECT_EQ(IdsOf(Ok(p_, "users/list", R"({"cursor":null})").at("items")), (V{"u3", "u2", "u1"}));
}

TEST_F(UsersTest, ListFiltersByNumericRole) {
  EXPECT_EQ(IdsOf(Ok(p_, "users/list", R"({"role":50})").at("items")), (V{"u3", "u1"}));
  EXPECT_EQ(IdsOf(Ok(p_, "users/list", R"({"role":"10"})").at("items")), (V{"u2"}));
  EXPECT_EQ(IdsOf(Ok(p_, "users/list", R"({"role":40})").at("items")), (V{}));
}

TEST_F(UsersTest, ListNullRoleFiltersRoleZero) {
  EXPECT_EQ(IdsOf(Ok(p_, "users/list", R"({"role":null})").at("items")), (V{}));
}

TEST_F(UsersTest, ListLimitClamps) {
  for (int i = 0; i < 102; ++i) {
    char id[8];
    std::snprintf(id, sizeof id, "x%03d", i);
    Sql("INSERT INTO users (id, email) VALUES (?, ?)",
        {std::string(id), std::string(id) + "@example.com"});
  }
  EXPECT_EQ(Ok(p_, "users/list").at("items").as_array().size(), 50u);
  EXPECT_EQ(Ok(p_, "users/list", R"({"limit":0})").at("items").as_array().size(), 50u);
  EXPECT_EQ(Ok(p_, "users/list", R"({"limit":"nope"})").at("items").as_array().size(), 50u);
  EXPECT_EQ(IdsOf(Ok(p_, "users/list", R"({"limit":-4})").at("items")), (V{"x101"}));
  EXPECT_EQ(Ok(p_, "users/list", R"({"limit":101})").at("items").as_array().size(), 100u);
}

TEST_F(UsersTest, ParameterErrors) {
  EXPECT_EQ(Err(p_, "users/get"), "Missing required string parameter: id");
  EXPECT_EQ(Err(p_, "users/get", R"({"id":1})"), "Missing required string parameter: id");
  EXPECT_EQ(Err(p_, "users/getByEmail"), "Missing required string parameter: email");
}

TEST_F(UsersTest, EveryMethodRequiresUsersRead) {
  auto none = Plugin(R"({"id":"none","version":"1.0.0","capabilities":["content:read"]})");
  EXPECT_EQ(Err(none, "users/get", R"({"id":"u1"})"), "Missing capability: users:read");
  EXPECT_EQ(Err(none, "users/getByEmail", R"({"email":"alice@example.com"})"),
            "Missing capability: users:read");
  EXPECT_EQ(Err(none, "users/list"), "Missing capability: users:read");
}

TEST_F(UsersTest, LegacyReadUsersGrantsUsersRead) {
  auto legacy = Plugin(R"({"id":"legacy","version":"1.0.0","capabilities":["read:users"]})");
  EXPECT_EQ(Str(Ok(legacy, "users/get", R"({"id":"u1"})"), "id"), "u1");
}

// --- email

class EmailTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    p_ = Plugin(R"({"id":"mailer","version":"1.0.0","capabilities":["email:send"]})");
  }
  bridge::Grant p_;
};

TEST_F(EmailTest, SendPassesMessageAndPluginIdAsSource) {
  auto r = Call(p_, "email/send", R"({"message":{"to":"a@b.c","subject":"S","text":"T"}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->value.has_value());
  EXPECT_TRUE(r->value->is_null());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_JSON(json::value(sent_[0].first), R"({"to":"a@b.c","subject":"S","text":"T"})");
  EXPECT_EQ(sent_[0].second, "mailer");
}

TEST_F(EmailTest, SendPassesHtmlAndExtraKeysThrough) {
  Ok(p_, "email/send",
     R"({"message":{"to":"a@b.c","subject":"S","text":"T","html":"<b>T</b>","replyTo":"x@y.z"}})");
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_JSON(json::value(sent_[0].first),
              R"({"to":"a@b.c","subject":"S","text":"T","html":"<b>T</b>","replyTo":"x@y.z"})");
}

TEST_F(EmailTest, EmptyStringsAreRefusedByThePipelineCheck) {
  // The shape check accepts empty strings; the host pipeline's re-validation refuses them.
  EXPECT_EQ(Err(p_, "email/send", R"({"message":{"to":"","subject":"S","text":"T"}})"),
            "Invalid email message: 'to' is required and must be a string");
  EXPECT_EQ(Err(p_, "email/send", R"({"message":{"to":"a","subject":"","text":"T"}})"),
            "Invalid email message: 'subject' is required and must be a string");
  EXPECT_EQ(Err(p_, "email/send", R"({"message":{"to":"a","subject":"S","text":""}})"),
            "Invalid email message: 'text' is required and must be a string");
  EXPECT_TRUE(sent_.empty());
}

TEST_F(EmailTest, MalformedMessagesAreRefused) {
  for (const char* params :
       {"{}", R"({"message":null})", R"({"message":"hi"})", R"({"message":[]})",
        R"({"message":{"subject":"S","text":"T"}})", R"({"message":{"to":"a","text":"T"}})",
        R"({"message":{"to":"a","subject":"S"}})",
        R"({"message":{"to":1,"subject":"S","text":"T"}})",
        R"({"message":{"to":"a","subject":"S","text":"T","html":1}})",
        R"({"message":{"to":"a","subject":"S","text":"T","html":null}})",
        R"({"to":"a","subject":"S","text":"T"})"}) {
    EXPECT_EQ(Err(p_, "email/send", params),
              "email/send requires message with to, subject, and text")
        << params;
  }
  EXPECT_TRUE(sent_.empty());
}

TEST_F(EmailTest, SendRequiresEmailSendCapabilityFirst) {
  auto none = Plugin(
      R"({"id":"no-mail","version":"1.0.0","capabilities":["hooks.email-transport:register"]})");
  EXPECT_EQ(Err(none, "email/send", R"({"message":{"to":"a","subject":"S","text":"T"}})"),
            "Missing capability: email:send");
  EXPECT_EQ(Err(none, "email/send"), "Missing capability: email:send");
  EXPECT_TRUE(sent_.empty());
}

class EmailNotConfiguredTest : public EmailTest {
 protected:
  void Customize(bridge::BridgeOptions& o) override { o.email = nullptr; }
};

TEST_F(EmailNotConfiguredTest, SendWithoutProviderFails) {
  EXPECT_EQ(Err(p_, "email/send", R"({"message":{"to":"a","subject":"S","text":"T"}})"),
            "Email is not configured. No email provider is available.");
}

TEST_F(EmailNotConfiguredTest, MessageShapeIsCheckedBeforeConfiguration) {
  EXPECT_EQ(Err(p_, "email/send", R"({"message":{"to":"a"}})"),
            "email/send requires message with to, subject, and text");
}

class EmailFailingSenderTest : public EmailTest {
 protected:
  void Customize(bridge::BridgeOptions& o) override {
    o.email = [](const json::object&, const std::string&) {
      return Internal(
          "No email provider is configured. Install and activate an email provider plugin, then "
          "select it in Settings > Email.");
    };
  }
};

TEST_F(EmailFailingSenderTest, SenderFailureReachesThePlugin) {
  EXPECT_EQ(Err(p_, "email/send", R"({"message":{"to":"a","subject":"S","text":"T"}})"),
            "No email provider is configured. Install and activate an email provider plugin, then "
            "select it in Settings > Email.");
}

// --- log

class LogTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    p_ = Plugin(R"({"id":"logger","version":"1.0.0"})");
  }
  bridge::Grant p_;
};

TEST_F(LogTest, LogReturnsNullAndReachesSinkWithPluginId) {
  auto r = Call(p_, "log", R"({"level":"info","msg":"hello","data":{"a":[1]}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(r->value.has_value());
  EXPECT_TRUE(r->value->is_null());
  ASSERT_EQ(logged_.size(), 1u);
  EXPECT_EQ(logged_[0].plugin_id, "logger");
  EXPECT_EQ(logged_[0].level, bridge::LogLevel::kInfo);
  EXPECT_EQ(logged_[0].msg, "hello");
  EXPECT_JSON(logged_[0].data, R"({"a":[1]})");
}

TEST_F(LogTest, EachLevelMapsToItsLogLevel) {
  Ok(p_, "log", R"({"level":"debug","msg":"d"})");
  Ok(p_, "log", R"({"level":"info","msg":"i"})");
  Ok(p_, "log", R"({"level":"warn","msg":"w"})");
  Ok(p_, "log", R"({"level":"error","msg":"e"})");
  ASSERT_EQ(logged_.size(), 4u);
  EXPECT_EQ(logged_[0].level, bridge::LogLevel::kDebug);
  EXPECT_EQ(logged_[1].level, bridge::LogLevel::kInfo);
  EXPECT_EQ(logged_[2].level, bridge::LogLevel::kWarn);
  EXPECT_EQ(logged_[3].level, bridge::LogLevel::kError);
  EXPECT_EQ(logged_[3].msg, "e");
}

TEST_F(LogTest, AbsentDataIsNull) {
  Ok(p_, "log", R"({"level":"warn","msg":"m"})");
  ASSERT_EQ(logged_.size(), 1u);
  EXPECT_TRUE(logged_[0].data.is_null());
}

TEST_F(LogTest, EmptyMessageIsAllowed) {
  Ok(p_, "log", R"({"level":"warn","msg":""})");
  ASSERT_EQ(logged_.size(), 1u);
  EXPECT_EQ(logged_[0].msg, "");
}

TEST_F(LogTest, InvalidLevelIsRefused) {
  for (const char* params :
       {"{}", R"({"level":"trace","msg":"m"})", R"({"level":"INFO","msg":"m"})",
        R"({"level":1,"msg":"m"})", R"({"level":null,"msg":"m"})"}) {
    EXPECT_EQ(Err(p_, "log", params), "Parameter level must be one of: debug, info, warn, error")
        << params;
  }
  EXPECT_TRUE(logged_.empty());
}

TEST_F(LogTest, MessageMustBeAString) {
  EXPECT_EQ(Err(p_, "log", R"({"level":"info"})"), "Missing required string parameter: msg");
  EXPECT_EQ(Err(p_, "log", R"({"level":"info","msg":{"x":1}})"),
            "Missing required string parameter: msg");
  EXPECT_TRUE(logged_.empty());
}

TEST_F(LogTest, NeedsNoCapabilityAndNamesTheCallingPlugin) {
  auto other = Plugin(R"({"id":"other-logger","version":"2.0.0","capabilities":[]})");
  Ok(other, "log", R"({"level":"error","msg":"boom"})");
  Ok(p_, "log", R"({"level":"error","msg":"bang"})");
  ASSERT_EQ(logged_.size(), 2u);
  EXPECT_EQ(logged_[0].plugin_id, "other-logger");
  EXPECT_EQ(logged_[1].plugin_id, "logger");
}

}  // namespace
}  // namespace ps::testing
