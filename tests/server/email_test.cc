// ctx.email.send through the host's email pipeline: the log transport (outbox.jsonl), the
// email:beforeSend hooks, and the smtp transport against a minimal SMTP server on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "serve_fixture.h"

namespace ps::testing {
namespace {

constexpr const char* kMailerManifest = R"({"id":"mailer","version":"1",
  "capabilities":["email:send"],"routes":["send"]})";
constexpr const char* kMailerSource = R"JS(
export default { routes: { send: async ({ input }, ctx) => {
  await ctx.email.send({ to: input.to, subject: input.subject, text: "Hello\n.dot line\nbye" });
  return "sent";
} } };
)JS";

constexpr const char* kGuardManifest = R"({"id":"mailguard","version":"1",
  "capabilities":["hooks.email-events:register"],"hooks":["email:beforeSend"]})";
constexpr const char* kGuardSource = R"JS(
export default { hooks: { "email:beforeSend": async ({ message }) =>
  message.subject.includes("spam") ? false : { ...message, subject: "[guarded] " + message.subject } } };
)JS";

std::vector<json::value> Outbox(const fs::path& data) {
  std::vector<json::value> out;
  std::istringstream in(ReadFile(data / "outbox.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    auto v = ParseJson(line);
    if (v.ok()) out.push_back(*v);
  }
  return out;
}

TEST_F(ServeTest, EmailGoesThroughBeforeSendHooksToTheOutbox) {
  AddPlugin("mailer", kMailerManifest, kMailerSource);
  AddPlugin("mailguard", kGuardManifest, kGuardSource);
  StartWithPlugins();
  Reply ok = serve_.Route("mailer", "send", R"({"to":"a@example.com","subject":"Hi"})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  Reply spam = serve_.Route("mailer", "send", R"({"to":"a@example.com","subject":"spam!"})");
  ASSERT_EQ(spam.status, 200) << spam.body;  // cancelled silently, as on EmDash
  auto lines = Outbox(serve_.data());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Str(lines[0].at("from")), "mailer");
  EXPECT_EQ(Str(lines[0].at("message").at("to")), "a@example.com");
  EXPECT_EQ(Str(lines[0].at("message").at("subject")), "[guarded] Hi");
}

// Accepts one SMTP session and keeps what it was sent.
class FakeSmtp {
 public:
  FakeSmtp() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 1);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeSmtp() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  std::string Received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }

 private:
  void Serve() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    timeval tv{10, 0};
    ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto send = [&](const std::string& s) { (void)!::write(c, s.data(), s.size()); };
    send("220 fake ESMTP\r\n");
    std::string buf;
    bool in_data = false;
    for (int rounds = 0; rounds < 1000; ++rounds) {
      char tmp[4096];
      ssize_t n = ::read(c, tmp, sizeof tmp);
      if (n <= 0) break;
      buf.append(tmp, size_t(n));
      for (;;) {
        if (in_data) {
          size_t end = buf.find("\r\n.\r\n");
          if (end == std::string::npos) break;
          {
            std::lock_guard<std::mutex> lock(mu_);
            received_ += buf.substr(0, end + 2);
          }
          buf.erase(0, end + 5);
          in_data = false;
          send("250 queued\r\n");
          continue;
        }
        size_t eol = buf.find("\r\n");
        if (eol == std::string::npos) break;
        std::string line = buf.substr(0, eol);
        buf.erase(0, eol + 2);
        {
          std::lock_guard<std::mutex> lock(mu_);
          commands_ += line + "\n";
        }
        if (line.rfind("EHLO", 0) == 0 || line.rfind("HELO", 0) == 0) {
          send("250-fake\r\n250 8BITMIME\r\n");
        } else if (line == "DATA") {
          in_data = true;
          send("354 go ahead\r\n");
        } else if (line == "QUIT") {
          send("221 bye\r\n");
          ::close(c);
          return;
        } else {
          send("250 ok\r\n");
        }
      }
    }
    ::close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::string received_, commands_;
};

TEST_F(ServeTest, SmtpTransportDeliversTheMessage) {
  FakeSmtp smtp;
  AddPlugin("mailer", kMailerManifest, kMailerSource);
  serve_.args = {"--email-transport", "smtp",
                 "--smtp-url",        "smtp://127.0.0.1:" + std::to_string(smtp.port()),
                 "--smtp-from",       "Site <site@example.com>"};
  StartWithPlugins();
  Reply r = serve_.Route("mailer", "send", R"({"to":"b@example.com","subject":"Over SMTP"})");
  ASSERT_EQ(r.status, 200) << r.body << serve_.Log();
  std::string got = smtp.Received();
  EXPECT_NE(got.find("Subject: Over SMTP\r\n"), std::string::npos) << got;
  EXPECT_NE(got.find("To: b@example.com\r\n"), std::string::npos);
  EXPECT_NE(got.find("From: Site <site@example.com>\r\n"), std::string::npos);
  EXPECT_NE(got.find("X-Plugin-Sandbox-Plugin: mailer\r\n"), std::string::npos);
  EXPECT_NE(got.find("\r\nHello\r\n..dot line\r\nbye\r\n"), std::string::npos) << got;
  EXPECT_FALSE(fs::exists(serve_.data() / "outbox.jsonl"));
}

}  // namespace
}  // namespace ps::testing
