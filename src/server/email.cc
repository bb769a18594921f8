#include "server/email.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <memory>
#include <mutex>
#include <set>

#include "common/ids.h"

namespace ps::server {
namespace {

std::string HeaderValue(const json::object& m, const char* key) {
  auto* v = m.if_contains(key);
  std::string s = v && v->is_string() ? std::string(v->get_string()) : std::string();
  for (char& c : s)
    if (c == '\r' || c == '\n') c = ' ';
  return s;
}

// The address inside "Name <a@b>" or the whole string.
std::string BareAddress(const std::string& s) {
  size_t lt = s.find('<'), gt = s.rfind('>');
  if (lt != std::string::npos && gt != std::string::npos && gt > lt)
    return s.substr(lt + 1, gt - lt - 1);
  return s;
}

std::string RfcDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

// Lines of the body with CRLF endings (libcurl does the SMTP dot-stuffing as it uploads).
std::string BodyText(const std::string& text) {
  std::string out;
  std::string line;
  auto flush = [&] {
    out += line;
    out += "\r\n";
    line.clear();
  };
  for (char c : text) {
    if (c == '\r') continue;
    if (c == '\n') {
      flush();
    } else {
      line += c;
    }
  }
  if (!line.empty()) flush();
  return out;
}

struct Upload {
  const std::string* data;
  size_t pos = 0;
};

size_t ReadPayload(char* buf, size_t size, size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  size_t left = u->data->size() - u->pos;
  size_t take = std::min(left, size * n);
  std::memcpy(buf, u->data->data() + u->pos, take);
  u->pos += take;
  return take;
}

}  // namespace

std::string RenderEmail(const json::object& message, const std::string& from,
                        const std::string& source) {
  std::string to = HeaderValue(message, "to");
  std::string subject = HeaderValue(message, "subject");
  std::string text;
  if (auto* t = message.if_contains("text"); t && t->is_string()) text = t->get_string();
  std::string html;
  if (auto* h = message.if_contains("html"); h && h->is_string()) html = h->get_string();
  std::string out;
  out += "Date: " + RfcDate() + "\r\n";
  out += "From: " + from + "\r\n";
  out += "To: " + to + "\r\n";
  out += "Subject: " + subject + "\r\n";
  out += "Message-ID: <" + NewUlid() + "@plugin-sandbox>\r\n";
  std::string src = source;
  for (char& c : src)
    if (c == '\r' || c == '\n') c = ' ';
  out += "X-Plugin-Sandbox-Plugin: " + src + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  if (html.empty()) {
    out += "Content-Type: text/plain; charset=utf-8\r\n";
    out += "Content-Transfer-Encoding: 8bit\r\n\r\n";
    out += BodyText(text);
  } else {
    std::string boundary = "ps-" + NewUlid();
    out += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
    out += "--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    out += BodyText(text);
    out += "--" + boundary + "\r\nContent-Type: text/html; charset=utf-8\r\n\r\n";
    out += BodyText(html);
    out += "--" + boundary + "--\r\n";
  }
  return out;
}

bridge::EmailSender MakeSmtpSender(const EmailConfig& config) {
  curl_global_init(CURL_GLOBAL_ALL);
  return [config](const json::object& message, const std::string& source) -> Status {
    std::string to = BareAddress(HeaderValue(message, "to"));
    std::string payload = RenderEmail(message, config.smtp_from, source);
    CURL* c = curl_easy_init();
    if (!c) return Internal("Email could not be sent: cannot initialize libcurl");
    struct curl_slist* rcpt = curl_slist_append(nullptr, ("<" + to + ">").c_str());
    Upload up{&payload};
    std::string from = "<" + BareAddress(config.smtp_from) + ">";
    curl_easy_setopt(c, CURLOPT_URL, config.smtp_url.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from.c_str());
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadPayload);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(c, CURLOPT_USE_SSL, long(CURLUSESSL_TRY));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    if (!config.smtp_username.empty()) {
      curl_easy_setopt(c, CURLOPT_USERNAME, config.smtp_username.c_str());
      curl_easy_setopt(c, CURLOPT_PASSWORD, config.smtp_password.c_str());
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
      spdlog::warn("smtp: sending for plugin {} failed: {}", source, curl_easy_strerror(rc));
      return Status(Code::kUnavailable,
                    std::string("Email could not be sent: ") + curl_easy_strerror(rc));
    }
    spdlog::info("smtp: sent a message for plugin {}", source);
    return Status::Ok();
  };
}

bridge::EmailSender MakeEmailPipeline(Pipeline& pipeline, PluginRegistry& registry,
                                      bridge::EmailSender transport) {
  struct Guard {
    std::mutex mu;
    std::multiset<std::string> in_hooks;  // plugins running an email hook right now
  };
  auto guard = std::make_shared<Guard>();
  return [&pipeline, &registry, transport, guard](const json::object& message,
                                                  const std::string& source) -> Status {
    {
      std::lock_guard<std::mutex> lock(guard->mu);
      if (guard->in_hooks.count(source)) {
        return InvalidArgument(
            "Recursive email send detected. A plugin hook attempted to send an email from within "
            "the email pipeline, which would cause infinite recursion.");
      }
    }
    auto mark = [&](const std::vector<std::pair<std::string, HookRegistration>>& regs, bool add) {
      std::lock_guard<std::mutex> lock(guard->mu);
      for (const auto& [id, reg] : regs) {
        if (add) {
          guard->in_hooks.insert(id);
        } else if (auto it = guard->in_hooks.find(id); it != guard->in_hooks.end()) {
          guard->in_hooks.erase(it);
        }
      }
    };
    json::object msg = message;
    auto before = registry.Registered("email:beforeSend");
    if (!before.empty()) {
      json::object event;
      event["message"] = msg;
      event["source"] = source;
      mark(before, true);
      PipelineOutcome out = pipeline.Run("email:beforeSend", event);
      mark(before, false);
      if (out.aborted) return out.abort_status;
      if (out.vetoed) {
        spdlog::info("email from plugin {} cancelled by plugin {}", source, out.vetoed_by);
        return Status::Ok();
      }
      if (out.value.is_object()) msg = out.value.get_object();
    }
    auto deliver = registry.Registered("email:deliver");
    if (!deliver.empty()) {
      json::object event;
      event["message"] = msg;
      event["source"] = source;
      mark(deliver, true);
      PipelineOutcome out = pipeline.Run("email:deliver", event);
      mark(deliver, false);
      for (const auto& r : out.results) {
        if (!r.ok) return InvalidArgument(r.error_message);
      }
    } else {
      PS_TRY(transport(msg, source));
    }
    json::object after;
    after["message"] = msg;
    after["source"] = source;
    pipeline.Fire("email:afterSend", after);
    return Status::Ok();
  };
}

}  // namespace ps::server
