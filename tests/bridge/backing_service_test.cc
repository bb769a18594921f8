// The backing service over real Unix sockets: authentication, socket binding, invocation checks,
// body caps and keep-alive.
#include "bridge/backing_service.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
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
          if (id == "alpha" && version == "1" && inv == "live" && !ended_) return live_;
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
  // What the same call as a request gets, in a channel answer's form: "<status>\n<body>".
  std::string AsRequest(const std::string& method, const std::string& params) {
    auto r = Post(method, params, Token(a_));
    return std::to_string(r.status) + "\n" + r.body;
  }

  bridge::Grant a_, b_;
  std::shared_ptr<bridge::Invocation> live_ = std::make_shared<bridge::Invocation>();
  std::atomic<bool> ended_{false};  // the "live" invocation has ended
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
  EXPECT_EQ(SendFiller(fd, length), length);
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

// ---- the call channel ---------------------------------------------------------------------------

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using Local = asio::local::stream_protocol;

// A WebSocket client of the call channel, as the wrapper opens it; every read has a deadline.
class ChannelClient {
 public:
  // Connects and asks for the channel; `status` is 101 when it was granted, else the HTTP
  // status of the refusal (and `refusal` its body).
  ChannelClient(const std::string& socket, const std::string& token, const std::string& inv,
                const std::string& target = "/_channel")
      : ws_(ioc_) {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).connect(Local::endpoint(socket), ec);
    if (ec) return;
    SetDeadline();
    ws_.set_option(websocket::stream_base::decorator([&](websocket::request_type& req) {
      if (!token.empty()) req.set(beast::http::field::authorization, "Bearer " + token);
      if (!inv.empty()) req.set("x-ps-invocation", inv);
    }));
    websocket::response_type res;
    ws_.handshake(res, "bridge", target, ec);
    status = int(res.result_int());
    refusal = res.body();
  }
  // One message out, one in: the answer's "<status>\n<body>" after the id, which must match.
  std::string Call(int id, const std::string& method, const std::string& params) {
    beast::error_code ec;
    ws_.text(true);
    ws_.write(asio::buffer(std::to_string(id) + " " + method + "\n" + params), ec);
    if (ec) return "write failed: " + ec.message();
    std::string in = Read();
    std::string prefix = std::to_string(id) + " ";
    if (in.rfind(prefix, 0) != 0) return "unexpected answer: " + in;
    return in.substr(prefix.size());
  }
  void Send(const std::string& raw) {
    beast::error_code ec;
    ws_.write(asio::buffer(raw), ec);
  }
  // The next message, or "closed: ..." when the channel ends instead.
  std::string Read() {
    SetDeadline();
    beast::flat_buffer b;
    beast::error_code ec;
    ws_.read(b, ec);
    if (ec) return "closed: " + ec.message();
    return beast::buffers_to_string(b.data());
  }
  void Close() {
    beast::error_code ec;
    ws_.close(websocket::close_code::normal, ec);
  }

  int status = 0;
  std::string refusal;

 private:
  void SetDeadline() {
    // Blocking calls with a receive timeout: a hung service fails the test instead of hanging.
    timeval tv{10, 0};
    ::setsockopt(beast::get_lowest_layer(ws_).native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv,
                 sizeof tv);
  }
  asio::io_context ioc_;
  websocket::stream<Local::socket> ws_;
};

TEST_F(BackingServiceTest, ChannelMessagesAreAnsweredAsTheirRequestsWouldBe) {
  ChannelClient c(socket_, Token(a_), "live");
  ASSERT_EQ(c.status, 101) << c.refusal;
  EXPECT_EQ(c.Call(1, "kv/set", R"({"key":"k","value":[1,"two"]})"), "200\n{}");
  EXPECT_EQ(c.Call(2, "kv/get", R"({"key":"k"})"), "200\n{\"result\":[1,\"two\"]}");
  // Errors carry the request's status and body.
  EXPECT_EQ(c.Call(3, "http/fetch", R"({"url":"https://example.com"})"),
            AsRequest("http/fetch", R"({"url":"https://example.com"})"));
  EXPECT_EQ(c.Call(4, "kv/set", "{nope").rfind("400\n{\"error\":\"Invalid JSON: ", 0), 0u);
  EXPECT_EQ(c.Call(5, "kv/set", "[1]"), "400\n{\"error\":\"Request body must be a JSON object\"}");
  EXPECT_EQ(c.Call(6, "nope/nothing", "{}"), AsRequest("nope/nothing", "{}"));
  EXPECT_EQ(service_->channels_opened(), 1u);
  EXPECT_EQ(service_->calls_served(), 6u + 2u);  // six messages, two requests
  c.Close();
}

TEST_F(BackingServiceTest, AChannelNeedsThisPluginsTokenAndALiveInvocation) {
  auto forged = Token(a_);
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  ChannelClient bad(socket_, forged, "live");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.refusal, R"({"error":"Invalid auth token"})");
  ChannelClient other(socket_, Token(b_), "live");  // beta's valid token on alpha's socket
  EXPECT_EQ(other.status, 401);
  ChannelClient none(socket_, "", "live");
  EXPECT_EQ(none.status, 401);
  ChannelClient ended(socket_, Token(a_), "gone");
  EXPECT_NE(ended.status, 101);
  EXPECT_NE(ended.refusal.find("only accepted during an invocation"), std::string::npos)
      << ended.refusal;
  ChannelClient elsewhere(socket_, Token(a_), "live", "/kv/get");
  EXPECT_EQ(elsewhere.status, 404);
  EXPECT_EQ(service_->channels_opened(), 0u);
}

TEST_F(BackingServiceTest, ChannelMessagesAfterTheInvocationEndedAreRefused) {
  ChannelClient c(socket_, Token(a_), "live");
  ASSERT_EQ(c.status, 101) << c.refusal;
  EXPECT_EQ(c.Call(1, "kv/get", R"({"key":"k"})"), "200\n{\"result\":null}");
  ended_ = true;
  std::string late = c.Call(2, "kv/set", R"({"key":"k","value":1})");
  EXPECT_EQ(late, AsRequest("kv/set", R"({"key":"k","value":1})"));
  EXPECT_NE(late.find("invocation_ended"), std::string::npos) << late;
  ended_ = false;
  EXPECT_EQ(c.Call(3, "kv/get", R"({"key":"k"})"), "200\n{\"result\":null}");  // nothing written
}

TEST_F(BackingServiceTest, ChannelMessagesCountTowardsTheInvocationsBridgeCallLimit) {
  live_->bridge_call_limit = 2;
  ChannelClient c(socket_, Token(a_), "live");
  ASSERT_EQ(c.status, 101) << c.refusal;
  EXPECT_EQ(c.Call(1, "kv/get", R"({"key":"k"})"), "200\n{\"result\":null}");
  EXPECT_EQ(c.Call(2, "kv/get", R"({"key":"k"})"), "200\n{\"result\":null}");
  std::string third = c.Call(3, "kv/get", R"({"key":"k"})");
  EXPECT_NE(third.find("exceeded the limit of 2 bridge calls"), std::string::npos) << third;
}

TEST_F(BackingServiceTest, EndingTheInvocationEndsItsChannelWhateverThePluginDoes) {
  ChannelClient c(socket_, Token(a_), "live");
  ASSERT_EQ(c.status, 101) << c.refusal;
  EXPECT_EQ(c.Call(1, "kv/get", R"({"key":"k"})"), "200\n{\"result\":null}");
  EXPECT_EQ(service_->channels_open(), 1u);
  service_->EndInvocation("other");  // another invocation's end leaves it alone
  EXPECT_EQ(c.Call(2, "kv/get", R"({"key":"k"})"), "200\n{\"result\":null}");
  service_->EndInvocation("live");
  EXPECT_EQ(c.Read().rfind("closed: ", 0), 0u);
  EXPECT_TRUE(Eventually([&] { return service_->channels_open() == 0; }));
}

TEST_F(BackingServiceTest, AChannelMessageOverTheBodyCapGets413AndTheChannelStays) {
  ChannelClient c(socket_, Token(a_), "live");
  ASSERT_EQ(c.status, 101) << c.refusal;
  std::string big = R"({"key":"k","value":")" + std::string(10 * 1024 * 1024, 'x') + R"("})";
  EXPECT_EQ(c.Call(1, "kv/set", big), "413\n{\"error\":\"Request body too large\"}");
  EXPECT_EQ(c.Call(2, "kv/get", R"({"key":"k"})"), "200\n{\"result\":null}");
}

TEST_F(BackingServiceTest, AMalformedChannelMessageClosesTheChannel) {
  ChannelClient c(socket_, Token(a_), "live");
  ASSERT_EQ(c.status, 101) << c.refusal;
  c.Send("no newline or id");
  EXPECT_EQ(c.Read().rfind("closed: ", 0), 0u);
}

TEST_F(BackingServiceTest, ClosingTheListenerEndsItsOpenChannels) {
  ChannelClient c(socket_, Token(a_), "live");
  ASSERT_EQ(c.status, 101) << c.refusal;
  service_->Close(socket_);
  EXPECT_EQ(c.Read().rfind("closed: ", 0), 0u);
}

}  // namespace
}  // namespace ps::testing
