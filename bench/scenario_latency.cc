// The sequential hook latency scenario: the echo hook through the runner API and through serve's
// HTTP API, against the raw worker's answers (plain, with the hook's body, over a WebSocket), with
// the CPU each call costs on both sides.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "runner/invoke_channel.h"
#include "scenarios.h"
#include "serve_process.h"

namespace ps::bench {

namespace fs = std::filesystem;

void ScenarioLatency(Env& env) {
  env.Progress("hook latency (runner API, serve HTTP API, raw floor)");
  json::value event = HookEvent();
  std::string payload = HookPayload();
  const auto& h = env.echo[0];
  std::string err;
  {
    auto res = env.runner->InvokeHook(h, kHook, event);
    if (!res.ok() || Stringify(*res) != Stringify(event)) {
      env.Error("the echo hook did not return its input: " +
                (res.ok() ? Stringify(*res) : res.status().message()));
      return;
    }
  }
  UnixHttpClient raw(env.raw[0]->socket(), {});
  UnixHttpClient raw_post(env.raw[0]->socket(), {"Content-Type: application/json"});

  // serve: its own data directory, the same echo plugin installed at start.
  std::unique_ptr<ServeProcess> serve;
  std::unique_ptr<UnixHttpClient> serve_client;
  std::string serve_url = "http://localhost/v1/plugins/echo-0/hooks/content:beforeSave";
  if (access(env.serve_binary.c_str(), X_OK) == 0) {
    std::string plugins = env.tmp + "/serve-plugins";
    std::error_code ec;
    fs::create_directories(plugins + "/echo-0", ec);
    WriteFileText(plugins + "/echo-0/manifest.json", EchoManifest("echo-0"));
    WriteFileText(plugins + "/echo-0/backend.js", kEchoSource);
    serve =
        std::make_unique<ServeProcess>(env.serve_binary, env.launcher, env.tmp + "/serve", plugins);
    if (!serve->ok()) {
      env.Error("serve: " + serve->error());
      serve.reset();
    } else {
      serve_client = std::make_unique<UnixHttpClient>(
          serve->socket(), std::vector<std::string>{"Authorization: Bearer " + serve->token(),
                                                    "Content-Type: application/json"});
      std::string resp;
      long st = 0;
      // Installed at start; the first call may race the plugin's readiness (bounded).
      PollUntil([&] { return (st = serve_client->Post(serve_url, &payload, &resp)) == 200; },
                std::chrono::seconds(5), std::chrono::milliseconds(10));
      auto v = ParseJson(resp);
      if (st != 200 || !v.ok() || !v->is_object() || !v->get_object().if_contains("value") ||
          Stringify(v->at("value")) != Stringify(event)) {
        env.Error("serve hook call failed: " + std::to_string(st) + " " + resp);
        serve_client.reset();
        serve.reset();
      }
    }
  } else {
    env.notes.push_back("serve binary not found at " + env.serve_binary + ": serve skipped");
  }

  // The kinds, measured in rotating order within every round.
  enum Kind { kRaw, kRunner, kServe, kRawPost, kRawWs, kKinds };
  const char* names[kKinds] = {"raw", "runner", "serve", "raw_post", "raw_ws"};
  std::vector<int> kinds = {kRaw, kRunner, kRawPost};
  // The invocation channel's own floor: the raw worker answering messages on one WebSocket.
  std::unique_ptr<runner::InvokeChannel> raw_ws;
  if (runner::InvokeChannel::Open(env.raw[0]->socket(), "Bearer none",
                                  Clock::now() + std::chrono::seconds(5),
                                  &raw_ws) == runner::InvokeChannel::Outcome::kOk) {
    kinds.push_back(kRawWs);
  } else {
    env.Error("latency: cannot open a WebSocket to the raw worker");
  }
  uint64_t raw_ws_ids = 0;
  if (serve_client) kinds.push_back(kServe);
  Stats stats[kKinds];
  int failures[kKinds] = {0, 0, 0, 0, 0};
  std::string resp;
  // CPU per call, host side (this process: the runner, or only the client for raw and serve;
  // plus serve's own process) and plugin side (the workerd process that answered).
  pid_t self = getpid();
  pid_t plugin_pid = 0;
  if (auto info = env.runner->Info(h.id)) plugin_pid = info->pid;
  pid_t serve_plugin_pid = 0;
  if (serve) {
    auto kids = ChildPids(serve->pid());
    if (kids.size() == 1) serve_plugin_pid = kids[0];
  }
  struct Cpu {
    double host = 0, plugin = 0;
    int calls = 0;
  } cpu[kKinds];
  auto sample = [&](int which) {
    Cpu c;
    c.host = ProcessCpuUs(self) + (which == kServe ? ProcessCpuUs(serve->pid()) : 0);
    pid_t pp = which == kRunner  ? plugin_pid
               : which == kServe ? serve_plugin_pid
                                 : env.raw[0]->pid();
    c.plugin = pp ? ProcessCpuUs(pp) : 0;
    return c;
  };
  auto one = [&](int which, Stats* into) {
    auto t0 = Clock::now();
    bool ok = false;
    switch (which) {
      case kRaw:
        ok = raw.Post("http://raw/", nullptr, &resp) == 200;
        break;
      case kRunner:
        ok = RunnerHook(env, h, event, &err);
        break;
      case kServe:
        ok = serve_client->Post(serve_url, &payload, &resp) == 200;
        break;
      case kRawPost:
        ok = RawCall(raw_post, payload, &resp);
        break;
      case kRawWs: {
        long st = 0;
        ok = raw_ws->Call(std::to_string(++raw_ws_ids), "/hook/" + std::string(kHook), payload,
                          Clock::now() + std::chrono::seconds(5), &st,
                          &resp) == runner::InvokeChannel::Outcome::kOk &&
             st == 200;
        if (ok && raw_ws->uses() >= 1000) {  // as the runner does: a fresh one every 1000
          ok = runner::InvokeChannel::Open(env.raw[0]->socket(), "Bearer none",
                                           Clock::now() + std::chrono::seconds(5),
                                           &raw_ws) == runner::InvokeChannel::Outcome::kOk;
        }
        break;
      }
    }
    double us = MicrosSince(t0);
    if (!ok) ++failures[which];
    if (into && ok) into->Add(us);
  };
  for (int w = 0; w < env.sz.latency_warmup; ++w)
    for (int k : kinds) one(k, nullptr);
  for (int round = 0; round < env.sz.latency_rounds; ++round) {
    for (size_t k = 0; k < kinds.size(); ++k) {
      int which = kinds[(k + size_t(round)) % kinds.size()];  // rotate who goes first
      Cpu before = sample(which);
      for (int i = 0; i < env.sz.latency_per_round; ++i) one(which, &stats[which]);
      Cpu after = sample(which);
      cpu[which].host += after.host - before.host;
      cpu[which].plugin += after.plugin - before.plugin;
      cpu[which].calls += env.sz.latency_per_round;
    }
  }
  for (int k : kinds) {
    if (failures[k]) {
      env.Error(std::string("latency ") + names[k] + ": " + std::to_string(failures[k]) +
                " failed calls" + (k == kRunner ? " " + err : std::string()));
    }
    std::string p = std::string("latency.") + names[k];
    env.r[p + ".median_us"] = stats[k].median();
    env.r[p + ".p99_us"] = stats[k].p99();
    if (k != kRaw && stats[kRaw].count() && stats[k].count()) {
      env.r[p + ".median_ratio"] = stats[k].median() / stats[kRaw].median();
      env.r[p + ".p99_ratio"] = stats[k].p99() / stats[kRaw].p99();
    }
    std::string c = std::string("cpu_per_call.") + names[k];
    if (cpu[k].calls) {
      env.r[c + ".host_us"] = cpu[k].host / cpu[k].calls;
      if (k != kServe || serve_plugin_pid) env.r[c + ".plugin_us"] = cpu[k].plugin / cpu[k].calls;
    }
  }
  // Keep-alive holds on every client of ours (one connection each), or the floor is not a floor.
  for (auto [name, client] : {std::pair<const char*, UnixHttpClient*>{"raw", &raw},
                              {"raw_post", &raw_post},
                              {"serve", serve_client.get()}}) {
    if (client && client->connects() > 1) {
      env.notes.push_back(std::string("latency: the ") + name + " client opened " +
                          std::to_string(client->connects()) + " connections (keep-alive lost)");
    }
  }
  if (serve) env.r["memory.serve_host_1.mib"] = MiB(PssBytes(serve->pid()).value_or(0));
}

}  // namespace ps::bench
