// Hook pipelines over every plugin that registered a hook (runner.md §3, "Our pipeline").
//
// Order: by priority (lower first), then dependencies (a plugin runs after the plugins it names,
// when they take part; a missing dependency is ignored and a cycle falls back to priority order,
// both with a warning), then plugin id.
// Before-hooks (IsSequentialHook) run one plugin at a time and chain:
//   content:beforeSave    event {content, collection, isNew}: an object result replaces
//                         `content` for the next plugin and for the write; anything else keeps it.
//   media:beforeUpload    event {file}: an object result replaces `file`.
//   email:beforeSend      event {message}: an object replaces `message`; false cancels.
//   comment:beforeCreate  event {comment}: an object replaces `comment`; false cancels.
//   content:beforeDelete  event {id, collection}: false vetoes the delete.
// A veto or cancel stops the chain. Every other hook runs on all its plugins in parallel.
// An exclusive hook runs on the first plugin in order only.
// Each invocation is bounded by the hook's timeout (capped by the plugin's wall-time limit). A
// failure follows the hook's errorPolicy: "continue" (the default for sandboxed plugins) records
// it and goes on with the value so far; "abort" stops the pipeline, and the caller refuses the
// operation with that plugin's error.
// May call: server/plugins.h, common/. Called by: server/ (site, api, email).
#pragma once

#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "server/plugins.h"

namespace ps::server {

struct HookResult {
  std::string plugin;
  bool ok = true;
  double ms = 0;
  std::optional<json::value> value;  // the plugin's return value (when ok)
  ErrorCode error_code = ErrorCode::kNone;
  std::string error_message;

  json::object ToJson(bool with_value) const;
};

struct PipelineOutcome {
  json::value value;  // the chained value (before-hooks) or null
  bool vetoed = false;
  std::string vetoed_by;
  bool aborted = false;
  std::string aborted_by;
  Status abort_status;  // the failing plugin's error when aborted
  std::vector<HookResult> results;
};

struct Participant {
  std::string plugin;
  HookRegistration reg;
};

// The order of runner.md §3 ("priority, then dependencies, then plugin id"). Warnings (missing
// dependencies, cycles) are appended to `warnings`.
std::vector<Participant> OrderParticipants(std::vector<Participant> participants,
                                           std::vector<std::string>* warnings);

class Pipeline {
 public:
  // `background` runs parallel invocations and fire-and-forget after-hooks.
  Pipeline(PluginRegistry& registry, boost::asio::thread_pool& background);

  // Runs `hook` over its plugins: sequential and chained for before-hooks, parallel otherwise;
  // returns when every invocation has ended.
  PipelineOutcome Run(const std::string& hook, const json::object& event);

  // Runs an after-hook in the background: returns at once; failures are logged. One plugin's
  // background hooks run one at a time, in the order they were fired (an audit log sees a
  // create before the update that follows it); different plugins run in parallel.
  void Fire(const std::string& hook, const json::object& event);

  // Whether any plugin registered `hook` (lets callers skip building events).
  bool HasParticipants(const std::string& hook) const;

 private:
  std::vector<Participant> Participants(const std::string& hook) const;
  HookResult InvokeOne(const Participant& p, const std::string& hook, const json::value& event);
  PipelineOutcome RunSequential(const std::string& hook, json::object event,
                                const std::vector<Participant>& ps);
  PipelineOutcome RunParallel(const std::string& hook, const json::object& event,
                              const std::vector<Participant>& ps);

  using Strand = boost::asio::strand<boost::asio::thread_pool::executor_type>;
  Strand& StrandFor(const std::string& plugin);

  PluginRegistry& registry_;
  boost::asio::thread_pool& background_;
  std::mutex strands_mu_;
  std::map<std::string, Strand> strands_;  // one per plugin id, for Fire()
};

}  // namespace ps::server
