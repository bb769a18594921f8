// The transport pipeline, Bridge::Handle (bridge.md §2.2, §2.3): authorization header, token,
// 10 MiB body cap, JSON body, dispatch, and the wire envelopes.

#include <string>
#include <vector>

#include "bridge/fixture.h"
#include "bridge/test_helpers.h"

namespace ps::testing {
namespace {

constexpr const char* kMissingAuth = R"({"error":"Missing or invalid authorization"})";
constexpr const char* kInvalidToken = R"({"error":"Invalid auth token"})";

class TransportTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    MakeCollection({"posts", "Posts", {{"title", "string"}}, {}});
    p_ = Plugin(R"({"id":"wire","version":"1.0.0","capabilities":["content:write"],
                    "storage":{"items":{"indexes":[]}}})");
    auth_ = "Bearer " + bridge_->tokens().IssueBridgeToken(p_);
  }
  bridge::Reply Send(const std::string& method, const std::string& body) {
    return bridge_->Handle(auth_, method, body);
  }
  bridge::Grant p_;
  std::string auth_;
};

// --- authorization

TEST_F(TransportTest, MissingAuthorizationIs401) {
  bridge::Reply r = bridge_->Handle("", "kv/list", "{}");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, kMissingAuth);
}

TEST_F(TransportTest, BearerPrefixIsCaseSensitiveWithOneSpace) {
  std::string token = bridge_->tokens().IssueBridgeToken(p_);
  for (const std::string& header :
       {"bearer " + token, "BEARER " + token, "Bearer" + token, "Bearer\t" + token,
        " Bearer " + token, "Basic " + token, token, std::string("Bearer")}) {
    bridge::Reply r = bridge_->Handle(header, "kv/list", "{}");
    EXPECT_EQ(r.status, 401) << header;
    EXPECT_EQ(r.body, kMissingAuth) << header;
  }
}

TEST_F(TransportTest, TokenIsEverythingAfterTheSevenCharPrefix) {
  std::string token = bridge_->tokens().IssueBridgeToken(p_);
  for (const std::string& header : {std::string("Bearer "), "Bearer  " + token,
                                    "Bearer " + token + " ", "Bearer " + token + "x"}) {
    bridge::Reply r = bridge_->Handle(header, "kv/list", "{}");
    EXPECT_EQ(r.status, 401) << header;
    EXPECT_EQ(r.body, kInvalidToken) << header;
  }
}

TEST_F(TransportTest, GarbageTokenIs401InvalidAuthToken) {
  for (const char* t : {"garbage", "a.b", "a.b.c", "dev-mode", "."}) {
    bridge::Reply r = bridge_->Handle(std::string("Bearer ") + t, "kv/list", "{}");
    EXPECT_EQ(r.status, 401) << t;
    EXPECT_EQ(r.body, kInvalidToken) << t;
  }
}

TEST_F(TransportTest, TokenFromAnotherHostKeyIs401) {
  bridge::TokenAuthority other(std::string(64, 'b'));
  bridge::Reply r = bridge_->Handle("Bearer " + other.IssueBridgeToken(p_), "kv/list", "{}");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, kInvalidToken);
}

TEST_F(TransportTest, AuthorizationIsCheckedBeforeBody) {
  std::string huge(10485761, ' ');
  EXPECT_EQ(bridge_->Handle("", "kv/list", huge).status, 401);
  EXPECT_EQ(bridge_->Handle("Bearer bad", "kv/list", huge).body, kInvalidToken);
  EXPECT_EQ(bridge_->Handle("Bearer bad", "kv/list", "{not json").body, kInvalidToken);
  EXPECT_EQ(bridge_->Handle("", "nope", "{}").status, 401);
}

// --- body

TEST_F(TransportTest, BodyOver10MiBIs413) {
  EXPECT_EQ(bridge::BridgeOptions{}.max_body_bytes, 10485760u);
  std::string body = R"({"key":"big","value":")";
  body += std::string(10485761 - body.size() - 2, 'x');
  body += R"("})";
  ASSERT_EQ(body.size(), 10485761u);
  bridge::Reply r = Send("kv/set", body);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, R"({"error":"Request body too large"})");
  EXPECT_TRUE(Sql("SELECT 1 FROM _plugin_storage").empty());
}

TEST_F(TransportTest, BodyOfExactly10MiBIsAccepted) {
  std::string body = R"({"key":"big","value":")";
  body += std::string(10485760 - body.size() - 2, 'x');
  body += R"("})";
  ASSERT_EQ(body.size(), 10485760u);
  bridge::Reply r = Send("kv/set", body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{}");
}

TEST_F(TransportTest, EmptyBodyMeansNoParameters) {
  bridge::Reply r = Send("kv/list", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"result":[]})");
  r = Send("kv/get", "");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"Missing required string parameter: key"})");
}

TEST_F(TransportTest, InvalidJsonIs400WithParserMessage) {
  for (const char* body : {"{", "{not json}", R"({"key":)", "{'a':1}", "{} x"}) {
    bridge::Reply r = Send("kv/list", body);
    EXPECT_EQ(r.status, 400) << body;
    auto parsed = ParseJson(r.body);
    ASSERT_TRUE(parsed.ok() && parsed->is_object()) << r.body;
    ASSERT_EQ(parsed->as_object().size(), 1u) << r.body;
    EXPECT_EQ(Str(*parsed, "error").rfind("Invalid JSON: ", 0), 0u) << r.body;
  }
}

TEST_F(TransportTest, NonObjectJsonIs400) {
  for (const char* body : {"[]", "null", "1", R"("s")", "true", R"([{"key":"a"}])"}) {
    bridge::Reply r = Send("kv/list", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(r.body, R"({"error":"Request body must be a JSON object"})") << body;
  }
}

// --- envelopes

TEST_F(TransportTest, VoidResultIsEmptyObject) {
  bridge::Reply r = Send("kv/set", R"({"key":"a","value":{"x":1}})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{}");
  EXPECT_EQ(Send("storage/put", R"({"collection":"items","id":"d","data":{}})").body, "{}");
  EXPECT_EQ(Send("storage/putMany", R"({"collection":"items","items":[]})").body, "{}");
}

TEST_F(TransportTest, NullResultIsResultNull) {
  EXPECT_EQ(Send("kv/get", R"({"key":"missing"})").body, R"({"result":null})");
  EXPECT_EQ(Send("log", R"({"level":"info","msg":"m"})").body, R"({"result":null})");
  EXPECT_EQ(Send("storage/get", R"({"collection":"items","id":"missing"})").body,
            R"({"result":null})");
}

TEST_F(TransportTest, ValueResultIsWrapped) {
  Send("kv/set", R"({"key":"a","value":{"x":[1,2.5,"s",true,null]}})");
  bridge::Reply r = Send("kv/get", R"({"key":"a"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"result":{"x":[1,2.5,"s",true,null]}})");
  EXPECT_EQ(Send("kv/delete", R"({"key":"a"})").body, R"({"result":true})");
  EXPECT_EQ(Send("storage/count", R"({"collection":"items"})").body, R"({"result":0})");
}

TEST_F(TransportTest, UndefinedPropertiesAreOmitted) {
  bridge::Reply r = Send("storage/query", R"({"collection":"items"})");
  EXPECT_EQ(r.status, 200);
  auto parsed = ParseJson(r.body);
  ASSERT_TRUE(parsed.ok()) << r.body;
  EXPECT_JSON(*parsed, R"({"result":{"items":[],"hasMore":false}})");
}

TEST_F(TransportTest, ErrorsAre500WithMessage) {
  bridge::Reply r = Send("kv/get", "{}");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"Missing required string parameter: key"})");
}

TEST_F(TransportTest, CapabilityDenialIs500) {
  bridge::Reply r = Send("content/get", R"({"collection":"posts","id":"x"})");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"Missing capability: content:read"})");
}

TEST_F(TransportTest, SqlErrorsCarryTheDriverText) {
  Send("content/create", R"({"collection":"posts","data":{"slug":"s"}})");
  bridge::Reply r = Send("content/create", R"({"collection":"posts","data":{"slug":"s"}})");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"UNIQUE constraint failed: ec_posts.slug, ec_posts.locale"})");
}

TEST_F(TransportTest, UnknownMethodIs500) {
  EXPECT_EQ(Send("kv/nope", "{}").body, R"({"error":"Unknown bridge method: kv/nope"})");
  EXPECT_EQ(Send("kv/nope", "{}").status, 500);
  EXPECT_EQ(Send("kv%2Fget", R"({"key":"a"})").body,
            R"({"error":"Unknown bridge method: kv%2Fget"})");
  EXPECT_EQ(Send("KV/GET", R"({"key":"a"})").body, R"({"error":"Unknown bridge method: KV/GET"})");
  EXPECT_EQ(Send("", "{}").body, R"({"error":"Unknown bridge method: "})");
}

TEST_F(TransportTest, UnknownMethodThroughCall) {
  EXPECT_EQ(Err(p_, "content/publish", "{}"), "Unknown bridge method: content/publish");
  EXPECT_EQ(Err(p_, "cron/schedule", "{}"), "Unknown bridge method: cron/schedule");
}

TEST_F(TransportTest, FenceErrorIs503Envelope) {
  AddEmdashMainSchema();
  Sql("INSERT INTO _emdash_media_usage_activation (task_key, state) VALUES "
      "('incremental_capture', 'activating')");
  bridge::Reply r = Send("content/create", R"({"collection":"posts","data":{}})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"error":{"code":"MEDIA_USAGE_ACTIVATION_IN_PROGRESS",)"
                    R"("message":"Media usage activation is in progress","status":503}})");
}

TEST_F(TransportTest, ClaimsComeFromTheToken) {
  // The token's storage collections decide; a collection not in the token is refused.
  EXPECT_EQ(Send("storage/get", R"({"collection":"other","id":"a"})").body,
            R"({"error":"Storage collection not declared: other"})");
  Send("kv/set", R"({"key":"who","value":1})");
  auto rows = Sql("SELECT plugin_id FROM _plugin_storage WHERE id = 'who'");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(Text(rows.rows[0][0]), "wire");
}

TEST_F(TransportTest, AnotherPluginsTokenActsAsThatPluginOnly) {
  auto other = Plugin(R"({"id":"other","version":"1.0.0"})");
  Send("kv/set", R"({"key":"secret","value":"mine"})");
  bridge::Reply r = bridge_->Handle("Bearer " + bridge_->tokens().IssueBridgeToken(other), "kv/get",
                                    R"({"key":"secret"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"result":null})");
}

// --- Envelope() on its own

TEST(EnvelopeTest, VoidIsEmptyObject) {
  bridge::Reply r = bridge::Bridge::Envelope(bridge::CallResult{});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{}");
}

TEST(EnvelopeTest, NullValueIsResultNull) {
  bridge::Reply r = bridge::Bridge::Envelope(bridge::CallResult{json::value(nullptr)});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"result":null})");
}

TEST(EnvelopeTest, NumbersRenderAsJavaScriptDoes) {
  json::array a;
  a.emplace_back(3.0);
  a.emplace_back(2.5);
  a.emplace_back(int64_t(-7));
  EXPECT_EQ(bridge::Bridge::Envelope(bridge::CallResult{json::value(a)}).body,
            R"({"result":[3,2.5,-7]})");
}

TEST(EnvelopeTest, ErrorMessageIsJsonEscaped) {
  bridge::Reply r = bridge::Bridge::Envelope(InvalidArgument("bad \"quote\"\nline\\"));
  EXPECT_EQ(r.status, 500);
  auto parsed = ParseJson(r.body);
  ASSERT_TRUE(parsed.ok()) << r.body;
  EXPECT_EQ(Str(*parsed, "error"), "bad \"quote\"\nline\\");
}

TEST(EnvelopeTest, EveryNonFenceErrorIs500) {
  for (Code c : {Code::kInvalidArgument, Code::kPermissionDenied, Code::kNotFound, Code::kConflict,
                 Code::kInternal, Code::kUnavailable}) {
    bridge::Reply r = bridge::Bridge::Envelope(Status(c, "boom"));
    EXPECT_EQ(r.status, 500) << int(c);
    EXPECT_EQ(r.body, R"({"error":"boom"})") << int(c);
  }
}

// Our extension: a non-fence code (limit violations, ended invocations) travels beside the
// message so the plugin's Error gets it as `code`; the status stays 500.
TEST(EnvelopeTest, UnavailableWithAnotherCodeIs500CarryingTheCode) {
  bridge::Reply r = bridge::Bridge::Envelope(
      Status(Code::kUnavailable, "later").With(ErrorCode::kInvocationEnded));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"later","code":"invocation_ended"})");
}

TEST(EnvelopeTest, FenceInProgressIs503Object) {
  bridge::Reply r =
      bridge::Bridge::Envelope(Status(Code::kUnavailable, "Media usage activation is in progress")
                                   .With(ErrorCode::kMediaUsageActivationInProgress));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"error":{"code":"MEDIA_USAGE_ACTIVATION_IN_PROGRESS",)"
                    R"("message":"Media usage activation is in progress","status":503}})");
}

TEST(EnvelopeTest, FenceCheckFailedIs503Object) {
  bridge::Reply r = bridge::Bridge::Envelope(
      Status(Code::kUnavailable, "Unable to verify media usage activation state")
          .With(ErrorCode::kMediaUsageActivationCheckFailed));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, R"({"error":{"code":"MEDIA_USAGE_ACTIVATION_CHECK_FAILED",)"
                    R"("message":"Unable to verify media usage activation state","status":503}})");
}

// Found by fuzz/bridge_fuzzer.cc: the error quoted a method name that is not UTF-8 as it was,
// and the plugin got a body that is not JSON.
TEST_F(TransportTest, AnUnknownMethodThatIsNotUtf8GetsAValidJsonError) {
  bridge::Reply r = Send(std::string("taxo\0kv/s\xce\x90\xf5\x86", 13), "{}");
  EXPECT_NE(r.status, 200);
  auto doc = ParseJson(r.body);
  ASSERT_TRUE(doc.ok()) << r.body;
  std::string error(doc->at("error").get_string());
  EXPECT_EQ(error.rfind("Unknown bridge method: taxo", 0), 0u) << error;
  EXPECT_NE(error.find("\xEF\xBF\xBD"), std::string::npos) << error;
}

}  // namespace
}  // namespace ps::testing
