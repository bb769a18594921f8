// Collections, content, media and users through the API; one serve process for the suite.
#include "serve_fixture.h"
#include "test_plugins.h"

namespace ps::testing {
namespace {

class SiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    fs::path plugins = *dir_ / "plugins";
    WriteBundle(plugins / "recorder", kRecorderManifest, kRecorderSource);
    serve_ = new Serve(*dir_ / "data");
    serve_->args = {"--plugins", plugins.string()};
    serve_->Start();
    Reply r = serve_->Post(
        "/v1/collections",
        R"({"slug":"articles","label":"Articles","fields":[{"slug":"title","type":"string","required":true},{"slug":"views","type":"integer"},{"slug":"tags","type":"json"}]})");
    ASSERT_EQ(r.status, 201) << r.body;
  }
  static void TearDownTestSuite() {
    delete serve_;
    delete dir_;
  }
  static TempDir* dir_;
  static Serve* serve_;
};
TempDir* SiteTest::dir_ = nullptr;
Serve* SiteTest::serve_ = nullptr;

TEST_F(SiteTest, CollectionsAreCreatedListedAndValidated) {
  Reply list = serve_->Get("/v1/collections");
  ASSERT_EQ(list.status, 200);
  bool found = false;
  json::value all = list.Json();
  for (const auto& c : all.as_array()) {
    if (Str(c.at("slug")) != "articles") continue;
    found = true;
    EXPECT_EQ(Str(c.at("label")), "Articles");
    EXPECT_EQ(c.at("fields").as_array().size(), 3u);
  }
  EXPECT_TRUE(found) << list.body;
  Reply dup = serve_->Post("/v1/collections", R"({"slug":"articles"})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.ErrorCode(), "conflict");
  Reply bad = serve_->Post("/v1/collections", R"({"slug":"Bad Slug"})");
  EXPECT_EQ(bad.status, 400);
  Reply badtype =
      serve_->Post("/v1/collections", R"({"slug":"x1","fields":[{"slug":"a","type":"nonsense"}]})");
  EXPECT_EQ(badtype.status, 400) << badtype.body;
  Reply nofields = serve_->Post("/v1/collections", R"({"slug":"x2","fields":[{"slug":"a"}]})");
  EXPECT_EQ(nofields.status, 400);
  EXPECT_EQ(nofields.ErrorMessage(), "request body: fields[0].type: expected a string");
  EXPECT_EQ(serve_->Post("/v1/collections", R"([1])").status, 400);
  EXPECT_EQ(serve_->Delete("/v1/collections").status, 405);
}

TEST_F(SiteTest, ContentRoundTripsThroughCreateGetUpdateAndSoftDelete) {
  Reply c = serve_->Post(
      "/v1/content/articles",
      R"({"data":{"title":"First","views":3,"tags":["a","b"]},"slug":"first","status":"published","locale":"en"})");
  ASSERT_EQ(c.status, 201) << c.body;
  json::value item = c.Json();
  std::string id = Str(item.at("id"));
  EXPECT_EQ(id.size(), 26u);
  EXPECT_EQ(Str(item.at("type")), "articles");
  EXPECT_EQ(Stringify(item.at("data")), R"({"title":"First","views":3,"tags":["a","b"]})");
  EXPECT_EQ(Str(item.at("slug")), "first");
  EXPECT_EQ(Str(item.at("status")), "published");
  EXPECT_EQ(Str(item.at("locale")), "en");

  Reply g = serve_->Get("/v1/content/articles/" + id);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(Stringify(g.Json().at("data")), Stringify(item.at("data")));

  Reply u = serve_->Put("/v1/content/articles/" + id, R"({"data":{"views":4},"status":"draft"})");
  ASSERT_EQ(u.status, 200) << u.body;
  EXPECT_EQ(Str(u.Json().at("data").at("views")), "4");
  EXPECT_EQ(Str(u.Json().at("data").at("title")), "First");
  EXPECT_EQ(Str(u.Json().at("status")), "draft");

  Reply d = serve_->Delete("/v1/content/articles/" + id);
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(d.body, R"({"id":")" + id + R"(","collection":"articles","deleted":true})");
  EXPECT_EQ(serve_->Get("/v1/content/articles/" + id).status, 404);
  EXPECT_EQ(serve_->Delete("/v1/content/articles/" + id).status, 404);
  EXPECT_EQ(serve_->Put("/v1/content/articles/" + id, R"({"data":{}})").status, 404);
}

TEST_F(SiteTest, ContentErrorsNameTheProblem) {
  Reply nocol = serve_->Post("/v1/content/nothere", R"({"data":{"title":"x"}})");
  EXPECT_EQ(nocol.status, 404);
  EXPECT_EQ(nocol.ErrorMessage(), "Collection not found: nothere");
  EXPECT_EQ(serve_->Get("/v1/content/nothere").status, 404);
  Reply nodata = serve_->Post("/v1/content/articles", R"({"title":"x"})");
  EXPECT_EQ(nodata.status, 400);
  EXPECT_EQ(nodata.ErrorMessage(), "request body: data: required (an object)");
  Reply unknown = serve_->Post("/v1/content/articles", R"({"data":{"title":"x","nope":1}})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.ErrorMessage().find("has no column named nope"), std::string::npos);
  Reply slug1 = serve_->Post("/v1/content/articles", R"({"data":{"title":"x"},"slug":"same"})");
  ASSERT_EQ(slug1.status, 201);
  Reply slug2 = serve_->Post("/v1/content/articles", R"({"data":{"title":"y"},"slug":"same"})");
  EXPECT_EQ(slug2.status, 409);
  Reply locale = serve_->Post("/v1/content/articles", R"({"data":{"title":"x"},"locale":"??"})");
  EXPECT_EQ(locale.status, 400);
  EXPECT_EQ(locale.ErrorMessage(), R"(Invalid locale code: "??")");
  EXPECT_EQ(serve_->Get("/v1/content/articles?limit=abc").status, 400);
  EXPECT_EQ(serve_->Get("/v1/content/articles/x/y").status, 404);
}

TEST_F(SiteTest, ContentListsPageWithLimitAndCursor) {
  ASSERT_EQ(
      serve_
          ->Post("/v1/collections", R"({"slug":"paged","fields":[{"slug":"n","type":"integer"}]})")
          .status,
      201);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(
        serve_->Post("/v1/content/paged", R"({"data":{"n":)" + std::to_string(i) + "}}").status,
        201);
  }
  std::vector<int64_t> seen;
  std::string cursor;
  for (int page = 0; page < 5; ++page) {
    Reply r =
        serve_->Get("/v1/content/paged?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    json::value doc = r.Json();
    for (const auto& it : doc.at("items").as_array())
      seen.push_back(it.at("data").at("n").as_int64());
    if (!r.Json().at("hasMore").as_bool()) break;
    cursor = Str(r.Json().at("cursor"));
  }
  // Every item exactly once (ids are ULIDs: newest first, random within one millisecond).
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST_F(SiteTest, MediaUploadsAreStoredServedListedAndDeletedFiringAfterUpload) {
  std::string png("\x89PNG\r\n\x1a\n-bytes-\0-here", 22);
  Reply up =
      serve_->Request("POST", "/v1/media?filename=pixel.png", png, {"Content-Type: image/png"});
  ASSERT_EQ(up.status, 201) << up.body;
  json::value m = up.Json();
  std::string id = Str(m.at("id"));
  EXPECT_EQ(Str(m.at("filename")), "pixel.png");
  EXPECT_EQ(Str(m.at("mimeType")), "image/png");
  EXPECT_EQ(m.at("size").as_int64(), 22);
  std::string url = Str(m.at("url"));
  EXPECT_EQ(url, "/_emdash/api/media/file/" + id + ".png");

  Reply file = serve_->Get(url, /*auth=*/false);
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(file.body, png);
  EXPECT_EQ(file.headers["content-type"], "image/png");
  EXPECT_TRUE(fs::exists(serve_->data() / "media" / (id + ".png")));

  EXPECT_EQ(Str(serve_->Get("/v1/media/" + id).Json().at("id")), id);
  Reply list = serve_->Get("/v1/media?mimeType=image/");
  ASSERT_EQ(list.status, 200);
  EXPECT_GE(list.Json().at("items").as_array().size(), 1u);

  bool fired = Eventually([&] {
    json::value events = serve_->Route("recorder", "events").Json();
    for (const auto& ev : events.as_array()) {
      if (Str(ev.at("hook")) == "media:afterUpload" &&
          Str(ev.at("event").at("media").at("id")) == id)
        return true;
    }
    return false;
  });
  EXPECT_TRUE(fired);

  ASSERT_EQ(serve_->Delete("/v1/media/" + id).status, 200);
  EXPECT_EQ(serve_->Get("/v1/media/" + id).status, 404);
  EXPECT_EQ(serve_->Get(url, false).status, 404);
  EXPECT_EQ(serve_->Delete("/v1/media/" + id).status, 404);
}

TEST_F(SiteTest, MediaUploadsNeedANameAndAnAllowedType) {
  Reply noname = serve_->Request("POST", "/v1/media", "x", {"Content-Type: image/png"});
  EXPECT_EQ(noname.status, 400);
  EXPECT_EQ(noname.ErrorMessage(), "query parameter filename: required (the file's name)");
  Reply type = serve_->Request("POST", "/v1/media?filename=a.exe", "x",
                               {"Content-Type: application/x-msdownload"});
  EXPECT_EQ(type.status, 400);
  EXPECT_NE(type.ErrorMessage().find("Unsupported content type"), std::string::npos);
  EXPECT_EQ(serve_->Get("/_emdash/api/media/file/../../etc/passwd", false).status, 404);
  EXPECT_EQ(serve_->Get("/_emdash/api/media/file/nothing.png", false).status, 404);
}

TEST_F(SiteTest, UsersAreCreatedAndListed) {
  Reply u =
      serve_->Post("/v1/users", R"({"email":"Ada@Example.com","name":"Ada","role":"editor"})");
  ASSERT_EQ(u.status, 201) << u.body;
  EXPECT_EQ(Str(u.Json().at("email")), "ada@example.com");
  EXPECT_EQ(Str(u.Json().at("name")), "Ada");
  EXPECT_EQ(u.Json().at("role").as_int64(), 40);
  Reply dup = serve_->Post("/v1/users", R"({"email":"ada@example.com"})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(serve_->Post("/v1/users", R"({"email":"nobody"})").status, 400);
  EXPECT_EQ(serve_->Post("/v1/users", R"({"email":"b@example.com","role":"king"})").status, 400);
  ASSERT_EQ(serve_->Post("/v1/users", R"({"email":"c@example.com","role":50})").status, 201);
  Reply list = serve_->Get("/v1/users?limit=1");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.Json().at("items").as_array().size(), 1u);
  EXPECT_TRUE(list.Json().as_object().contains("nextCursor"));
}

TEST_F(SiteTest, EmdashRouteUrlsTakeQueryOrBodyInputAndSerializeTheRequest) {
  Reply g = serve_->Request("GET", "/_emdash/api/plugins/recorder/echo?name=Ada&x=1", "",
                            {"User-Agent: test-agent", "Referer: http://ref.example/"}, false);
  ASSERT_EQ(g.status, 200) << g.body;
  json::value v = g.Json();
  EXPECT_EQ(Stringify(v.at("input")), R"({"name":"Ada","x":"1"})");
  const auto& req = v.at("request");
  EXPECT_EQ(Str(req.at("method")), "GET");
  EXPECT_NE(Str(req.at("url")).find("/_emdash/api/plugins/recorder/echo?name=Ada&x=1"),
            std::string::npos);
  EXPECT_EQ(Str(req.at("headers").at("user-agent")), "test-agent");
  EXPECT_EQ(Str(req.at("meta").at("userAgent")), "test-agent");
  EXPECT_EQ(Str(req.at("meta").at("referer")), "http://ref.example/");
  EXPECT_EQ(Str(req.at("meta").at("ip")), "127.0.0.1");
  EXPECT_TRUE(v.at("user").is_null());

  // POST: the JSON body is the input; the admin token never reaches the plugin.
  Reply p = serve_->Request("POST", "/_emdash/api/plugins/recorder/echo", R"({"a":[1,2]})", {},
                            /*auth=*/true);
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(Stringify(p.Json().at("input")), R"({"a":[1,2]})");
  EXPECT_FALSE(p.Json().at("request").at("headers").as_object().contains("authorization"));
  EXPECT_EQ(serve_->Request("POST", "/_emdash/api/plugins/recorder/echo", "{bad", {}, false).status,
            400);

  // Private routes need the admin token and see the admin user.
  Reply anon = serve_->Get("/_emdash/api/plugins/recorder/whoami", false);
  EXPECT_EQ(anon.status, 401);
  Reply admin = serve_->Get("/_emdash/api/plugins/recorder/whoami", true);
  ASSERT_EQ(admin.status, 200) << admin.body;
  EXPECT_EQ(admin.Json().at("user").at("role").as_int64(), 50);
  EXPECT_EQ(Stringify(admin.Json().at("hasAuthorization")), "false");

  EXPECT_EQ(serve_->Get("/_emdash/api/plugins/recorder/nope", false).status, 404);
  EXPECT_EQ(serve_->Get("/_emdash/api/plugins/nobody/echo", false).status, 404);
}

}  // namespace
}  // namespace ps::testing
