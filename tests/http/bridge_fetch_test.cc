// `http/fetch` through the Bridge: the capability check, the per-invocation subrequest limit
// and the invocation's deadline reaching the fetcher.
#include <gtest/gtest.h>

#include <chrono>

#include "bridge/fixture.h"
#include "http/fetch_fixture.h"

namespace ps::testing {
namespace {

class BridgeFetchTest : public BridgeTest {
 protected:
  void Customize(bridge::BridgeOptions& o) override {
    http::FetcherOptions fo;
    fo.allow_private = {server_.HostPort()};
    o.http = http::MakeHttpFetcher(MakeFetcher(fo));
  }

  bridge::Grant Fetcher() {
    return Plugin(R"({"id":"fetcher","version":"1.0.0","capabilities":["network:request"],
                     "allowedHosts":["127.0.0.1"]})");
  }

  TestServer server_{[](const HttpRequest& r) {
    HttpReply reply;
    reply.hang = r.target == "/hang";
    reply.body = "n";
    return reply;
  }};
};

TEST_F(BridgeFetchTest, FetchReturnsTheResponseShape) {
  auto v = Ok(Fetcher(), "http/fetch", R"({"url":")" + server_.Url("/x") + R"("})");
  ASSERT_TRUE(v.is_object());
  const auto& o = v.get_object();
  EXPECT_EQ(o.at("status").as_int64(), 200);
  EXPECT_EQ(o.at("statusText").as_string(), "OK");
  EXPECT_TRUE(o.at("headers").is_object());
  EXPECT_EQ(o.at("bodyBase64").as_string(), "bg==");
}

TEST_F(BridgeFetchTest, CapabilityAndUrlAreCheckedFirst) {
  auto none = Plugin(R"({"id":"quiet","version":"1.0.0"})");
  EXPECT_EQ(Err(none, "http/fetch", R"({"url":")" + server_.Url() + R"("})"),
            "Missing capability: network:request");
  EXPECT_EQ(Err(Fetcher(), "http/fetch", "{}"), "Missing required string parameter: url");
  EXPECT_EQ(server_.request_count(), 0u);
}

TEST_F(BridgeFetchTest, EleventhFetchOfAnInvocationFails) {
  auto g = Fetcher();
  bridge::Invocation inv;
  inv.id = "inv-1";
  inv.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  json::object params = Params(server_.Url("/n"));
  for (int i = 0; i < 10; ++i) {
    auto r = bridge_->Call(g, "http/fetch", params, &inv);
    ASSERT_TRUE(r.ok()) << i << ": " << r.status().message();
  }
  auto r = bridge_->Call(g, "http/fetch", params, &inv);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), ErrorCode::kSubrequestLimitExceeded);
  auto reply = bridge::Bridge::Envelope(r);
  EXPECT_EQ(reply.status, 500);
  EXPECT_NE(reply.body.find("\"code\":\"subrequest_limit_exceeded\""), std::string::npos)
      << reply.body;
  EXPECT_EQ(server_.request_count(), 10u);

  // A new invocation has its own count; refused fetches count as well.
  bridge::Invocation next;
  next.id = "inv-2";
  next.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  json::object refused = Params("http://not-allowed.example/");
  for (int i = 0; i < 10; ++i) {
    auto e = bridge_->Call(g, "http/fetch", refused, &next);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().error_code(), ErrorCode::kNone);
  }
  EXPECT_EQ(bridge_->Call(g, "http/fetch", params, &next).status().error_code(),
            ErrorCode::kSubrequestLimitExceeded);
  EXPECT_EQ(server_.request_count(), 10u);
}

TEST_F(BridgeFetchTest, TheInvocationDeadlineBoundsTheFetch) {
  auto g = Fetcher();
  bridge::Invocation inv;
  inv.id = "inv-slow";
  inv.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
  auto r = bridge_->Call(g, "http/fetch", Params(server_.Url("/hang")), &inv);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace ps::testing
