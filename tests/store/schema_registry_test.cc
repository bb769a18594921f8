#include "store/schema_registry.h"

#include <gtest/gtest.h>

#include <map>

#include "store_env.h"
#include "test_util.h"

namespace ps::store {
namespace {

class SchemaRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = OpenDatabase(ps::testing::TestDatabaseUrl(dir_));
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::move(db).value();
  }
  ps::testing::TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(SchemaRegistryTest, CreatesTableWithEmDashColumnsAndRegistryRows) {
  CollectionSpec spec{"posts",
                      "Posts",
                      {{"title", "string", true},
                       {"body", "portableText"},
                       {"rating", "number"},
                       {"views", "integer"}},
                      {"revisions", "drafts"}};
  ASSERT_TRUE(CreateCollection(*db_, spec).ok());
  auto conn = db_->Acquire();
  auto cols = conn->Query(
      ps::testing::TestOnPostgres()
          ? "SELECT column_name, upper(data_type) FROM information_schema.columns WHERE "
            "table_schema = current_schema() AND table_name = 'ec_posts'"
          : "SELECT name, type FROM pragma_table_info('ec_posts')");
  ASSERT_TRUE(cols.ok());
  std::map<std::string, std::string> types;
  for (auto& r : cols->rows) types[std::get<std::string>(r[0])] = std::get<std::string>(r[1]);
  for (const char* c : {"id", "slug", "status", "author_id", "primary_byline_id", "created_at",
                        "updated_at", "published_at", "scheduled_at", "deleted_at", "version",
                        "live_revision_id", "draft_revision_id", "locale", "translation_group"}) {
    EXPECT_TRUE(types.count(c)) << c;
  }
  // EmDash's column types: on PostgreSQL REAL and INTEGER are what EmDash's registry declares
  // there too (4-byte real, 32-bit integer), and JSON fields are json.
  EXPECT_EQ(types["title"], "TEXT");
  EXPECT_EQ(types["body"], "JSON");
  EXPECT_EQ(types["rating"], "REAL");
  EXPECT_EQ(types["views"], "INTEGER");
  // The registry rows carry EmDash's column type beside the field type.
  auto ct = conn->Query("SELECT slug, column_type, required FROM _emdash_fields ORDER BY slug");
  ASSERT_TRUE(ct.ok()) << ct.status().message();
  std::map<std::string, std::string> column_types;
  for (auto& r : ct->rows) column_types[std::get<std::string>(r[0])] = std::get<std::string>(r[1]);
  EXPECT_EQ(column_types,
            (std::map<std::string, std::string>{
                {"body", "JSON"}, {"rating", "REAL"}, {"title", "TEXT"}, {"views", "INTEGER"}}));
  auto listed = ListCollections(*db_);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].slug, "posts");
  EXPECT_EQ((*listed)[0].fields.size(), 4u);
  EXPECT_EQ((*listed)[0].supports, (std::vector<std::string>{"revisions", "drafts"}));
}

TEST_F(SchemaRegistryTest, SlugIsUniquePerLocale) {
  ASSERT_TRUE(CreateCollection(*db_, {"pages", "Pages", {}, {}}).ok());
  auto conn = db_->Acquire();
  ASSERT_TRUE(conn->Exec("INSERT INTO ec_pages (id, slug, locale) VALUES ('a', 's', 'en')").ok());
  ASSERT_TRUE(conn->Exec("INSERT INTO ec_pages (id, slug, locale) VALUES ('b', 's', 'fr')").ok());
  auto dup = conn->Exec("INSERT INTO ec_pages (id, slug, locale) VALUES ('c', 's', 'en')");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message(), "UNIQUE constraint failed: ec_pages.slug, ec_pages.locale");
}

TEST_F(SchemaRegistryTest, RefusesBadNamesTypesAndDuplicates) {
  // 63 on SQLite; 60 on PostgreSQL, whose identifiers (the table ec_<slug>) keep 63 bytes.
  EXPECT_EQ(CreateCollection(*db_, {"Posts", "", {}, {}}).message(),
            std::string("collection slug \"Posts\" must match ^[a-z][a-z0-9_]*$ (at most ") +
                (ps::testing::TestOnPostgres() ? "60" : "63") + " characters)");
  // The longest slug works, indexes and all (their names are fitted to the backend's limit).
  std::string longest(ps::testing::TestOnPostgres() ? 60 : 63, 'l');
  EXPECT_TRUE(CreateCollection(*db_, {longest, "", {{"title", "string"}}, {}}).ok());
  EXPECT_EQ(CreateCollection(*db_, {"x; DROP TABLE users", "", {}, {}}).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(CreateCollection(*db_, {"p", "", {{"slug", "string"}}, {}}).message(),
            "field slug \"slug\" is a reserved system column");
  EXPECT_NE(CreateCollection(*db_, {"p", "", {{"t", "blob"}}, {}})
                .message()
                .find("unknown type \"blob\""),
            std::string::npos);
  EXPECT_EQ(CreateCollection(*db_, {"p", "", {{"a", "string"}, {"a", "text"}}, {}}).message(),
            "field slug \"a\" is listed twice");
  ASSERT_TRUE(CreateCollection(*db_, {"p", "", {}, {}}).ok());
  auto again = CreateCollection(*db_, {"p", "", {}, {}});
  EXPECT_EQ(again.code(), Code::kConflict);
}

}  // namespace
}  // namespace ps::store
