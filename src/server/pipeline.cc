#include "server/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>

namespace ps::server {
namespace {

using Clock = std::chrono::steady_clock;

// The event field a sequential hook chains, and whether `false` stops it.
struct ChainRule {
  const char* field;  // empty: nothing is replaced
  bool false_stops;
};

ChainRule RuleFor(const std::string& hook) {
  if (hook == "content:beforeSave") return {"content", false};
  if (hook == "media:beforeUpload") return {"file", false};
  if (hook == "email:beforeSend") return {"message", true};
  if (hook == "comment:beforeCreate") return {"comment", true};
  if (hook == "content:beforeDelete") return {"", true};
  return {"", false};
}

}  // namespace

json::object HookResult::ToJson(bool with_value) const {
  json::object o;
  o["plugin"] = plugin;
  o["ok"] = ok;
  o["ms"] = double(int64_t(ms * 10 + 0.5)) / 10;
  if (!ok) {
    json::object e;
    e["code"] = ErrorCodeName(error_code);
    e["message"] = error_message;
    o["error"] = std::move(e);
  } else if (with_value && value) {
    o["value"] = *value;
  }
  return o;
}

std::vector<Participant> OrderParticipants(std::vector<Participant> ps,
                                           std::vector<std::string>* warnings) {
  std::stable_sort(ps.begin(), ps.end(), [](const Participant& a, const Participant& b) {
    if (a.reg.priority != b.reg.priority) return a.reg.priority < b.reg.priority;
    return a.plugin < b.plugin;
  });
  std::set<std::string> present;
  for (const auto& p : ps) present.insert(p.plugin);
  // Dependencies that take part in this hook; the others are reported and ignored.
  std::vector<std::set<std::string>> deps(ps.size());
  for (size_t i = 0; i < ps.size(); ++i) {
    for (const auto& d : ps[i].reg.dependencies) {
      if (d == ps[i].plugin) continue;
      if (!present.count(d)) {
        warnings->push_back("plugin " + ps[i].plugin + ": dependency " + d + " of hook " +
                            ps[i].reg.hook + " is not registered for it; ignored");
        continue;
      }
      deps[i].insert(d);
    }
  }
  // Repeatedly take the first plugin (in priority/id order) whose dependencies have all run.
  std::vector<Participant> out;
  std::vector<bool> placed(ps.size(), false);
  std::set<std::string> done;
  for (size_t round = 0; round < ps.size(); ++round) {
    size_t pick = ps.size();
    for (size_t i = 0; i < ps.size() && pick == ps.size(); ++i) {
      if (placed[i]) continue;
      bool ready = true;
      for (const auto& d : deps[i])
        if (!done.count(d)) ready = false;
      if (ready) pick = i;
    }
    if (pick == ps.size()) {
      std::string names;
      for (size_t i = 0; i < ps.size(); ++i) {
        if (placed[i]) continue;
        if (!names.empty()) names += ", ";
        names += ps[i].plugin;
      }
      warnings->push_back("hook " + ps.front().reg.hook + ": dependency cycle among " + names +
                          "; every plugin runs in priority order");
      return ps;
    }
    placed[pick] = true;
    done.insert(ps[pick].plugin);
    out.push_back(ps[pick]);
  }
  return out;
}

Pipeline::Pipeline(PluginRegistry& registry, boost::asio::thread_pool& background)
    : registry_(registry), background_(background) {}

std::vector<Participant> Pipeline::Participants(const std::string& hook) const {
  std::vector<Participant> ps;
  for (auto& [id, reg] : registry_.Registered(hook)) ps.push_back({id, reg});
  std::vector<std::string> warnings;
  auto ordered = OrderParticipants(std::move(ps), &warnings);
  for (const auto& w : warnings) spdlog::warn("{}", w);
  // An exclusive hook (email:deliver always is) has one provider: the first in order.
  if (!ordered.empty() && (ordered.front().reg.exclusive || hook == "email:deliver")) {
    ordered.resize(1);
    ordered.front().reg.exclusive = true;
  }
  return ordered;
}

bool Pipeline::HasParticipants(const std::string& hook) const {
  return !registry_.Registered(hook).empty();
}

HookResult Pipeline::InvokeOne(const Participant& p, const std::string& hook,
                               const json::value& event) {
  HookResult r;
  r.plugin = p.plugin;
  auto start = Clock::now();
  auto v = registry_.InvokeHook(p.plugin, hook, event, std::chrono::milliseconds(p.reg.timeout_ms));
  r.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (v.ok()) {
    r.value = std::move(v).value();
  } else {
    r.ok = false;
    r.error_code = v.status().error_code() == ErrorCode::kNone ? ErrorCode::kInternalError
                                                               : v.status().error_code();
    r.error_message = v.status().message();
  }
  return r;
}

PipelineOutcome Pipeline::RunSequential(const std::string& hook, json::object event,
                                        const std::vector<Participant>& ps) {
  PipelineOutcome out;
  ChainRule rule = RuleFor(hook);
  for (const auto& p : ps) {
    HookResult r = InvokeOne(p, hook, event);
    bool ok = r.ok;
    json::value value = r.value.value_or(nullptr);
    out.results.push_back(std::move(r));
    if (!ok) {
      if (p.reg.error_policy == "abort") {
        out.aborted = true;
        out.aborted_by = p.plugin;
        const HookResult& last = out.results.back();
        Code c = last.error_code == ErrorCode::kWallTimeExceeded ||
                         last.error_code == ErrorCode::kPluginUnavailable
                     ? Code::kUnavailable
                     : Code::kInternal;
        out.abort_status = Status(c, last.error_message).With(last.error_code);
        break;
      }
      continue;  // errorPolicy "continue": the chain goes on with the value so far
    }
    if (rule.false_stops && value.is_bool() && !value.as_bool()) {
      out.vetoed = true;
      out.vetoed_by = p.plugin;
      break;
    }
    if (rule.field[0] != '\0' && value.is_object()) event[rule.field] = value;
  }
  if (rule.field[0] != '\0') {
    if (out.vetoed) {
      out.value = false;
    } else if (auto* v = event.if_contains(rule.field)) {
      out.value = *v;
    }
  } else if (hook == "content:beforeDelete") {
    out.value = !out.vetoed;
  }
  return out;
}

PipelineOutcome Pipeline::RunParallel(const std::string& hook, const json::object& event,
                                      const std::vector<Participant>& ps) {
  PipelineOutcome out;
  if (ps.empty()) return out;
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<HookResult> results;
    size_t done = 0;
  };
  auto shared = std::make_shared<Shared>();
  shared->results.resize(ps.size());
  auto ev = std::make_shared<json::value>(event);
  for (size_t i = 0; i < ps.size(); ++i) {
    boost::asio::post(background_, [this, shared, ev, p = ps[i], i, hook] {
      HookResult r = InvokeOne(p, hook, *ev);
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->results[i] = std::move(r);
      ++shared->done;
      shared->cv.notify_all();
    });
  }
  // Every invocation ends by its timeout; the margin covers queueing behind other work.
  int64_t longest = 0;
  for (const auto& p : ps) longest = std::max(longest, p.reg.timeout_ms);
  auto deadline = Clock::now() + std::chrono::milliseconds(longest * 2 + 10000);
  std::unique_lock<std::mutex> lock(shared->mu);
  shared->cv.wait_until(lock, deadline, [&] { return shared->done == ps.size(); });
  for (size_t i = 0; i < ps.size(); ++i) {
    HookResult r = shared->results[i];
    if (r.plugin.empty()) {  // still queued: the host is overloaded
      r.plugin = ps[i].plugin;
      r.ok = false;
      r.error_code = ErrorCode::kWallTimeExceeded;
      r.error_message = "Plugin " + ps[i].plugin + " did not run " + hook + " in time";
    }
    out.results.push_back(std::move(r));
  }
  if (ps.size() == 1 && ps.front().reg.exclusive && out.results.front().ok) {
    out.value = out.results.front().value.value_or(nullptr);
  }
  return out;
}

PipelineOutcome Pipeline::Run(const std::string& hook, const json::object& event) {
  auto ps = Participants(hook);
  if (IsSequentialHook(hook)) return RunSequential(hook, event, ps);
  return RunParallel(hook, event, ps);
}

Pipeline::Strand& Pipeline::StrandFor(const std::string& plugin) {
  std::lock_guard<std::mutex> lock(strands_mu_);
  auto it = strands_.find(plugin);
  if (it == strands_.end()) {
    it = strands_.emplace(plugin, boost::asio::make_strand(background_.get_executor())).first;
  }
  return it->second;
}

void Pipeline::Fire(const std::string& hook, const json::object& event) {
  auto ps = Participants(hook);
  if (ps.empty()) return;
  auto ev = std::make_shared<json::value>(event);
  for (const auto& p : ps) {
    boost::asio::post(StrandFor(p.plugin), [this, ev, p, hook] {
      HookResult r = InvokeOne(p, hook, *ev);
      (void)r;  // the invocation's log line and metrics are written by the registry
    });
  }
}

}  // namespace ps::server
