// storage/query and storage/count semantics (bridge.md §3.2, §5): operators, indexed-field
// checks, precedence, limits, cursors.
// Our fix (spec README decision 5): a cursor stays correct with a custom orderBy: walking the
// pages neither skips nor repeats a row, even when order values tie.

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bridge/fixture.h"
#include "bridge/test_helpers.h"
#include "common/encoding.h"

namespace ps::testing {
namespace {

constexpr const char* kManifest = R"({
  "id": "query-plugin",
  "version": "1.0.0",
  "storage": {
    "docs": {
      "indexes": ["status", "n", "flag", "name", "rank", ["grp", "sub"]],
      "uniqueIndexes": ["code"]
    }
  }
})";

std::vector<std::string> Ids(const json::value& page) {
  std::vector<std::string> out;
  EXPECT_TRUE(page.is_object() && page.get_object().contains("items")) << Stringify(page);
  if (!page.is_object() || !page.get_object().contains("items")) return out;
  for (const auto& item : page.at("items").as_array()) out.push_back(Str(item, "id"));
  return out;
}

using V = std::vector<std::string>;

class StorageQueryTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    p_ = Plugin(kManifest);
  }

  // Stores documents in one putMany (one shared created_at: default order is then by id).
  void Seed(const std::vector<std::pair<std::string, std::string>>& docs) {
    std::string items;
    for (const auto& [id, data] : docs)
      items += std::string(items.empty() ? "" : ",") + R"({"id":)" + Quote(id) + R"(,"data":)" +
               data + "}";
    Ok(p_, "storage/putMany", R"({"collection":"docs","items":[)" + items + "]}");
  }
  void SeedCount(int n) {
    std::vector<std::pair<std::string, std::string>> docs;
    for (int i = 0; i < n; ++i) {
      char id[16];
      std::snprintf(id, sizeof id, "doc%03d", i);
      docs.emplace_back(id, R"({"i":)" + std::to_string(i) + "}");
    }
    Seed(docs);
  }
  void SetCreatedAt(const std::string& id, const std::string& iso) {
    Sql("UPDATE _plugin_storage SET created_at = ? WHERE id = ?", {iso, id});
  }
  // storage/query with extra params (a JSON object body without braces, may be empty).
  json::value Query(const std::string& extra = "") {
    return Ok(p_, "storage/query",
              R"({"collection":"docs")" + (extra.empty() ? "" : "," + extra) + "}");
  }
  std::string QueryErr(const std::string& extra) {
    return Err(p_, "storage/query", R"({"collection":"docs",)" + extra + "}");
  }
  V Where(const std::string& where_json) { return Ids(Query(R"("where":)" + where_json)); }

  // Follows cursors from the first page to the last; fails the test on a malformed page.
  V Walk(const std::string& extra, int limit, int* pages = nullptr) {
    V all;
    std::string cursor;
    int n = 0;
    for (; n < 200; ++n) {
      std::string params = extra.empty() ? "" : extra + ",";
      params += R"("limit":)" + std::to_string(limit);
      if (!cursor.empty()) params += R"(,"cursor":)" + Quote(cursor);
      json::value page = Query(params);
      V ids = Ids(page);
      EXPECT_LE(ids.size(), size_t(limit));
      all.insert(all.end(), ids.begin(), ids.end());
      const auto* more = page.is_object() ? page.get_object().if_contains("hasMore") : nullptr;
      if (!more || !more->is_bool()) {
        ADD_FAILURE() << "no hasMore: " << Stringify(page);
        break;
      }
      if (!more->get_bool()) {
        EXPECT_FALSE(page.get_object().contains("cursor")) << Stringify(page);
        break;
      }
      EXPECT_EQ(ids.size(), size_t(limit));
      cursor = Str(page, "cursor");
      if (cursor.empty()) {
        ADD_FAILURE() << "hasMore without a cursor: " << Stringify(page);
        break;
      }
    }
    if (pages) *pages = n + 1;
    return all;
  }

  bridge::Grant p_;
};

// --- Result shape and default order

TEST_F(StorageQueryTest, ReturnsItemsWithIdAndDataAndNoCursorOnLastPage) {
  Seed({{"a", R"({"status":"x","n":1})"}, {"b", R"({"status":"y"})"}});
  EXPECT_JSON(Query(), R"({"items":[{"id":"a","data":{"status":"x","n":1}},)"
                       R"({"id":"b","data":{"status":"y"}}],"hasMore":false})");
}

TEST_F(StorageQueryTest, EmptyCollectionReturnsEmptyPage) {
  EXPECT_JSON(Query(), R"({"items":[],"hasMore":false})");
}

TEST_F(StorageQueryTest, DefaultOrderIsCreatedAtThenId) {
  Seed({{"a", "{}"}, {"b", "{}"}, {"c", "{}"}, {"d", "{}"}});
  SetCreatedAt("c", "2001-01-01T00:00:00.000Z");
  SetCreatedAt("a", "2002-01-01T00:00:00.000Z");
  SetCreatedAt("b", "2002-01-01T00:00:00.000Z");
  SetCreatedAt("d", "2000-01-01T00:00:00.000Z");
  EXPECT_EQ(Ids(Query()), (V{"d", "c", "a", "b"}));
}

TEST_F(StorageQueryTest, ExactlyLimitRowsHasNoMore) {
  SeedCount(3);
  json::value page = Query(R"("limit":3)");
  EXPECT_EQ(Ids(page).size(), 3u);
  EXPECT_JSON(page.at("hasMore"), "false");
  EXPECT_FALSE(page.as_object().contains("cursor"));
}

// --- Limits: a JS number is clamped to [1, 100]; anything else means the default 50.

TEST_F(StorageQueryTest, LimitAbsentDefaultsTo50) {
  SeedCount(60);
  json::value page = Query();
  EXPECT_EQ(Ids(page).size(), 50u);
  EXPECT_JSON(page.at("hasMore"), "true");
  EXPECT_FALSE(Str(page, "cursor").empty());
}

TEST_F(StorageQueryTest, LimitZeroIsClampedToOne) {
  SeedCount(3);
  json::value page = Query(R"("limit":0)");
  EXPECT_EQ(Ids(page), (V{"doc000"}));
  EXPECT_JSON(page.at("hasMore"), "true");
}

TEST_F(StorageQueryTest, NegativeLimitIsClampedToOne) {
  SeedCount(3);
  EXPECT_EQ(Ids(Query(R"("limit":-5)")), (V{"doc000"}));
}

TEST_F(StorageQueryTest, LimitAbove100IsClampedTo100) {
  SeedCount(120);
  json::value page = Query(R"("limit":1000)");
  EXPECT_EQ(Ids(page).size(), 100u);
  EXPECT_JSON(page.at("hasMore"), "true");
}

TEST_F(StorageQueryTest, NonNumberLimitMeansDefault50) {
  SeedCount(60);
  EXPECT_EQ(Ids(Query(R"("limit":"5")")).size(), 50u);
  EXPECT_EQ(Ids(Query(R"("limit":null)")).size(), 50u);
}

// --- WHERE operators (bridge.md §5.3)

class StorageWhereTest : public StorageQueryTest {
 protected:
  void SetUp() override {
    StorageQueryTest::SetUp();
    Seed({
        {"a", R"({"status":"draft","n":1,"flag":true,"name":"alpha"})"},
        {"b", R"({"status":"published","n":2,"flag":false,"name":"Beta"})"},
        {"c", R"({"status":"published","n":"2","name":"50%off"})"},
        {"d", R"({"status":"archived","n":3.5,"flag":"true","name":"a_b"})"},
        {"e", R"({"status":null,"n":10,"name":"axb"})"},
        {"f", R"({"status":"x","n":null,"name":"50xoff"})"},
        {"g", R"({"n":-1,"name":"back\\slash"})"},
    });
  }
};

TEST_F(StorageWhereTest, NullMatchesJsonNullAndMissingField) {
  EXPECT_EQ(Where(R"({"status":null})"), (V{"e", "g"}));
  EXPECT_EQ(Where(R"({"n":null})"), (V{"f"}));
}

TEST_F(StorageWhereTest, NumberMatchesOnlyJsonNumbers) {
  EXPECT_EQ(Where(R"({"n":2})"), (V{"b"}));
  EXPECT_EQ(Where(R"({"n":3.5})"), (V{"d"}));
  EXPECT_EQ(Where(R"({"n":-1})"), (V{"g"}));
}

TEST_F(StorageWhereTest, StringMatchesOnlyJsonStrings) {
  EXPECT_EQ(Where(R"({"n":"2"})"), (V{"c"}));
  EXPECT_EQ(Where(R"({"status":"published"})"), (V{"b", "c"}));
  EXPECT_EQ(Where(R"({"status":"PUBLISHED"})"), (V{}));
}

TEST_F(StorageWhereTest, BooleanIsBoundAsOneOrZero) {
  EXPECT_EQ(Where(R"({"flag":true})"), (V{"a"}));
  EXPECT_EQ(Where(R"({"flag":false})"), (V{"b"}));
}

TEST_F(StorageWhereTest, InMatchesAnyListedString) {
  EXPECT_EQ(Where(R"({"status":{"in":["draft","archived"]}})"), (V{"a", "d"}));
}

TEST_F(StorageWhereTest, InWithAllNumbersUsesNumericExtraction) {
  EXPECT_EQ(Where(R"({"n":{"in":[1,2]}})"), (V{"a", "b"}));
}

TEST_F(StorageWhereTest, InWithMixedTypesUsesTextExtraction) {
  // Text form: integer 1 equals 1, text "2" equals "2"; the number 2 does not equal "2".
  EXPECT_EQ(Where(R"({"n":{"in":[1,"2"]}})"), (V{"a", "c"}));
}

TEST_F(StorageWhereTest, EmptyInMatchesNothing) {
  EXPECT_EQ(Where(R"({"status":{"in":[]}})"), (V{}));
}

TEST_F(StorageWhereTest, InIgnoresOtherKeys) {
  EXPECT_EQ(Where(R"({"status":{"in":["draft"],"gt":"zzz"}})"), (V{"a"}));
}

TEST_F(StorageWhereTest, StartsWithMatchesPrefixCaseInsensitively) {
  EXPECT_EQ(Where(R"({"name":{"startsWith":"a"}})"), (V{"a", "d", "e"}));
  EXPECT_EQ(Where(R"({"name":{"startsWith":"A"}})"), (V{"a", "d", "e"}));
  EXPECT_EQ(Where(R"({"name":{"startsWith":"be"}})"), (V{"b"}));
}

TEST_F(StorageWhereTest, StartsWithTreatsPercentLiterally) {
  EXPECT_EQ(Where(R"({"name":{"startsWith":"50%"}})"), (V{"c"}));
  EXPECT_EQ(Where(R"({"name":{"startsWith":"%"}})"), (V{}));
}

TEST_F(StorageWhereTest, StartsWithTreatsUnderscoreLiterally) {
  EXPECT_EQ(Where(R"({"name":{"startsWith":"a_"}})"), (V{"d"}));
}

TEST_F(StorageWhereTest, StartsWithTreatsBackslashLiterally) {
  EXPECT_EQ(Where(R"({"name":{"startsWith":"back\\"}})"), (V{"g"}));
}

TEST_F(StorageWhereTest, RangeBoundsCombineWithAnd) {
  EXPECT_EQ(Where(R"({"n":{"gt":1,"lte":3.5}})"), (V{"b", "d"}));
  EXPECT_EQ(Where(R"({"n":{"gte":1,"lt":2}})"), (V{"a"}));
  EXPECT_EQ(Where(R"({"n":{"lt":0}})"), (V{"g"}));
  EXPECT_EQ(Where(R"({"n":{"gte":10}})"), (V{"e"}));
}

TEST_F(StorageWhereTest, NumericRangeIgnoresNonNumberValues) {
  // c has n = "2" (a string): the numeric form is NULL for it.
  EXPECT_EQ(Where(R"({"n":{"gte":2,"lte":2}})"), (V{"b"}));
}

TEST_F(StorageWhereTest, StringRangeComparesText) {
  EXPECT_EQ(Where(R"({"name":{"gte":"b","lt":"c"}})"), (V{"g"}));
}

TEST_F(StorageWhereTest, NullRangeBoundMatchesNothing) {
  EXPECT_EQ(Where(R"({"n":{"gt":null}})"), (V{}));
}

TEST_F(StorageWhereTest, FieldsAreAndedTogether) {
  EXPECT_EQ(Where(R"({"status":"published","n":2})"), (V{"b"}));
  EXPECT_EQ(Where(R"({"status":"published","n":{"gt":5}})"), (V{}));
}

TEST_F(StorageWhereTest, CountUsesTheSameOperators) {
  EXPECT_JSON(Ok(p_, "storage/count", R"({"collection":"docs","where":{"n":{"in":[1,2]}}})"), "2");
  EXPECT_JSON(Ok(p_, "storage/count", R"({"collection":"docs","where":{"status":null}})"), "2");
  EXPECT_JSON(
      Ok(p_, "storage/count", R"({"collection":"docs","where":{"name":{"startsWith":"50%"}}})"),
      "1");
}

TEST_F(StorageWhereTest, UnknownFilterShapesAreRefused) {
  const char* bad[] = {R"({"status":{"foo":1}})", R"({"status":[1,2]})", R"({"status":{}})",
                       R"({"status":{"in":"draft"}})", R"({"status":{"startsWith":5}})"};
  for (const char* w : bad) {
    EXPECT_EQ(QueryErr(std::string(R"("where":)") + w), "Unknown filter type for field 'status'")
        << w;
  }
}

TEST_F(StorageWhereTest, CompositeAndUniqueIndexFieldsAreQueryable) {
  EXPECT_EQ(Where(R"({"grp":"x"})"), (V{}));
  EXPECT_EQ(Where(R"({"sub":1})"), (V{}));
  EXPECT_EQ(Where(R"({"code":"c"})"), (V{}));
}

// --- Indexed-field checks and validation precedence (bridge.md §3.2, §5.1)

TEST_F(StorageQueryTest, NonIndexedWhereFieldIsRefused) {
  EXPECT_EQ(QueryErr(R"("where":{"secret":1})"), "Cannot query on non-indexed field 'secret'.");
  EXPECT_EQ(QueryErr(R"("where":{"status":"x","secret":null})"),
            "Cannot query on non-indexed field 'secret'.");
}

TEST_F(StorageQueryTest, InjectionInWhereFieldNameIsRefusedAsNonIndexed) {
  EXPECT_EQ(QueryErr(R"("where":{"status') OR 1=1 --":1})"),
            "Cannot query on non-indexed field 'status') OR 1=1 --'.");
}

TEST_F(StorageQueryTest, NonIndexedOrderByFieldIsRefused) {
  EXPECT_EQ(QueryErr(R"("orderBy":{"secret":"asc"})"),
            "Cannot order by non-indexed field 'secret'.");
  EXPECT_EQ(QueryErr(R"("orderBy":{"n":"asc","secret":"desc"})"),
            "Cannot order by non-indexed field 'secret'.");
}

TEST_F(StorageQueryTest, WhereMustBeAnObject) {
  for (const char* w : {"[]", "null", R"("status")", "1"}) {
    EXPECT_EQ(QueryErr(std::string(R"("where":)") + w),
              "Parameter where must be an object when provided")
        << w;
  }
}

TEST_F(StorageQueryTest, OrderByMustMapFieldsToAscOrDesc) {
  for (const char* o : {R"({"n":"up"})", R"({"n":"ASC"})", R"({"n":1})", "[]", "null", R"("n")",
                        R"({"n":"asc","rank":"Desc"})"}) {
    EXPECT_EQ(QueryErr(std::string(R"("orderBy":)") + o),
              R"(Parameter orderBy must be an object mapping field to "asc"|"desc")")
        << o;
  }
}

TEST_F(StorageQueryTest, WhereShapeIsCheckedBeforeOrderByShape) {
  EXPECT_EQ(QueryErr(R"("where":[],"orderBy":{"n":"up"})"),
            "Parameter where must be an object when provided");
}

TEST_F(StorageQueryTest, OrderByShapeIsCheckedBeforeIndexedFields) {
  EXPECT_EQ(QueryErr(R"("where":{"secret":1},"orderBy":{"n":"up"})"),
            R"(Parameter orderBy must be an object mapping field to "asc"|"desc")");
}

TEST_F(StorageQueryTest, NonIndexedWhereIsReportedBeforeNonIndexedOrderBy) {
  EXPECT_EQ(QueryErr(R"("where":{"secret":1},"orderBy":{"hidden":"asc"})"),
            "Cannot query on non-indexed field 'secret'.");
}

TEST_F(StorageQueryTest, NonIndexedWhereIsReportedBeforeUnknownFilter) {
  EXPECT_EQ(QueryErr(R"("where":{"status":{"bad":1},"secret":1})"),
            "Cannot query on non-indexed field 'secret'.");
}

TEST_F(StorageQueryTest, NonIndexedOrderByIsReportedBeforeUnknownFilter) {
  EXPECT_EQ(QueryErr(R"("where":{"status":{"bad":1}},"orderBy":{"hidden":"asc"})"),
            "Cannot order by non-indexed field 'hidden'.");
}

TEST_F(StorageQueryTest, UnknownFilterIsReportedBeforeBadCursor) {
  EXPECT_EQ(QueryErr(R"("where":{"status":{"bad":1}},"cursor":"!!!")"),
            "Unknown filter type for field 'status'");
}

TEST_F(StorageQueryTest, NonIndexedOrderByIsReportedBeforeBadCursor) {
  EXPECT_EQ(QueryErr(R"("orderBy":{"hidden":"asc"},"cursor":"!!!")"),
            "Cannot order by non-indexed field 'hidden'.");
}

TEST_F(StorageQueryTest, DeclaredCheckPrecedesWhereValidation) {
  EXPECT_EQ(Err(p_, "storage/query", R"({"collection":"other","where":[]})"),
            "Storage collection not declared: other");
}

// --- orderBy

TEST_F(StorageQueryTest, OrderByFieldDescending) {
  Seed({{"a", R"({"n":1})"}, {"b", R"({"n":10})"}, {"c", R"({"n":3.5})"}, {"d", R"({"n":-2})"}});
  EXPECT_EQ(Ids(Query(R"("orderBy":{"n":"desc"})")), (V{"b", "c", "a", "d"}));
  EXPECT_EQ(Ids(Query(R"("orderBy":{"n":"asc"})")), (V{"d", "a", "c", "b"}));
}

TEST_F(StorageQueryTest, OrderByKeysApplyInObjectOrder) {
  Seed({{"a", R"({"grp":"x","rank":1})"},
        {"b", R"({"grp":"y","rank":3})"},
        {"c", R"({"grp":"x","rank":2})"},
        {"d", R"({"grp":"y","rank":0})"}});
  EXPECT_EQ(Ids(Query(R"("orderBy":{"grp":"asc","rank":"desc"})")), (V{"c", "a", "b", "d"}));
  EXPECT_EQ(Ids(Query(R"("orderBy":{"rank":"asc","grp":"asc"})")), (V{"d", "a", "c", "b"}));
}

TEST_F(StorageQueryTest, EmptyOrderByUsesDefaultOrder) {
  Seed({{"b", R"({"n":1})"}, {"a", R"({"n":2})"}});
  EXPECT_EQ(Ids(Query(R"("orderBy":{})")), (V{"a", "b"}));
}

TEST_F(StorageQueryTest, OrderByCombinesWithWhere) {
  Seed({{"a", R"({"status":"on","n":1})"},
        {"b", R"({"status":"off","n":5})"},
        {"c", R"({"status":"on","n":9})"}});
  EXPECT_EQ(Ids(Query(R"("where":{"status":"on"},"orderBy":{"n":"desc"})")), (V{"c", "a"}));
}

// --- Cursors

TEST_F(StorageQueryTest, CursorWalksDefaultOrderWithoutSkipsOrRepeats) {
  SeedCount(7);
  int pages = 0;
  V all = Walk("", 2, &pages);
  EXPECT_EQ(all, (V{"doc000", "doc001", "doc002", "doc003", "doc004", "doc005", "doc006"}));
  EXPECT_EQ(pages, 4);
}

TEST_F(StorageQueryTest, CursorWalksDefaultOrderAcrossDistinctCreatedAt) {
  Seed({{"a", "{}"}, {"b", "{}"}, {"c", "{}"}, {"d", "{}"}, {"e", "{}"}});
  SetCreatedAt("e", "2000-01-01T00:00:00.000Z");
  SetCreatedAt("c", "2000-01-01T00:00:00.000Z");
  SetCreatedAt("a", "2003-01-01T00:00:00.000Z");
  SetCreatedAt("b", "2001-01-01T00:00:00.000Z");
  SetCreatedAt("d", "2001-01-01T00:00:00.000Z");
  EXPECT_EQ(Walk("", 2), (V{"c", "e", "b", "d", "a"}));
}

TEST_F(StorageQueryTest, DefaultOrderCursorIsBase64OfOrderValueAndId) {
  SeedCount(3);
  json::value page = Query(R"("limit":2)");
  std::string cursor = Str(page, "cursor");
  auto decoded = Base64Decode(cursor);
  ASSERT_TRUE(decoded.has_value()) << cursor;
  std::string created =
      Text(Sql("SELECT created_at FROM _plugin_storage WHERE id = 'doc001'").rows.at(0).at(0));
  EXPECT_EQ(*decoded, R"({"orderValue":)" + Quote(created) + R"(,"id":"doc001"})");
}

TEST_F(StorageQueryTest, HandMadeEmDashCursorContinuesAfterThatRow) {
  SeedCount(5);
  std::string created =
      Text(Sql("SELECT created_at FROM _plugin_storage WHERE id = 'doc001'").rows.at(0).at(0));
  std::string cursor = Base64Encode(R"({"orderValue":)" + Quote(created) + R"(,"id":"doc001"})");
  EXPECT_EQ(Ids(Query(R"("cursor":)" + Quote(cursor))), (V{"doc002", "doc003", "doc004"}));
}

TEST_F(StorageQueryTest, EmptyCursorStringReturnsFirstPage) {
  SeedCount(3);
  EXPECT_EQ(Ids(Query(R"("cursor":"")")), (V{"doc000", "doc001", "doc002"}));
}

TEST_F(StorageQueryTest, CursorRespectsWhere) {
  Seed({{"a", R"({"status":"on"})"},
        {"b", R"({"status":"off"})"},
        {"c", R"({"status":"on"})"},
        {"d", R"({"status":"on"})"},
        {"e", R"({"status":"off"})"}});
  EXPECT_EQ(Walk(R"("where":{"status":"on"})", 1), (V{"a", "c", "d"}));
}

// A data set whose order values tie, whose ids run against the order values, and whose
// created_at runs against both: a cursor that ignores orderBy skips or repeats rows here.
class StorageCursorOrderTest : public StorageQueryTest {
 protected:
  void SetUp() override {
    StorageQueryTest::SetUp();
    const int ranks[] = {3, 1, 2, 1, 3, 2, 1, -1, 2, 3, 1, -1, 2, 1};
    const char* grps[] = {"b", "a", "a", "b", "a", "b", "a", "b", "a", "b", "b", "a", "b", "a"};
    std::vector<std::pair<std::string, std::string>> docs;
    for (int i = 0; i < 14; ++i) {
      char id[8];
      std::snprintf(id, sizeof id, "r%02d", 13 - i);
      std::string data = ranks[i] < 0
                             ? R"({"grp":")" + std::string(grps[i]) + R"("})"
                             : R"({"rank":)" + std::to_string(ranks[i]) + R"(,"grp":")" + grps[i] +
                                   R"(","status":"s)" + std::to_string(ranks[i]) + R"("})";
      docs.emplace_back(id, data);
      ids_.insert(id);
    }
    Seed(docs);
    for (int i = 0; i < 14; ++i) {
      char id[8];
      std::snprintf(id, sizeof id, "r%02d", 13 - i);
      char ts[32];
      std::snprintf(ts, sizeof ts, "2001-01-01T00:00:%02d.000Z", (i * 5) % 14);
      SetCreatedAt(id, ts);
    }
  }

  // The order values of each id as the unpaged query reports them.
  std::vector<std::string> Values(const V& ids, const std::string& order_fields_csv) {
    json::value page = Query(R"("limit":100)");
    std::map<std::string, std::string> by_id;
    for (const auto& item : page.at("items").as_array()) {
      std::string key;
      const auto& data = item.at("data").as_object();
      size_t start = 0;
      while (start <= order_fields_csv.size()) {
        size_t comma = order_fields_csv.find(',', start);
        std::string f = order_fields_csv.substr(
            start, comma == std::string::npos ? std::string::npos : comma - start);
        const auto* v = data.if_contains(f);
        key += (v ? Stringify(*v) : "null") + "|";
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      by_id[Str(item, "id")] = key;
    }
    std::vector<std::string> out;
    for (const auto& id : ids) out.push_back(by_id[id]);
    return out;
  }

  // Pages at every limit must list every row once, in the unpaged order of the order values.
  void ExpectConsistentWalks(const std::string& order_by, const std::string& fields_csv) {
    V unpaged = Ids(Query(R"("limit":100,"orderBy":)" + order_by));
    ASSERT_EQ(unpaged.size(), ids_.size());
    for (int limit : {1, 2, 3, 4, 5, 13}) {
      SCOPED_TRACE("limit " + std::to_string(limit) + " orderBy " + order_by);
      V walked = Walk(R"("orderBy":)" + order_by, limit);
      std::multiset<std::string> seen(walked.begin(), walked.end());
      EXPECT_EQ(walked.size(), ids_.size()) << "rows skipped or repeated";
      EXPECT_EQ(std::set<std::string>(walked.begin(), walked.end()), ids_);
      for (const auto& id : ids_) EXPECT_EQ(seen.count(id), 1u) << id;
      EXPECT_EQ(Values(walked, fields_csv), Values(unpaged, fields_csv));
    }
  }

  std::set<std::string> ids_;
};

TEST_F(StorageCursorOrderTest, CursorWithCustomOrderByAscNeitherSkipsNorRepeats) {
  ExpectConsistentWalks(R"({"rank":"asc"})", "rank");
}

TEST_F(StorageCursorOrderTest, CursorWithCustomOrderByDescNeitherSkipsNorRepeats) {
  ExpectConsistentWalks(R"({"rank":"desc"})", "rank");
}

TEST_F(StorageCursorOrderTest, CursorWithStringOrderByNeitherSkipsNorRepeats) {
  ExpectConsistentWalks(R"({"status":"asc"})", "status");
}

TEST_F(StorageCursorOrderTest, CursorWithMultiKeyOrderByNeitherSkipsNorRepeats) {
  ExpectConsistentWalks(R"({"grp":"asc","rank":"desc"})", "grp,rank");
  ExpectConsistentWalks(R"({"grp":"desc","rank":"asc"})", "grp,rank");
}

TEST_F(StorageCursorOrderTest, CursorWithOrderByAndWhereNeitherSkipsNorRepeats) {
  V walked = Walk(R"("where":{"grp":"a"},"orderBy":{"rank":"desc"})", 2);
  V unpaged = Ids(Query(R"("where":{"grp":"a"},"orderBy":{"rank":"desc"},"limit":100)"));
  ASSERT_EQ(unpaged.size(), 7u);
  EXPECT_EQ(std::set<std::string>(walked.begin(), walked.end()),
            std::set<std::string>(unpaged.begin(), unpaged.end()));
  EXPECT_EQ(walked.size(), unpaged.size());
  EXPECT_EQ(Values(walked, "rank"), Values(unpaged, "rank"));
}

TEST_F(StorageQueryTest, CursorAfterNullSecondOrderValueUnderDescContinues) {
  // Under DESC a NULL sorts last within its group; the page after it starts the next group.
  Seed({{"a", R"({"grp":"g1"})"}, {"b", R"({"grp":"g1","rank":1})"}, {"c", R"({"grp":"g2"})"}});
  EXPECT_EQ(Walk(R"("orderBy":{"grp":"asc","rank":"desc"})", 1), (V{"b", "a", "c"}));
}

TEST_F(StorageQueryTest, CursorAfterNullFirstOrderValueUnderAscContinues) {
  Seed({{"a", R"({"rank":2})"}, {"b", "{}"}, {"c", R"({"rank":1})"}, {"d", "{}"}});
  EXPECT_EQ(Walk(R"("orderBy":{"rank":"asc"})", 1), (V{"b", "d", "c", "a"}));
}

// --- Invalid cursors: `Invalid pagination cursor: <cursor, truncated to 47 chars + "...">`

TEST_F(StorageQueryTest, GarbageCursorIsRefused) {
  EXPECT_EQ(QueryErr(R"("cursor":"!!!")"), "Invalid pagination cursor: !!!");
}

TEST_F(StorageQueryTest, CursorOfFiftyCharsIsQuotedInFull) {
  std::string c = "!" + std::string(49, 'a');
  EXPECT_EQ(QueryErr(R"("cursor":)" + Quote(c)), "Invalid pagination cursor: " + c);
}

TEST_F(StorageQueryTest, CursorLongerThanFiftyCharsIsTruncatedTo47PlusEllipsis) {
  std::string c = "!";
  for (int i = 0; i < 59; ++i) c += char('a' + i % 26);
  EXPECT_EQ(QueryErr(R"("cursor":)" + Quote(c)),
            "Invalid pagination cursor: " + c.substr(0, 47) + "...");
}

TEST_F(StorageQueryTest, CursorThatIsNotJsonIsRefused) {
  std::string c = Base64Encode("hello");
  EXPECT_EQ(QueryErr(R"("cursor":)" + Quote(c)), "Invalid pagination cursor: " + c);
}

TEST_F(StorageQueryTest, CursorThatIsNotAnObjectIsRefused) {
  std::string c = Base64Encode(R"(["2001-01-01T00:00:00.000Z","a"])");
  EXPECT_EQ(QueryErr(R"("cursor":)" + Quote(c)),
            "Invalid pagination cursor: " + (c.size() > 50 ? c.substr(0, 47) + "..." : c));
}

TEST_F(StorageQueryTest, CursorWithNonStringFieldsIsRefused) {
  for (const char* payload : {R"({"orderValue":1,"id":"a"})", R"({"orderValue":"x"})",
                              R"({"orderValue":"x","id":null})"}) {
    std::string c = Base64Encode(payload);
    EXPECT_EQ(QueryErr(R"("cursor":)" + Quote(c)),
              "Invalid pagination cursor: " + (c.size() > 50 ? c.substr(0, 47) + "..." : c))
        << payload;
  }
}

TEST_F(StorageQueryTest, CursorLongerThan4096CharsIsRefused) {
  std::string c = Base64Encode(R"({"orderValue":"x","id":")" + std::string(4000, 'z') + R"("})");
  ASSERT_GT(c.size(), 4096u);
  EXPECT_EQ(QueryErr(R"("cursor":)" + Quote(c)),
            "Invalid pagination cursor: " + c.substr(0, 47) + "...");
}

// --- Index configuration is per (plugin id, version) (spec README decision 6)

TEST_F(StorageQueryTest, IndexesComeFromTheCallingVersion) {
  auto v2 = Plugin(R"({"id":"query-plugin","version":"2.0.0",
                       "storage":{"docs":{"indexes":["color"]}}})");
  EXPECT_TRUE(Call(v2, "storage/query", R"({"collection":"docs","where":{"color":"red"}})").ok());
  EXPECT_EQ(Err(v2, "storage/query", R"({"collection":"docs","where":{"status":"x"}})"),
            "Cannot query on non-indexed field 'status'.");
  // The old version keeps its own configuration while registered.
  EXPECT_TRUE(Call(p_, "storage/query", R"({"collection":"docs","where":{"status":"x"}})").ok());
  EXPECT_EQ(Err(p_, "storage/query", R"({"collection":"docs","where":{"color":"red"}})"),
            "Cannot query on non-indexed field 'color'.");
}

TEST_F(StorageQueryTest, UnregisteredVersionCannotUseIndexes) {
  bridge_->UnregisterPlugin("query-plugin", "1.0.0");
  EXPECT_FALSE(Call(p_, "storage/query", R"({"collection":"docs","where":{"status":"x"}})").ok());
}

}  // namespace
}  // namespace ps::testing
