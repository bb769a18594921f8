// EmDash's published @emdash-cms/plugin-audit-log 0.2.0, installed from its npm tarball through
// the API: content created, updated and deleted through the API leaves its audit entries,
// read back through its `recent` route. Its content:beforeSave (needs content:write) and
// media:afterUpload (needs media:read) are skipped by the capability gate.
#include <set>

#include "serve_fixture.h"

namespace ps::testing {
namespace {

TEST_F(ServeTest, PublishedAuditLogRecordsContentChangesMadeThroughTheApi) {
  serve_.Start();
  std::string tgz = ReadFile(PS_SOURCE_DIR "/tests/data/emdash-cms-plugin-audit-log-0.2.0.tgz");
  ASSERT_FALSE(tgz.empty());
  Reply install = serve_.PutBundle("audit-log", tgz);
  ASSERT_EQ(install.status, 201) << install.body << serve_.Log();
  EXPECT_EQ(Str(install.Json().at("version")), "0.2.0");
  EXPECT_EQ(Stringify(install.Json().at("skippedHooks")),
            R"(["content:beforeSave: needs content:write","media:afterUpload: needs media:read"])");
  // Its lifecycle hooks ran and logged through ctx.log, tagged with its id.
  EXPECT_NE(serve_.Log().find("[plugin:audit-log] Audit log plugin installed"), std::string::npos);

  ASSERT_EQ(serve_
                .Post("/v1/collections",
                      R"({"slug":"posts","fields":[{"slug":"title","type":"string"}]})")
                .status,
            201);
  // After-hooks run in the background, after each response: wait (bounded) for each entry.
  // (The plugin keys entries by Date.now() and the content id, so two changes of one item in
  // the same millisecond would share a key.)
  json::value entries;
  auto wait_for = [&](size_t n) {
    return Eventually([&] {
      Reply r = serve_.Route("audit-log", "recent", "{}");
      if (r.status != 200) return false;
      entries = r.Json().at("entries");
      return entries.as_array().size() >= n;
    });
  };
  Reply c = serve_.Post("/v1/content/posts", R"({"data":{"title":"Audited"},"slug":"audited"})");
  ASSERT_EQ(c.status, 201) << c.body;
  std::string id = Str(c.Json().at("id"));
  ASSERT_TRUE(wait_for(1)) << Stringify(entries) << serve_.Log();
  ASSERT_EQ(serve_.Put("/v1/content/posts/" + id, R"({"data":{"title":"Audited again"}})").status,
            200);
  ASSERT_TRUE(wait_for(2)) << Stringify(entries) << serve_.Log();
  ASSERT_EQ(serve_.Delete("/v1/content/posts/" + id).status, 200);
  ASSERT_TRUE(wait_for(3)) << Stringify(entries) << serve_.Log();
  std::multiset<std::string> actions;
  for (const auto& e : entries.as_array()) {
    EXPECT_EQ(Str(e.at("resourceId")), id);
    EXPECT_EQ(Str(e.at("collection")), "posts");
    EXPECT_EQ(Str(e.at("resourceType")), "content");
    actions.insert(Str(e.at("action")));
    if (Str(e.at("action")) == "create") {
      EXPECT_EQ(Str(e.at("changes").at("after").at("title")), "Audited");
      EXPECT_EQ(Str(e.at("metadata").at("slug")), "audited");
      EXPECT_EQ(Str(e.at("metadata").at("status")), "draft");
    }
  }
  EXPECT_EQ(actions, (std::multiset<std::string>{"create", "delete", "update"}));

  // The same route through EmDash's URL (private: the admin token is needed).
  EXPECT_EQ(serve_.Get("/_emdash/api/plugins/audit-log/recent", false).status, 401);
  EXPECT_EQ(serve_.Get("/_emdash/api/plugins/audit-log/recent", true).status, 200);
}

}  // namespace
}  // namespace ps::testing
