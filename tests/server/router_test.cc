#include "server/router.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "server/api.h"
#include "test_util.h"

namespace ps::server {
namespace {

struct R {
  const char* method;
  const char* pattern;
};

const std::vector<R> kRoutes = {
    {"GET", "/v1/things"},         {"POST", "/v1/things"},         {"GET", "/v1/things/{id}"},
    {"DELETE", "/v1/things/{id}"}, {"POST", "/v1/things/{id}/go"}, {"*", "/x/{id}/{rest...}"},
};

TEST(RouterTest, PathsAreDecodedSegmentsWithoutEmptyOnes) {
  EXPECT_EQ(PathSegments("/v1//media/"), (std::vector<std::string>{"v1", "media"}));
  EXPECT_EQ(PathSegments("/a%2Fb/c"), (std::vector<std::string>{"a/b", "c"}));
  EXPECT_TRUE(PathSegments("/").empty());
}

TEST(RouterTest, AMethodAndPathFindTheirRouteAndParameters) {
  auto m = Match(kRoutes, "DELETE", PathSegments("/v1/things/abc"));
  ASSERT_EQ(m.index, 3);
  EXPECT_EQ(m.params["id"], "abc");
  EXPECT_EQ(m.params["missing"], "");
}

TEST(RouterTest, TheRestParameterTakesOneOrMoreSegments) {
  auto m = Match(kRoutes, "PATCH", PathSegments("/x/p/a/b/c"));
  ASSERT_EQ(m.index, 5);
  EXPECT_EQ(m.params["id"], "p");
  EXPECT_EQ(m.params["rest"], "a/b/c");
  EXPECT_EQ(Match(kRoutes, "GET", PathSegments("/x/p")).index, -1);
}

TEST(RouterTest, AKnownPathWithAnotherMethodListsTheAllowedOnes) {
  auto m = Match(kRoutes, "PUT", PathSegments("/v1/things/abc"));
  EXPECT_EQ(m.index, -1);
  EXPECT_EQ(m.allowed, "GET, DELETE");
}

TEST(RouterTest, AnUnknownPathAllowsNothing) {
  for (const char* path : {"/v1", "/v1/things/a/b", "/v1/things/a/stop", "/nothing"}) {
    auto m = Match(kRoutes, "GET", PathSegments(path));
    EXPECT_EQ(m.index, -1) << path;
    EXPECT_EQ(m.allowed, "") << path;
  }
}

TEST(ApiRoutesTest, NoTwoRoutesShareAMethodAndPattern) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& r : Api::Routes()) {
    EXPECT_TRUE(seen.insert({r.method, r.pattern}).second) << r.method << " " << r.pattern;
  }
}

// docs/operating.md's "HTTP API" table lists exactly the declared routes.
TEST(ApiRoutesTest, DocsListEveryRouteAsDeclared) {
  auto rows = testing::DocTable("docs/operating.md", "## HTTP API");
  ASSERT_EQ(rows.size(), Api::Routes().size()) << "docs/operating.md's HTTP API table";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    const auto& route = Api::Routes()[i];
    ASSERT_EQ(r.size(), 5u);
    EXPECT_EQ(r[0], route.method) << i;
    EXPECT_EQ(r[1], route.pattern) << i;
    const char* auth = route.auth == Api::RouteAuth::kNone    ? "none"
                       : route.auth == Api::RouteAuth::kAdmin ? "admin"
                                                              : "plugin";
    EXPECT_EQ(r[2], auth) << route.pattern;
    EXPECT_EQ(r[3], route.body == Api::BodyCap::kUpload ? "max-upload-mb" : "max-body-mb")
        << route.pattern;
    EXPECT_EQ(r[4], route.summary) << route.pattern;
  }
}

}  // namespace
}  // namespace ps::server
