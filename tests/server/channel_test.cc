// serve --embedded and the host channel (docs/channel.md), on the real binary: one stream
// carrying many requests answered by id, calls back into the embedding process for email and
// media, bad frames and over-cap bodies, the token, installs kept in memory only, and the host's
// exit when its stdin closes.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "serve_fixture.h"

namespace ps::testing {
namespace {

// One frame as read from the host: kind, id, the third field (status or op), body.
struct Frame {
  std::string kind;
  uint64_t id = 0;
  std::string third;
  std::string body;
};

// The embedding process's side of a channel, written from docs/channel.md alone.
class ChannelClient {
 public:
  ~ChannelClient() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Connects to `unix_path` and sends the upgrade; returns the HTTP status line's code.
  int Open(const std::string& unix_path, const std::string& token) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", unix_path.c_str());
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return -1;
    Send("GET /v1/channel HTTP/1.1\r\nHost: host\r\nAuthorization: Bearer " + token +
         "\r\nConnection: Upgrade\r\nUpgrade: plugin-sandbox-channel/1\r\n\r\n");
    for (int i = 0; i < 1000 && in_.find("\r\n\r\n") == std::string::npos; ++i) {
      if (!Fill()) return -1;
    }
    size_t end = in_.find("\r\n\r\n");
    if (end == std::string::npos) return -1;
    head_ = in_.substr(0, end);
    in_.erase(0, end + 4);
    return std::atoi(head_.substr(9, 3).c_str());
  }
  const std::string& head() const { return head_; }

  void Request(uint64_t id, const std::string& method, const std::string& target,
               const std::string& body = "") {
    Send("Q " + std::to_string(id) + " " + method + " " + target + " " +
         std::to_string(body.size()) + "\n" + body);
  }
  // A request and the next frame (an answer, or a call the request caused).
  std::optional<Frame> Call(uint64_t id, const std::string& method, const std::string& target,
                            const std::string& body = "") {
    Request(id, method, target, body);
    return Read();
  }
  void Reply(uint64_t id, int status, const std::string& body) {
    Send("R " + std::to_string(id) + " " + std::to_string(status) + " " +
         std::to_string(body.size()) + "\n" + body);
  }
  void Send(const std::string& bytes) {
    size_t off = 0;
    for (int i = 0; i < 100000 && off < bytes.size(); ++i) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += size_t(n);
    }
  }

  // The next frame, or nullopt when the channel ended or nothing came within 20 s.
  std::optional<Frame> Read() {
    for (int i = 0; i < 100000; ++i) {
      size_t nl = in_.find('\n');
      if (nl != std::string::npos) {
        std::istringstream h(in_.substr(0, nl));
        Frame f;
        size_t len = 0;
        h >> f.kind >> f.id >> f.third >> len;
        if (in_.size() >= nl + 1 + len) {
          f.body = in_.substr(nl + 1, len);
          in_.erase(0, nl + 1 + len);
          return f;
        }
      }
      if (!Fill()) return std::nullopt;
    }
    return std::nullopt;
  }

  // Whether the host closed the stream (within 20 s).
  bool Closed() {
    for (int i = 0; i < 100000; ++i) {
      if (!Fill()) return true;
    }
    return false;
  }

 private:
  bool Fill() {
    struct pollfd p = {fd_, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) return false;
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in_.append(buf, size_t(n));
    return true;
  }

  int fd_ = -1;
  std::string in_;
  std::string head_;
};

constexpr const char* kEchoManifest =
    R"({"id":"echo","version":"1.0.0","capabilities":["email:send","media:write","content:write"],)"
    R"("allowedHosts":[],"storage":{},"hooks":[],"routes":[],"admin":{}})";
constexpr const char* kEchoSource = R"JS(
export default {
  hooks: {
    "plugin:install": { handler: async (e, ctx) => { await ctx.kv.set("installed", true); } },
    "content:beforeSave": { handler: async (e) => ({ ...e.content, echoed: true }) },
  },
  routes: {
    fast: { handler: async (c) => ({ fast: c.input }) },
    slow: { handler: async (c) => { await new Promise((r) => setTimeout(r, 300)); return { slow: true }; } },
    mail: { handler: async (c, ctx) => {
      await ctx.email.send({ to: "ada@example.com", subject: "Hi", text: "from echo" });
      return { sent: true };
    } },
    upload: { handler: async (c, ctx) => {
      const r = await ctx.media.upload("a.pdf", "application/pdf", new TextEncoder().encode("bytes!"));
      return { key: r.storageKey };
    } },
    installed: { handler: async (c, ctx) => ({ installed: (await ctx.kv.get("installed")) ?? null }) },
  },
};
)JS";

std::string InstallBody() {
  json::object o;
  o["manifest"] = *ParseJson(kEchoManifest);
  o["code"] = kEchoSource;
  return Stringify(o);
}

class ChannelTest : public ::testing::Test {
 protected:
  ChannelTest() : serve_(dir_ / "data") {
    socket_ = (dir_ / "h.sock").string();
    serve_.default_listen = false;
    serve_.stdin_pipe = true;
    serve_.args = {"--embedded", "--listen", "unix:" + socket_};
  }
  void Open(ChannelClient& c) {
    ASSERT_EQ(c.Open(socket_, serve_.token()), 101) << c.head();
    EXPECT_NE(c.head().find("Upgrade: plugin-sandbox-channel/1"), std::string::npos) << c.head();
  }
  void Install(ChannelClient& c) {
    auto f = c.Call(1, "PUT", "/v1/plugins/echo", InstallBody());
    ASSERT_TRUE(f);
    ASSERT_EQ(f->third, "201") << f->body;
  }

  TempDir dir_;
  Serve serve_;
  std::string socket_;
};

TEST_F(ChannelTest, ManyRequestsOnOneStreamAreAnsweredByIdAsTheyFinish) {
  serve_.Start();
  ChannelClient c;
  Open(c);
  Install(c);
  c.Request(10, "POST", "/v1/plugins/echo/routes/slow", R"({"input":{}})");
  c.Request(11, "POST", "/v1/plugins/echo/routes/fast", R"({"input":{"n":11}})");
  c.Request(12, "POST", "/v1/plugins/echo/hooks/content:beforeSave",
            R"({"event":{"content":{"title":"t"},"collection":"posts","isNew":true}})");
  c.Request(13, "GET", "/v1/plugins/nope");
  std::map<uint64_t, Frame> got;
  std::vector<uint64_t> order;
  for (int i = 0; i < 4; ++i) {
    auto f = c.Read();
    ASSERT_TRUE(f) << serve_.Log();
    EXPECT_EQ(f->kind, "A");
    order.push_back(f->id);
    got[f->id] = *f;
  }
  EXPECT_EQ(order.back(), 10u) << "the slow route should be answered last";
  EXPECT_EQ(got[11].third, "200");
  EXPECT_EQ(got[11].body, R"({"fast":{"n":11}})");
  EXPECT_EQ(got[12].body, R"({"value":{"title":"t","echoed":true}})");
  EXPECT_EQ(got[13].third, "404");
  EXPECT_NE(got[13].body.find("\"not_found\""), std::string::npos) << got[13].body;
  EXPECT_EQ(got[10].body, R"({"slow":true})");
}

TEST_F(ChannelTest, EmailAndMediaGoBackToTheProcessThatOfferedThem) {
  serve_.Start();
  ChannelClient c;
  Open(c);
  Install(c);
  // Not offered yet: EmDash's own refusal.
  auto refused = c.Call(2, "POST", "/v1/plugins/echo/routes/mail", R"({"input":{}})");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->third, "500");
  EXPECT_NE(refused->body.find("Email is not configured. No email provider is available."),
            std::string::npos)
      << refused->body;

  auto hello = c.Call(3, "POST", "/v1/channel/hello", R"({"email":true,"media":true})");
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->body, R"({"ok":true})");

  auto call = c.Call(4, "POST", "/v1/plugins/echo/routes/mail", R"({"input":{}})");
  ASSERT_TRUE(call);
  ASSERT_EQ(call->kind, "C");
  EXPECT_EQ(call->third, "email");
  auto mail = ParseJson(call->body);
  ASSERT_TRUE(mail.ok()) << call->body;
  EXPECT_EQ(Str(mail->at("plugin")), "echo");
  EXPECT_EQ(Str(mail->at("message").at("to")), "ada@example.com");
  EXPECT_EQ(Str(mail->at("message").at("subject")), "Hi");
  c.Reply(call->id, 200, "{}");
  auto sent = c.Read();
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->id, 4u);
  EXPECT_EQ(sent->body, R"({"sent":true})");

  auto up = c.Call(5, "POST", "/v1/plugins/echo/routes/upload", R"({"input":{}})");
  ASSERT_TRUE(up);
  ASSERT_EQ(up->third, "media-upload") << up->body;
  size_t nl = up->body.find('\n');
  ASSERT_NE(nl, std::string::npos);
  auto head = ParseJson(up->body.substr(0, nl));
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(Str(head->at("contentType")), "application/pdf");
  EXPECT_EQ(up->body.substr(nl + 1), "bytes!");
  c.Reply(up->id, 200, "{}");
  auto uploaded = c.Read();
  ASSERT_TRUE(uploaded);
  EXPECT_EQ(uploaded->body, "{\"key\":\"" + Str(head->at("key")) + "\"}");

  // The site's email pipeline failing: the plugin sees its message.
  auto again = c.Call(6, "POST", "/v1/plugins/echo/routes/mail", R"({"input":{}})");
  ASSERT_TRUE(again);
  ASSERT_EQ(again->kind, "C");
  c.Reply(again->id, 500, R"({"error":{"message":"SMTP said no"}})");
  auto failed = c.Read();
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->id, 6u);
  EXPECT_NE(failed->body.find("SMTP said no"), std::string::npos) << failed->body;
}

TEST_F(ChannelTest, AnOverCapBodyIsRefusedAndTheChannelGoesOn) {
  serve_.args.push_back("--max-body-mb");
  serve_.args.push_back("1");
  serve_.Start();
  ChannelClient c;
  Open(c);
  auto big = c.Call(1, "POST", "/v1/hooks/content:afterSave", std::string((1 << 20) + 10, 'x'));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->third, "413");
  EXPECT_NE(big->body.find("payload_too_large"), std::string::npos);
  auto ok = c.Call(2, "GET", "/healthz");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->id, 2u);
  EXPECT_EQ(ok->third, "200");
}

TEST_F(ChannelTest, AMalformedFrameEndsOnlyItsChannel) {
  serve_.Start();
  ChannelClient bad, good;
  Open(bad);
  Open(good);
  bad.Send("Q one GET /healthz 0\n");
  EXPECT_TRUE(bad.Closed());
  auto f = good.Call(1, "GET", "/healthz");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->third, "200");
  EXPECT_NE(serve_.Log().find("closed: a malformed frame header"), std::string::npos)
      << serve_.Log();
}

TEST_F(ChannelTest, AWrongTokenGetsNoChannel) {
  serve_.Start();
  ChannelClient c;
  EXPECT_EQ(c.Open(socket_, "not-the-token"), 401);
}

TEST_F(ChannelTest, InstallsLiveInMemoryAndFireNoLifecycleHook) {
  serve_.Start();
  {
    ChannelClient c;
    Open(c);
    Install(c);
    auto f = c.Call(2, "POST", "/v1/plugins/echo/routes/installed", R"({"input":{}})");
    ASSERT_TRUE(f);
    EXPECT_EQ(f->body, R"({"installed":null})") << "plugin:install must be EmDash's to fire";
    auto d = c.Call(3, "DELETE", "/v1/plugins/echo");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->body, R"({"id":"echo","uninstalled":true,"keptData":true})");
    Install(c);
  }
  ASSERT_EQ(serve_.Stop(), 0);
  serve_.Start();
  ChannelClient c;
  Open(c);
  auto f = c.Call(1, "GET", "/v1/plugins");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->body, "[]") << "an embedded host starts with no plugin: the site loads them";
}

TEST_F(ChannelTest, TheHostExitsWhenItsStdinCloses) {
  serve_.Start();
  ChannelClient c;
  Open(c);
  Install(c);
  serve_.CloseStdin();
  EXPECT_TRUE(Eventually([&] { return serve_.Exited(); }, std::chrono::seconds(30)))
      << serve_.Log();
  EXPECT_NE(serve_.Log().find("stdin closed"), std::string::npos) << serve_.Log();
  EXPECT_TRUE(c.Closed());
}

}  // namespace
}  // namespace ps::testing
