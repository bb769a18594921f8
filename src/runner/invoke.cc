// One invocation: waiting for a usable process (starting it on demand), sending the input on an
// invocation channel or as a request, and turning the answer or the failure into a result.

#include "runner/runner_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/crypto.h"
#include "common/encoding.h"

namespace ps::runner {
namespace {

// Percent-encodes a hook or route name for the URL path (the wrapper decodes it).
std::string PathEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

size_t Collect(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<std::string*>(user);
  if (s->size() + size * n > (64u << 20)) return 0;  // a plugin answer over 64 MiB is refused
  s->append(data, size * n);
  return size * n;
}

}  // namespace

Runner::Impl::Transport Runner::Impl::ByChannel(const std::shared_ptr<Plugin>& p,
                                                const std::string& inv_id, const std::string& path,
                                                const std::string& payload,
                                                Clock::time_point deadline,
                                                std::unique_ptr<InvokeChannel>* channel) {
  Transport t;
  using O = InvokeChannel::Outcome;
  if (!*channel) {
    O opened = InvokeChannel::Open(p->socket, p->invoke_auth, deadline, channel);
    if (opened == O::kRefused) {
      std::lock_guard<std::mutex> lock(p->mu);
      p->channel_refused = true;  // an old wrapper: requests from now on
      return t;
    }
    if (opened != O::kOk) {
      t.tried = true;
      t.outcome = opened == O::kTimeout ? Transport::kTimeout : Transport::kBroken;
      t.error = "invocation channel: cannot connect";
      return t;
    }
    ++invoke_channels_opened;
  }
  t.tried = true;
  O o = (*channel)->Call(inv_id, path, payload, deadline, &t.status, &t.body);
  t.outcome =
      o == O::kOk ? Transport::kOk : (o == O::kTimeout ? Transport::kTimeout : Transport::kBroken);
  if (o != O::kOk) {
    channel->reset();
    t.error = "invocation channel: connection lost";
  }
  return t;
}

Runner::Impl::Transport Runner::Impl::ByRequest(const std::shared_ptr<Plugin>& p,
                                                const std::string& kind, const std::string& name,
                                                const std::string& inv_id,
                                                const std::string& payload,
                                                Clock::time_point deadline) {
  CURL* curl = nullptr;
  int generation;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    generation = p->ready_generation;
    if (!p->pool.empty()) {
      curl = p->pool.back();
      p->pool.pop_back();
    }
  }
  if (!curl) curl = curl_easy_init();
  std::string url = "http://plugin/" + kind + "/" + PathEncode(name);
  Transport t;
  t.tried = true;
  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Authorization: " + p->invoke_auth).c_str());
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, ("x-ps-invocation: " + inv_id).c_str());
  headers = curl_slist_append(headers, "Expect:");
  // A small input in printable ASCII travels in a header: the isolate then reads no request
  // body, which saves workerd about 35 us per call (docs/performance.md). Anything else is the
  // body.
  const bool inline_input =
      payload.size() <= kInlineInputMax &&
      std::all_of(payload.begin(), payload.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (inline_input) headers = curl_slist_append(headers, ("x-ps-input: " + payload).c_str());
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, p->socket.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, inline_input ? "" : payload.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   curl_off_t(inline_input ? 0 : payload.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t.body);
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(std::max<int64_t>(1, remaining.count())));
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
  curl_slist_free_all(headers);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  t.outcome = rc == CURLE_OK
                  ? Transport::kOk
                  : (rc == CURLE_OPERATION_TIMEDOUT ? Transport::kTimeout : Transport::kBroken);
  if (rc != CURLE_OK) t.error = curl_easy_strerror(rc);
  {
    std::lock_guard<std::mutex> lock(p->mu);
    if (rc == CURLE_OK && p->pool_generation == generation && p->pool.size() < 64) {
      p->pool.push_back(curl);
      curl = nullptr;
    }
  }
  if (curl) curl_easy_cleanup(curl);
  return t;
}

Result<json::value> Runner::Impl::Invoke(const PluginHandle& h, const std::string& kind,
                                         const std::string& name, const json::object& body,
                                         std::optional<int64_t> timeout_ms) {
  auto p = Find(h.id);
  if (!p || p->handle.epoch != h.epoch) {
    return Status(ErrorCode::kPluginUnavailable,
                  "Plugin sandbox unavailable for " + h.id +
                      ": the handle is stale (the plugin was unloaded or loaded again)");
  }
  const Limits& lim = p->limits;
  auto start = Clock::now();
  const bool by_timeout = timeout_ms && *timeout_ms < lim.wall_ms;
  const int64_t limit_ms = by_timeout ? std::max<int64_t>(1, *timeout_ms) : lim.wall_ms;
  auto deadline = start + std::chrono::milliseconds(limit_ms);
  std::string label = kind + ":" + name;
  auto wall_error = [&] {
    if (by_timeout) {
      return Status(ErrorCode::kWallTimeExceeded,
                    "Plugin " + h.id + " exceeded its hook timeout of " + std::to_string(limit_ms) +
                        "ms during " + label);
    }
    return Status(ErrorCode::kWallTimeExceeded, "Plugin " + h.id + " exceeded wall-time limit of " +
                                                    std::to_string(lim.wall_ms) + "ms during " +
                                                    label);
  };

  // Wait for a usable process: ready, not being stopped, and not one the watchdog already killed
  // (it stays "ready" until it is reaped, and an invocation sent to it would inherit its kill's
  // reason). A stopped plugin is started first (one start, however many callers wait for it).
  // Made before the wait: `held` below keeps p->mu from the moment the process is found usable
  // until the invocation is registered, and the input may be megabytes.
  auto f = std::make_shared<InFlight>();
  f->inv = std::make_shared<bridge::Invocation>();
  f->inv->id = HexEncode(RandomBytes(12));
  f->inv->deadline = deadline;
  f->inv->subrequest_limit = int(lim.subrequests);
  f->label = label;
  const std::string payload = Stringify(body);

  auto usable = [&] { return p->pid != 0 && p->pid != p->killed_pid && !p->parking; };
  std::unique_lock<std::mutex> held;  // p->mu, from the moment the process is found usable
  for (int round = 0;; ++round) {
    workerd::Supervisor::Id proc = p->proc;
    auto state = supervisor->state(proc);
    if (state == workerd::ProcessState::kQuarantined) {
      return Status(ErrorCode::kPluginUnavailable,
                    "Plugin sandbox unavailable for " + h.id +
                        ": quarantined after repeated failures; enable it "
                        "again to restart it");
    }
    if (!shared()) {
      PS_TRY(StartOnDemand(p, deadline, wall_error));
    }
    if (!supervisor->WaitReady(proc, deadline)) {
      {
        // Shared mode: the process may be being replaced; wait for its successor.
        std::unique_lock<std::mutex> lock(p->mu);
        p->cv.wait_until(lock, deadline, [&] { return !p->switching; });
      }
      if (p->proc != proc) continue;
      if (Clock::now() >= deadline) return wall_error();
      if (!shared() && round < 8) {
        // Stopped or being stopped meanwhile (an idle stop racing this call, a clean exit):
        // start it again.
        bool parking;
        {
          std::lock_guard<std::mutex> lock(p->mu);
          parking = p->parking;
        }
        if (parking || supervisor->state(proc) == workerd::ProcessState::kStopped) continue;
      }
      return Status(ErrorCode::kPluginUnavailable,
                    "Plugin sandbox unavailable for " + h.id + ": " +
                        workerd::StateName(supervisor->state(p->proc)));
    }
    std::unique_lock<std::mutex> lock(p->mu);
    if (p->cv.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)),
                         [&] { return usable() || p->parking; })) {
      if (usable()) {
        held = std::move(lock);
        break;
      }
      continue;  // being stopped: start it again
    }
    if (Clock::now() >= deadline) return wall_error();
  }

  std::unique_ptr<InvokeChannel> channel;
  bool by_channel = opt.invoke_channel && !shared() && payload.size() <= kChannelInputMax;
  {
    std::unique_lock<std::mutex> lock = std::move(held);
    f->generation = p->ready_generation;
    if (p->pid != 0) f->cpu_start = p->CpuNs(p->pid);
    f->overlap = int(p->inflight.size()) + 1;
    for (auto& [id, other] : p->inflight) ++other->overlap;
    p->inflight[f->inv->id] = f;
    ++p->activity;
    p->last_used = Clock::now();
    by_channel = by_channel && !p->channel_refused;
    if (by_channel && !p->channels.empty()) {
      channel = std::move(p->channels.back());
      p->channels.pop_back();
    }
  }
  ++p->invocations;
  KickWatchdog(lim.cpu_ms);

  Transport t;
  if (by_channel) {
    t = ByChannel(p, f->inv->id, "/" + kind + "/" + PathEncode(name), payload, deadline, &channel);
  }
  if (!t.tried) t = ByRequest(p, kind, name, f->inv->id, payload, deadline);

  // A transport failure means the process went away: wait (bounded) for the supervisor's account
  // of why, so the caller gets the real reason (a limit kill, an out-of-memory abort, a crash).
  if (t.outcome == Transport::kBroken) {
    std::unique_lock<std::mutex> lock(p->mu);
    p->cv.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::seconds(2)), [&] {
      return p->exits.count(f->generation) > 0 || f->forced_code != ErrorCode::kNone;
    });
  }
  ErrorCode forced_code = ErrorCode::kNone;
  std::string forced_message;
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->inflight.erase(f->inv->id);
    ++p->activity;
    p->last_used = Clock::now();
    forced_code = f->forced_code;
    forced_message = f->forced_message;
    if (channel && t.outcome == Transport::kOk && !p->closing &&
        p->pool_generation == f->generation && p->channels.size() < 64 &&
        channel->uses() < kChannelUsesMax) {
      p->channels.push_back(std::move(channel));
    }
  }
  channel.reset();                     // closing a channel cancels what its invocation left
  backing->EndInvocation(f->inv->id);  // whatever the plugin did to its WebSocket
  const long status = t.status;
  const std::string& response = t.body;

  auto fail = [&](ErrorCode code, const std::string& message) -> Result<json::value> {
    if (code != ErrorCode::kNotFound) ++p->failures;
    return Status(code, message);
  };
  if (forced_code != ErrorCode::kNone) return fail(forced_code, forced_message);
  if (t.outcome == Transport::kTimeout)
    return fail(ErrorCode::kWallTimeExceeded, wall_error().message());
  if (t.outcome != Transport::kOk) {
    return fail(ErrorCode::kPluginCrashed,
                "Plugin " + h.id + " crashed during " + label + " (" + t.error + ")");
  }

  auto parsed = ParseJson(response);
  if (status == 200) {
    if (!parsed.ok())
      return fail(ErrorCode::kPluginError, "Plugin " + h.id + " returned invalid JSON");
    if (kind == "hook") {
      if (parsed->is_object()) {
        if (auto* v = parsed->get_object().if_contains("value")) return *v;
      }
      return json::value(nullptr);
    }
    return std::move(parsed).value();
  }
  if (status == 404 && kind == "route")
    return fail(ErrorCode::kNotFound, "Route not found: " + name);
  std::string message = response;
  std::optional<ErrorCode> code;  // the bridge's code, passed on by the wrapper
  if (parsed.ok() && parsed->is_object()) {
    if (auto* e = parsed->get_object().if_contains("error"); e && e->is_object()) {
      const auto& eo = e->get_object();
      if (auto* m = eo.if_contains("message"); m && m->is_string()) message = m->get_string();
      if (auto* c = eo.if_contains("code"); c && c->is_string())
        code = ParseErrorCode(c->get_string());
    }
  }
  if (status == 503) return fail(ErrorCode::kUnavailable, message);
  if (code == ErrorCode::kSubrequestLimitExceeded || code == ErrorCode::kBridgeCallLimitExceeded) {
    return fail(*code, message);
  }
  if (status == 401)
    return fail(ErrorCode::kPluginCrashed, "plugin process refused the host's token");
  if (!parsed.ok()) {
    // Not the wrapper's answer: workerd itself failed the request (for example a handler that
    // awaits a promise nothing can ever settle, which workerd detects and cancels).
    return fail(ErrorCode::kPluginError, "Plugin " + h.id + " failed during " + label +
                                             ": workerd answered " + std::to_string(status) + " " +
                                             message + " (the host log has the runtime's message)");
  }
  return fail(ErrorCode::kPluginError, message);
}

}  // namespace ps::runner
