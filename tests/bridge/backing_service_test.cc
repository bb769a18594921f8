// The backing service over real Unix sockets: authentication, socket binding, invocation checks,
// body caps and keep-alive.
#include "bridge/backing_service.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>

#include "fixture.h"

namespace ps::testing {
namespace {

struct HttpReply {
  long status = 0;
  std::string body;
};

class BackingServiceTest : public BridgeTest {
 protected:
  void SetUp() override {
    BridgeTest::SetUp();
    a_ = Plugin(R"({"id":"alpha","version":"1"})");
    b_ = Plugin(R"({"id":"beta","version":"1"})");
    service_ = std::make_unique<bridge::BackingService>(
        *bridge_,
        [this](const std::string& id, const std::string& version,
               const std::string& inv) -> std::shared_ptr<bridge::Invocation> {
          if (id == "alpha" && version == "1" && inv == "live") return live_;
          return nullptr;
        });
    socket_ = (dir_ / "alpha.sock").string();
    ASSERT_TRUE(service_->Listen(socket_, "alpha", "1").ok());
    curl_ = curl_easy_init();
  }
  void TearDown() override {
    curl_easy_cleanup(curl_);
    service_.reset();
  }

  // One POST on a reused handle (keep-alive across calls).
  HttpReply Post(const std::string& method, const std::string& body, const std::string& token,
                 const std::string& invocation = "live") {
    HttpReply r;
    struct curl_slist* h = nullptr;
    if (!token.empty()) h = curl_slist_append(h, ("Authorization: Bearer " + token).c_str());
    if (!invocation.empty()) h = curl_slist_append(h, ("x-ps-invocation: " + invocation).c_str());
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(curl_, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
    curl_easy_setopt(curl_, CURLOPT_URL, ("http://bridge/" + method).c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.size()));
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(
        curl_, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* u) {
          static_cast<std::string*>(u)->append(d, s * n);
          return s * n;
        });
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
    CURLcode rc = curl_easy_perform(curl_);
    EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    return r;
  }

  std::string Token(const bridge::Grant& g) { return bridge_->tokens().IssueBridgeToken(g); }

  bridge::Grant a_, b_;
  std::shared_ptr<bridge::Invocation> live_ = std::make_shared<bridge::Invocation>();
  std::unique_ptr<bridge::BackingService> service_;
  std::string socket_;
  CURL* curl_ = nullptr;
};

TEST_F(BackingServiceTest, ServesCallsOnOneKeptAliveConnection) {
  auto set = Post("kv/set", R"({"key":"k","value":41})", Token(a_));
  EXPECT_EQ(set.status, 200);
  EXPECT_EQ(set.body, "{}");
  for (int i = 0; i < 20; ++i) {
    auto get = Post("kv/get", R"({"key":"k"})", Token(a_));
    ASSERT_EQ(get.status, 200);
    EXPECT_EQ(get.body, R"({"result":41})");
  }
  long connects = 0;
  curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &connects);
  EXPECT_EQ(connects, 0);  // the last call reused the connection
  EXPECT_EQ(live_->bridge_calls.load(), 21);
  EXPECT_EQ(service_->calls_served(), 21u);
}

TEST_F(BackingServiceTest, AnotherPluginsValidTokenIsRefusedOnThisSocket) {
  auto r = Post("kv/get", R"({"key":"k"})", Token(b_));
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, R"({"error":"Invalid auth token"})");
}

TEST_F(BackingServiceTest, ForgedAndMissingTokensAreRefused) {
  auto forged = Token(a_);
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Post("kv/get", "{}", forged).body, R"({"error":"Invalid auth token"})");
  auto none = Post("kv/get", "{}", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body, R"({"error":"Missing or invalid authorization"})");
  bridge::TokenAuthority other(std::string(64, 'b'));
  EXPECT_EQ(Post("kv/get", "{}", other.IssueBridgeToken(a_)).status, 401);
}

TEST_F(BackingServiceTest, CallsOutsideALiveInvocationAreRefused) {
  auto ended = Post("kv/get", R"({"key":"k"})", Token(a_), "finished-long-ago");
  EXPECT_EQ(ended.status, 500);
  EXPECT_NE(ended.body.find("only accepted during an invocation"), std::string::npos) << ended.body;
  EXPECT_NE(ended.body.find(R"("code":"invocation_ended")"), std::string::npos) << ended.body;
  EXPECT_EQ(Post("kv/get", R"({"key":"k"})", Token(a_), "").status, 500);
}

TEST_F(BackingServiceTest, BodiesOverTenMebibytesGet413AndBadJson400) {
  std::string big(10 * 1024 * 1024 + 1, ' ');
  auto r = Post("kv/set", big, Token(a_));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body, R"({"error":"Request body too large"})");
  auto bad = Post("kv/set", "{nope", Token(a_));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body.rfind(R"({"error":"Invalid JSON: )", 0), 0u) << bad.body;
  auto arr = Post("kv/set", "[1]", Token(a_));
  EXPECT_EQ(arr.status, 400);
  EXPECT_EQ(arr.body, R"({"error":"Request body must be a JSON object"})");
}

TEST_F(BackingServiceTest, ASenderStillWritingAnOversizedBodyCanFinishAndRead413) {
  // Beast refuses the body by its Content-Length before reading it; the service answers 413
  // and lingers, so a client that writes the whole body before reading (workerd, curl) still
  // gets the answer. Here the answer is read first, which makes the race deterministic: after a
  // plain close the body's writes would fail.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const size_t length = 10 * 1024 * 1024 + 1;
  std::string head =
      "POST /kv/set HTTP/1.1\r\nHost: bridge\r\nContent-Length: " + std::to_string(length) +
      "\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), ssize_t(head.size()));
  std::string answer;
  char buf[4096];
  for (int i = 0; i < 1000 && answer.find("Request body too large") == std::string::npos; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    answer.append(buf, size_t(n));
  }
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  std::string chunk(64 * 1024, 'x');
  size_t sent = 0;
  while (sent < length) {
    ssize_t w = ::send(fd, chunk.data(), std::min(chunk.size(), length - sent), MSG_NOSIGNAL);
    if (w <= 0) break;
    sent += size_t(w);
  }
  EXPECT_EQ(sent, length);
  ::shutdown(fd, SHUT_WR);
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 10000), 1);
  EXPECT_EQ(::recv(fd, buf, sizeof buf, 0), 0);  // then the service closes
  ::close(fd);
}

TEST_F(BackingServiceTest, ClosedListenerRefusesNewConnections) {
  EXPECT_EQ(Post("kv/get", R"({"key":"k"})", Token(a_)).status, 200);
  service_->Close(socket_);
  CURL* fresh = curl_easy_init();
  curl_easy_setopt(fresh, CURLOPT_UNIX_SOCKET_PATH, socket_.c_str());
  curl_easy_setopt(fresh, CURLOPT_URL, "http://bridge/kv/get");
  curl_easy_setopt(fresh, CURLOPT_POSTFIELDS, "{}");
  curl_easy_setopt(fresh, CURLOPT_TIMEOUT_MS, 5000L);
  EXPECT_NE(curl_easy_perform(fresh), CURLE_OK);
  curl_easy_cleanup(fresh);
}

TEST_F(BackingServiceTest, SubrequestLimitIsCountedPerInvocation) {
  live_->subrequest_limit = 2;
  // http/fetch needs the capability; alpha lacks it, so each call is denied but still counted
  // only after the capability check: the limit is about fetches actually attempted.
  auto r = Post("http/fetch", R"({"url":"https://example.com"})", Token(a_));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, R"({"error":"Missing capability: network:request"})");
  EXPECT_EQ(live_->subrequests.load(), 0);
}

}  // namespace
}  // namespace ps::testing
