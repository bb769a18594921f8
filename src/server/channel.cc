#include "server/channel.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

#include "common/json.h"
#include "server/api.h"

namespace ps::server {
namespace {

constexpr size_t kHeaderLineLimit = 8 * 1024;
constexpr uint64_t kMaxId = (uint64_t(1) << 53) - 1;
constexpr const char* kProtocol = "plugin-sandbox-channel/1";

// An exchange the host started (a C frame) waiting for its R frame.
struct PendingCall {
  bool done = false;
  int status = 0;
  std::string body;
};

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= line.size() && out.size() < 8) {
    size_t sp = line.find(' ', pos);
    out.push_back(line.substr(pos, sp == std::string_view::npos ? line.npos : sp - pos));
    if (sp == std::string_view::npos) break;
    pos = sp + 1;
  }
  return out;
}

bool Number(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 16) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out <= max;
}

}  // namespace

struct Channel {
  int fd = -1;
  std::string authorization;  // the upgrade's, sent with every request
  std::string peer;
  std::mutex write_mu;
  std::mutex mu;
  std::condition_variable cv;
  bool open = true;                                        // under mu
  int inflight = 0;                                        // requests running, under mu
  std::map<uint64_t, std::shared_ptr<PendingCall>> calls;  // under mu

  // Writes one frame whole, or marks the channel broken (its reader then ends). Writes are
  // bounded by SO_SNDTIMEO, so a peer that stops reading cannot hold a writer for ever.
  bool Write(const std::string& header, std::string_view body) {
    std::lock_guard<std::mutex> lock(write_mu);
    struct iovec iov[2] = {{const_cast<char*>(header.data()), header.size()},
                           {const_cast<char*>(body.data()), body.size()}};
    int n_iov = body.empty() ? 1 : 2;
    struct iovec* cur = iov;
    for (int guard = 0; guard < 1000000 && n_iov > 0; ++guard) {
      ssize_t n = ::writev(fd, cur, n_iov);
      if (n < 0) {
        if (errno == EINTR) continue;
        ::shutdown(fd, SHUT_RDWR);
        return false;
      }
      size_t left = size_t(n);
      while (n_iov > 0 && left >= cur->iov_len) {
        left -= cur->iov_len;
        ++cur;
        --n_iov;
      }
      if (n_iov > 0) {
        cur->iov_base = static_cast<char*>(cur->iov_base) + left;
        cur->iov_len -= left;
      }
    }
    return n_iov == 0;
  }
};

struct ChannelHub::Impl : std::enable_shared_from_this<ChannelHub::Impl> {
  HttpHandler handler;
  ChannelOptions opt;
  boost::asio::thread_pool pool;
  std::atomic<uint64_t> next_call{1};
  mutable std::mutex mu;
  std::set<std::shared_ptr<Channel>> channels;
  std::shared_ptr<Channel> email;  // the channel that most recently offered each
  std::shared_ptr<Channel> media;

  Impl(HttpHandler h, ChannelOptions o)
      : handler(std::move(h)), opt(std::move(o)), pool(size_t(std::max(1, opt.workers))) {}

  void Offer(const std::shared_ptr<Channel>& ch, bool offers_email, bool offers_media) {
    bool email_changed, email_now;
    {
      std::lock_guard<std::mutex> lock(mu);
      const bool email_before = email != nullptr;
      if (offers_email) {
        email = ch;
      } else if (email == ch) {
        email = nullptr;
      }
      if (offers_media) {
        media = ch;
      } else if (media == ch) {
        media = nullptr;
      }
      email_now = email != nullptr;
      email_changed = email_before != email_now;
    }
    if (email_changed && opt.on_email) opt.on_email(email_now ? EmailSender() : nullptr);
  }

  // ctx.email.send through the channel that offered email (docs/channel.md).
  bridge::EmailSender EmailSender() {
    return [impl = shared_from_this()](const json::object& message,
                                       const std::string& source) -> Status {
      json::object body;
      body["plugin"] = source;
      body["message"] = message;
      return impl->Call("email", Stringify(body)).status();
    };
  }

  bool Offers(const std::string& what) const {
    std::lock_guard<std::mutex> lock(mu);
    return what == "email" ? email != nullptr : what == "media" ? media != nullptr : false;
  }

  Result<std::string> Call(const std::string& op, std::string body) {
    std::shared_ptr<Channel> ch;
    {
      std::lock_guard<std::mutex> lock(mu);
      ch = op == "email" ? email : media;
    }
    if (!ch) return Status(Code::kUnavailable, "the site offers no " + op + " handler");
    uint64_t id = next_call.fetch_add(1);
    auto call = std::make_shared<PendingCall>();
    {
      std::lock_guard<std::mutex> lock(ch->mu);
      if (!ch->open) return Status(Code::kUnavailable, "the site's channel is closed");
      ch->calls[id] = call;
    }
    std::string header =
        "C " + std::to_string(id) + " " + op + " " + std::to_string(body.size()) + "\n";
    bool sent = ch->Write(header, body);
    std::unique_lock<std::mutex> lock(ch->mu);
    if (sent) {
      ch->cv.wait_for(lock, opt.call_timeout, [&] { return call->done || !ch->open; });
    }
    ch->calls.erase(id);
    if (!call->done) {
      return Status(Code::kUnavailable, sent && ch->open
                                            ? "the site did not answer " + op + " within " +
                                                  std::to_string(opt.call_timeout.count()) + " ms"
                                            : "the site's channel closed during " + op);
    }
    if (call->status == 200) return std::move(call->body);
    std::string message = "the site's " + op + " failed";
    if (auto doc = ParseJson(call->body); doc.ok() && doc->is_object()) {
      if (auto* e = doc->get_object().if_contains("error"); e && e->is_object()) {
        if (auto* m = e->get_object().if_contains("message"); m && m->is_string())
          message = std::string(m->get_string());
      }
    }
    return Status(Code::kInternal, message);
  }

  // One request frame, on the pool.
  void Run(const std::shared_ptr<Channel>& ch, uint64_t id, std::string method, std::string target,
           std::string body) {
    HttpResponse res;
    if (method == "POST" && target == "/v1/channel/hello") {
      res = Hello(ch, body);
    } else {
      HttpRequest r;
      r.method = std::move(method);
      r.target = std::move(target);
      SplitTarget(&r);
      r.headers.emplace_back("authorization", ch->authorization);
      r.body = std::move(body);
      r.peer = ch->peer;
      try {
        res = handler(r);
      } catch (const std::exception& e) {
        spdlog::error("channel: handler for {} {} threw: {}", r.method, r.path, e.what());
        res = Api::Error(ErrorCode::kInternalError, std::string("internal error: ") + e.what());
      }
    }
    Answer(*ch, id, res.status, res.body);
    std::lock_guard<std::mutex> lock(ch->mu);
    --ch->inflight;
    ch->cv.notify_all();
  }

  HttpResponse Hello(const std::shared_ptr<Channel>& ch, const std::string& body) {
    HttpResponse res;
    auto doc = ParseJson(body);
    if (!doc.ok() || !doc->is_object()) {
      return Api::Error(ErrorCode::kBadRequest,
                        "hello: expected {\"email\": bool, \"media\": bool}");
    }
    auto flag = [&](const char* k) {
      const json::value* v = doc->get_object().if_contains(k);
      return v && v->is_bool() && v->get_bool();
    };
    Offer(ch, flag("email"), flag("media"));
    res.body = "{\"ok\":true}";
    return res;
  }

  static void Answer(Channel& ch, uint64_t id, int status, std::string_view body) {
    ch.Write("A " + std::to_string(id) + " " + std::to_string(status) + " " +
                 std::to_string(body.size()) + "\n",
             body);
  }
};

ChannelHub::ChannelHub(HttpHandler handler, ChannelOptions options)
    : impl_(std::make_shared<Impl>(std::move(handler), std::move(options))) {}

ChannelHub::~ChannelHub() {
  Close();
  impl_->pool.join();
}

HttpResponse ChannelHub::Upgrade(const HttpRequest& request) {
  const std::string* up = request.Header("upgrade");
  if (!up || *up != kProtocol) {
    return Api::Error(ErrorCode::kBadRequest,
                      std::string("/v1/channel: expected the header Upgrade: ") + kProtocol +
                          " (docs/channel.md)");
  }
  HttpResponse res;
  res.status = 101;
  res.headers = {{"Connection", "Upgrade"}, {"Upgrade", kProtocol}};
  HttpRequest upgrade = request;
  upgrade.body.clear();
  res.takeover = [this, upgrade](int fd, std::string pending) {
    Serve(fd, std::move(pending), upgrade);
  };
  return res;
}

void ChannelHub::Serve(int fd, std::string pending, const HttpRequest& upgrade) {
  Impl& s = *impl_;
  auto ch = std::make_shared<Channel>();
  ch->fd = fd;
  ch->peer = upgrade.peer;
  if (const std::string* a = upgrade.Header("authorization")) ch->authorization = *a;
  struct timeval tv = {30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.channels.insert(ch);
  }
  spdlog::info("channel opened ({})", ch->peer);

  std::string in = std::move(pending);
  size_t discard = 0;  // bytes of an over-cap body still to drop
  std::string why;
  char buf[64 * 1024];
  for (;;) {
    // Frames complete in `in`.
    while (why.empty()) {
      if (discard > 0) {
        size_t n = std::min(discard, in.size());
        in.erase(0, n);
        discard -= n;
        if (discard > 0) break;
      }
      size_t nl = in.find('\n');
      if (nl == std::string::npos) {
        if (in.size() > kHeaderLineLimit) why = "a frame header longer than 8 KiB";
        break;
      }
      if (nl > kHeaderLineLimit) {
        why = "a frame header longer than 8 KiB";
        break;
      }
      auto f = Fields(std::string_view(in).substr(0, nl));
      uint64_t id = 0, len = 0, status = 0;
      const std::string_view kind = f[0];
      bool request = kind == "Q" && f.size() == 5;
      bool reply = kind == "R" && f.size() == 4;
      if ((!request && !reply) || !Number(f[1], kMaxId, &id) ||
          !Number(f.back(), uint64_t(1) << 40, &len) || (reply && !Number(f[2], 999, &status))) {
        why = "a malformed frame header: " + std::string(in.substr(0, std::min<size_t>(nl, 80)));
        break;
      }
      if (request) {
        std::string method(f[2]), target(f[3]);
        size_t limit = s.opt.body_limit ? s.opt.body_limit(method, target) : size_t(1) << 20;
        if (len > limit) {
          in.erase(0, nl + 1);
          discard = len;
          Impl::Answer(*ch, id, 413,
                       Api::Error(ErrorCode::kPayloadTooLarge,
                                  "request body of " + std::to_string(len) +
                                      " bytes is larger than " + std::to_string(limit) + " bytes")
                           .body);
          continue;
        }
        if (in.size() < nl + 1 + len) break;
        std::string body = in.substr(nl + 1, len);
        in.erase(0, nl + 1 + len);
        {
          std::lock_guard<std::mutex> lock(ch->mu);
          ++ch->inflight;
        }
        boost::asio::post(s.pool, [impl = impl_, ch, id, method = std::move(method),
                                   target = std::move(target), body = std::move(body)]() mutable {
          impl->Run(ch, id, std::move(method), std::move(target), std::move(body));
        });
      } else {
        if (len > (uint64_t(1) << 20)) {
          why = "an answer larger than 1 MiB";
          break;
        }
        if (in.size() < nl + 1 + len) break;
        std::lock_guard<std::mutex> lock(ch->mu);
        if (auto it = ch->calls.find(id); it != ch->calls.end()) {
          it->second->done = true;
          it->second->status = int(status);
          it->second->body = in.substr(nl + 1, len);
          ch->cv.notify_all();
        }
        in.erase(0, nl + 1 + len);
      }
    }
    if (!why.empty()) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in.append(buf, size_t(n));
  }
  if (!why.empty()) spdlog::warn("channel ({}) closed: {}", ch->peer, why);
  ::shutdown(fd, SHUT_RD);
  {
    std::unique_lock<std::mutex> lock(ch->mu);
    ch->open = false;
    ch->cv.notify_all();
    // Requests already running finish (each bounded by its plugin's limits) and are answered.
    ch->cv.wait(lock, [&] { return ch->inflight == 0; });
  }
  s.Offer(ch, false, false);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.channels.erase(ch);
  }
  spdlog::info("channel closed ({})", ch->peer);
}

namespace {

// The site's media storage, reached through the channel that offered it.
class ChannelMediaStorage : public bridge::MediaStorage {
 public:
  explicit ChannelMediaStorage(std::shared_ptr<ChannelHub::Impl> impl) : impl_(std::move(impl)) {}
  Status Upload(const std::string& key, std::string_view bytes,
                const std::string& content_type) override {
    if (!impl_->Offers("media")) return NotConfigured();
    json::object head;
    head["key"] = key;
    head["contentType"] = content_type;
    std::string body = Stringify(head) + "\n";
    body.append(bytes);
    return impl_->Call("media-upload", std::move(body)).status();
  }
  Status Delete(const std::string& key) override {
    if (!impl_->Offers("media")) return NotConfigured();
    json::object body;
    body["key"] = key;
    return impl_->Call("media-delete", Stringify(body)).status();
  }
  Result<std::string> Read(const std::string& key) override {
    return NotFound("media file " + key + " is the site's: EmDash serves it");
  }

 private:
  static Status NotConfigured() {
    return InvalidArgument(
        "Media storage is not configured. Cannot upload files without a storage adapter.");
  }
  std::shared_ptr<ChannelHub::Impl> impl_;
};

}  // namespace

std::shared_ptr<bridge::MediaStorage> ChannelHub::MediaStorage() {
  return std::make_shared<ChannelMediaStorage>(impl_);
}

void ChannelHub::Close() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const auto& ch : impl_->channels) ::shutdown(ch->fd, SHUT_RD);
}

}  // namespace ps::server
