// `ps_bench --soak` (soak.h): the host under hours of mixed traffic, sampled every period.
#include "soak.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "manifest/tar_util.h"  // tests/: the tests' in-memory .tar.gz writer
#include "serve_process.h"
#include "util.h"

namespace ps::bench {
namespace {

namespace fs = std::filesystem;

// ---- the host, seen from /proc -----------------------------------------------------------------

// A "Name:  value kB" line of /proc/<pid>/status, as a number (-1 when absent).
double StatusField(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  for (int i = 0; i < 200 && std::getline(in, line); ++i) {
    if (line.rfind(name + ":", 0) == 0) return std::atof(line.c_str() + name.size() + 1);
  }
  return -1;
}

// Whether the process still runs: a host that exited stays a zombie until the ServeProcess reaps
// it, and kill(pid, 0) succeeds on a zombie.
bool Running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

int OpenDescriptors(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != fs::directory_iterator() && n < 1000000; it.increment(ec))
    ++n;
  return ec ? -1 : n;
}

// ---- the churn plugin, as the host API's upload wants it ------------------------------------

std::string ChurnBundle(int n) {
  std::string manifest =
      R"({"id":"churn","version":"1.0.)" + std::to_string(n) + R"(","routes":["v"]})";
  std::string source =
      "export default { routes: { v: () => ({ v: " + std::to_string(n) + " }) } };\n";
  return testing::MakeTarGz({{"package/manifest.json", manifest}, {"package/backend.js", source}});
}

// ---- answers ----------------------------------------------------------------------------------

// error.code of an error envelope, or "" (with the status for a transport failure).
std::string CodeOf(long status, const std::string& body) {
  if (status == 0) return "transport";
  auto v = ParseJson(body);
  if (!v.ok() || !v->is_object()) return "";
  const auto* e = v->get_object().if_contains("error");
  if (!e || !e->is_object()) return "";
  const auto* c = e->get_object().if_contains("code");
  return c && c->is_string() ? std::string(c->get_string()) : "";
}

std::string Clip(const std::string& s) { return s.size() <= 300 ? s : s.substr(0, 300) + "…"; }

// Latencies kept per sample period (beyond it, calls are counted but not timed).
constexpr size_t kMaxPeriodSamples = 2'000'000;

// Everything the threads share: the period's latencies, failures, injected outcomes.
struct Ledger {
  std::mutex mu;
  Stats period;
  int64_t calls = 0, failures = 0;
  std::vector<std::string> failure_texts;                      // the first few
  std::map<std::string, std::map<std::string, int>> injected;  // kind -> code ("ok") -> count

  // Honest calls that ended with a per-invocation limit (documented, so not a failure of the
  // run, but reported: an honest plugin should not meet one), by code, and the first few.
  std::map<std::string, int> limited;
  std::vector<std::string> limited_texts;

  void Fail(const std::string& text) {
    std::lock_guard<std::mutex> l(mu);
    ++failures;
    if (failure_texts.size() < 20) failure_texts.push_back(text);
  }
  void Limit(const std::string& code, const std::string& text) {
    std::lock_guard<std::mutex> l(mu);
    ++limited[code];
    if (limited_texts.size() < 20) limited_texts.push_back(text);
  }
};

// The per-invocation limits of docs/operating.md "Limits": what a call may end with without
// failing the run ("fails if any call fails other than by a documented limit").
bool IsLimitCode(const std::string& code) {
  return code == "cpu_limit_exceeded" || code == "memory_limit_exceeded" ||
         code == "wall_time_exceeded" || code == "subrequest_limit_exceeded" ||
         code == "bridge_call_limit_exceeded";
}

// ---- the callers --------------------------------------------------------------------------------

struct Call {
  std::string method, url, body;
};

void Caller(const ServeProcess& serve, int index, std::chrono::steady_clock::time_point end,
            const std::atomic<bool>& stop, Ledger& ledger) {
  UnixHttpClient c(serve.socket(),
                   {"Authorization: Bearer " + serve.token(), "Content-Type: application/json"});
  std::string words;
  for (int i = 0; i < 300; ++i) words += "word ";
  std::string last_id;
  std::string resp;
  const std::string h = "http://localhost";
  for (int64_t i = 0; i < 100000000 && !stop && Clock::now() < end; ++i) {
    const std::string n = std::to_string(index) + "-" + std::to_string(i);
    std::vector<Call> round = {
        {"POST", h + "/v1/content/posts",
         R"({"data":{"title":"Soak )" + n + R"(","body":")" + words + R"("}})"},
        {"GET", h + "/v1/content/posts?limit=5", ""},
        {"GET", h + "/v1/content/posts/{id}", ""},
        {"POST", h + "/v1/plugins/hello/routes/stats", "{}"},
        {"GET", h + "/_emdash/api/plugins/hello/hello?name=soak" + n, ""},
        {"POST", h + "/_emdash/api/plugins/reading-time/estimate", R"({"body":"one two three"})"},
        {"POST", h + "/v1/plugins/link-preview/routes/recent", "{}"},
        {"DELETE", h + "/v1/content/posts/{id}", ""},
    };
    // The tour (every ctx API, an email, a media upload) is heavier: one round in ten.
    if (i % 10 == 0)
      round.push_back(
          {"POST", h + "/v1/plugins/ctx-tour/routes/tour", R"({"input":{"collection":"posts"}})"});
    for (auto& call : round) {
      if (stop) break;
      if (auto at = call.url.find("{id}"); at != std::string::npos) {
        if (last_id.empty()) continue;
        call.url.replace(at, 4, last_id);
      }
      auto t0 = Clock::now();
      long status = c.Request(call.method, call.url, call.method == "GET" ? nullptr : &call.body,
                              &resp, 60000);
      double us = MicrosSince(t0);
      {
        std::lock_guard<std::mutex> l(ledger.mu);
        ++ledger.calls;
        if (ledger.period.count() < kMaxPeriodSamples) ledger.period.Add(us);
      }
      if (status < 200 || status > 299) {
        std::string text =
            call.method + " " + call.url + ": " + std::to_string(status) + " " + Clip(resp);
        if (std::string code = CodeOf(status, resp); IsLimitCode(code))
          ledger.Limit(code, text);
        else
          ledger.Fail(text);
        // A host that stopped answering fails every call at once: pace the retries instead of
        // spinning until the sampler notices.
        if (status == 0)
          PollUntil([] { return false; }, std::chrono::milliseconds(200),
                    std::chrono::milliseconds(50), &stop);
        continue;
      }
      if (call.method == "POST" && call.url.find("/v1/content/posts") != std::string::npos) {
        auto v = ParseJson(resp);
        const json::value* id =
            v.ok() && v->is_object() ? v->get_object().if_contains("id") : nullptr;
        last_id = id && id->is_string() ? std::string(id->get_string()) : "";
      } else if (call.method == "DELETE") {
        last_id.clear();
      }
    }
  }
}

// ---- the injector -------------------------------------------------------------------------------

struct Injection {
  std::string kind;
  std::function<std::string(UnixHttpClient& json, UnixHttpClient& upload)> run;  // "" or a failure
  std::set<std::string> expected;  // codes it may end with ("ok": 2xx)
};

std::vector<Injection> Injections(int* churn_version) {
  const std::string h = "http://localhost";
  auto route = [h](const std::string& name) {
    return [h, name](UnixHttpClient& c, UnixHttpClient&) {
      std::string resp, body = "{}";
      long st = c.Request("POST", h + "/v1/plugins/misbehave/routes/" + name, &body, &resp, 60000);
      return st >= 200 && st <= 299 ? std::string("ok") : CodeOf(st, resp);
    };
  };
  // The misbehave plugin's calls share one process: a call queued behind a loop whose wall time
  // was answered but whose CPU or memory kill is not yet due ends with that wall time, or with
  // the kill's code; a restarting or quarantined plugin answers plugin_unavailable. All are
  // documented limits; anything else (internal_error, a 2xx, a dropped connection) is a failure.
  const std::set<std::string> limits = {"cpu_limit_exceeded", "memory_limit_exceeded",
                                        "wall_time_exceeded", "plugin_unavailable",
                                        "plugin_crashed",     "plugin_error"};
  auto churn = [h, churn_version](bool uninstall_first) {
    return [h, churn_version, uninstall_first](UnixHttpClient& c, UnixHttpClient& up) {
      std::string resp;
      if (uninstall_first) {
        long st = c.Request("DELETE", h + "/v1/plugins/churn", nullptr, &resp, 60000);
        if (st != 200) return "uninstall: " + std::to_string(st) + " " + Clip(resp);
      }
      int n = ++*churn_version;
      std::string bundle = ChurnBundle(n);
      long st = up.Request("PUT", h + "/v1/plugins/churn", &bundle, &resp, 60000);
      if (st != 200 && st != 201) return "install: " + std::to_string(st) + " " + Clip(resp);
      std::string body = "{}";
      st = c.Request("POST", h + "/v1/plugins/churn/routes/v", &body, &resp, 60000);
      if (st != 200 || resp.find(std::to_string(n)) == std::string::npos)
        return "call after install: " + std::to_string(st) + " " + Clip(resp);
      return std::string("ok");
    };
  };
  return {
      {"spin", route("spin"), limits},   {"reinstall", churn(false), {"ok"}},
      {"leak", route("leak"), limits},   {"uninstall_install", churn(true), {"ok"}},
      {"crash", route("crash"), limits}, {"throw", route("throw"), limits},
      {"hang", route("hang"), limits},
  };
}

void Injector(const ServeProcess& serve, double every_s, std::chrono::steady_clock::time_point end,
              const std::atomic<bool>& stop, Ledger& ledger, int* churn_version) {
  UnixHttpClient c(serve.socket(),
                   {"Authorization: Bearer " + serve.token(), "Content-Type: application/json"});
  UnixHttpClient up(serve.socket(),
                    {"Authorization: Bearer " + serve.token(), "Content-Type: application/gzip"});
  auto injections = Injections(churn_version);
  auto next = Clock::now();
  for (size_t i = 0; i < 10000000 && !stop && Clock::now() < end; ++i) {
    next += std::chrono::microseconds(int64_t(every_s * 1e6));
    // The pause between injections is the workload's rhythm, not a synchronisation; it is cut
    // short when the soak stops.
    PollUntil([&] { return Clock::now() >= next; },
              std::chrono::milliseconds(int64_t(every_s * 2e3)), std::chrono::milliseconds(50),
              &stop);
    if (stop || Clock::now() >= end) break;
    const Injection& inj = injections[i % injections.size()];
    std::string outcome = inj.run(c, up);
    {
      std::lock_guard<std::mutex> l(ledger.mu);
      ++ledger.injected[inj.kind][inj.expected.count(outcome) ? outcome : "unexpected"];
    }
    if (!inj.expected.count(outcome)) ledger.Fail("injected " + inj.kind + ": " + outcome);
    if (outcome == "plugin_unavailable") {
      // Quarantined after repeated kills: the operator's way back, so the next injections bite.
      std::string resp, body = "{}";
      c.Request("POST", "http://localhost/v1/plugins/misbehave/enable", &body, &resp, 60000);
    }
  }
}

// ---- the verdict ----------------------------------------------------------------------------

struct Sample {
  double t_s = 0, rss_mib = 0, p50_ms = 0, p99_ms = 0;
  int fds = 0, threads = 0, plugin_processes = 0;
  int64_t calls = 0, failures = 0;
};

// The rise of the least-squares line through (t, y) from the first to the last t.
double Rise(const std::vector<double>& t, const std::vector<double>& y) {
  size_t n = t.size();
  if (n < 2) return 0;
  double mt = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mt += t[i];
    my += y[i];
  }
  mt /= double(n);
  my /= double(n);
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (t[i] - mt) * (y[i] - my);
    sxx += (t[i] - mt) * (t[i] - mt);
  }
  return sxx > 0 ? sxy / sxx * (t.back() - t.front()) : 0;
}

}  // namespace

int RunSoak(const SoakOptions& opt) {
  std::string tmpl = (fs::temp_directory_path() / "ps-soak-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::fprintf(stderr, "ps_bench --soak: cannot create a temporary directory\n");
    return 1;
  }
  const std::string tmp = tmpl;
  struct RemoveAtExit {
    std::string dir;
    ~RemoveAtExit() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } remove_tmp{tmp};
  std::fprintf(stderr, "ps_bench --soak: %.1f min, a sample every %.0f s, %d callers\n",
               opt.minutes, opt.sample_seconds, opt.callers);
  int status = 0;
  json::object doc;
  {
    // The kills need CPU enough to be for the limit they test: the heap bomb reaches its memory
    // limit (with the default 50 ms it dies for CPU) and the hang its wall time, quickly.
    ServeProcess serve(
        PS_BINARY_DIR "/src/plugin-sandbox", PS_BINARY_DIR "/src/plugin-sandbox-launch", tmp,
        PS_SOURCE_DIR "/examples/plugins",
        {"--plugin-limit", "misbehave:cpu-ms=1000", "--plugin-limit", "misbehave:wall-ms=5000"});
    if (!serve.ok()) {
      std::fprintf(stderr, "ps_bench --soak: %s\n", serve.error().c_str());
      return 1;
    }
    UnixHttpClient admin(serve.socket(), {"Authorization: Bearer " + serve.token(),
                                          "Content-Type: application/json"});
    UnixHttpClient up(serve.socket(),
                      {"Authorization: Bearer " + serve.token(), "Content-Type: application/gzip"});
    std::string resp;
    std::string collection =
        R"({"slug":"posts","fields":[{"slug":"title","type":"string"},{"slug":"body","type":"text"},{"slug":"reading_time","type":"integer"}]})";
    int churn_version = 0;
    std::string churn = ChurnBundle(churn_version);
    if (admin.Request("POST", "http://localhost/v1/collections", &collection, &resp) != 201 ||
        up.Request("PUT", "http://localhost/v1/plugins/churn", &churn, &resp) / 100 != 2) {
      std::fprintf(stderr, "ps_bench --soak: setup failed: %s\n", resp.c_str());
      return 1;
    }

    Ledger ledger;
    std::atomic<bool> stop{false};
    const auto t0 = Clock::now();
    const auto end = t0 + std::chrono::microseconds(int64_t(opt.minutes * 60e6));
    std::vector<std::thread> threads;
    for (int i = 0; i < opt.callers; ++i)
      threads.emplace_back([&, i] { Caller(serve, i, end, stop, ledger); });
    threads.emplace_back(
        [&] { Injector(serve, opt.inject_every_seconds, end, stop, ledger, &churn_version); });

    std::vector<Sample> samples;
    std::printf("%8s %9s %5s %7s %7s %9s %9s %8s %8s\n", "minute", "rss_mib", "fds", "threads",
                "plugins", "p50_ms", "p99_ms", "calls", "failed");
    auto next = t0;
    for (int k = 0; k < 1000000; ++k) {
      next += std::chrono::microseconds(int64_t(opt.sample_seconds * 1e6));
      if (next > end + std::chrono::seconds(1)) break;
      // Waiting for the sample's time: the period is the measurement's, not a synchronisation.
      PollUntil([&] { return Clock::now() >= next; },
                std::chrono::milliseconds(int64_t(opt.sample_seconds * 2e3)),
                std::chrono::milliseconds(100));
      Sample s;
      s.t_s = MicrosSince(t0) / 1e6;
      s.rss_mib = StatusField(serve.pid(), "VmRSS") / 1024.0;
      s.threads = int(StatusField(serve.pid(), "Threads"));
      s.fds = OpenDescriptors(serve.pid());
      s.plugin_processes = int(ChildPids(serve.pid()).size());
      {
        std::lock_guard<std::mutex> l(ledger.mu);
        s.p50_ms = ledger.period.median() / 1000;
        s.p99_ms = ledger.period.p99() / 1000;
        s.calls = ledger.calls;
        s.failures = ledger.failures;
        ledger.period = Stats{};
      }
      samples.push_back(s);
      std::printf("%8.2f %9.1f %5d %7d %7d %9.2f %9.2f %8lld %8lld\n", s.t_s / 60, s.rss_mib, s.fds,
                  s.threads, s.plugin_processes, s.p50_ms, s.p99_ms,
                  static_cast<long long>(s.calls), static_cast<long long>(s.failures));
      std::fflush(stdout);
      if (!Running(serve.pid())) {
        ledger.Fail("the host exited");
        break;
      }
    }
    stop = true;
    for (auto& t : threads) t.join();

    // The verdict on growth, from the samples after the warm-up.
    size_t from = samples.size() / 5;
    std::vector<double> t;
    std::map<std::string, std::vector<double>> series;
    for (size_t i = from; i < samples.size(); ++i) {
      t.push_back(samples[i].t_s);
      series["rss_mib"].push_back(samples[i].rss_mib);
      series["fds"].push_back(samples[i].fds);
      series["threads"].push_back(samples[i].threads);
      series["p50_ms"].push_back(samples[i].p50_ms);
    }
    json::object fits;
    std::vector<std::string> grew;
    for (auto& [name, y] : series) {
      double median = Median(y);
      double allowance = name == "rss_mib"   ? std::max(16.0, 0.1 * median)
                         : name == "fds"     ? 8.0
                         : name == "threads" ? 4.0
                                             : std::max(median, 1.0);
      double rise = Rise(t, y);
      json::object f;
      f["median"] = median;
      f["rise"] = rise;
      f["allowance"] = allowance;
      f["flat"] = rise <= allowance;
      fits[name] = std::move(f);
      if (rise > allowance) grew.push_back(name);
    }
    bool judged = !opt.smoke && t.size() >= 5;
    std::printf(
        "\nfits over %zu samples after the warm-up (rise of the least-squares line over the "
        "run, against its allowance):\n",
        t.size());
    for (const auto& [name, f] : fits) {
      std::printf("  %-8s median %9.2f  rise %+9.2f  allowance %7.2f  %s\n",
                  std::string(name).c_str(), f.as_object().at("median").to_number<double>(),
                  f.as_object().at("rise").to_number<double>(),
                  f.as_object().at("allowance").to_number<double>(),
                  !judged                              ? "(not judged)"
                  : f.as_object().at("flat").as_bool() ? "flat"
                                                       : "GROWS");
    }
    json::object injected;
    for (const auto& [kind, codes] : ledger.injected) {
      json::object o;
      std::printf("  injected %-18s", kind.c_str());
      for (const auto& [code, n] : codes) {
        o[code] = n;
        std::printf(" %s=%d", code.c_str(), n);
      }
      std::printf("\n");
      injected[kind] = std::move(o);
    }
    for (const auto& f : ledger.failure_texts) std::printf("failure: %s\n", f.c_str());
    for (const auto& [code, n] : ledger.limited)
      std::printf("honest calls ended by a limit: %s=%d\n", code.c_str(), n);
    for (const auto& f : ledger.limited_texts) std::printf("  limit: %s\n", f.c_str());
    bool passed = ledger.failures == 0 && samples.size() >= 2 && (!judged || grew.empty());
    if (samples.size() < 2) std::printf("failure: fewer than two samples\n");
    std::printf("soak: %s (%lld calls, %lld failed%s)\n", passed ? "passed" : "FAILED",
                static_cast<long long>(ledger.calls), static_cast<long long>(ledger.failures),
                judged && !grew.empty() ? ", growing" : "");
    status = passed ? 0 : 1;

    json::array rows;
    for (const auto& s : samples) {
      json::object o;
      o["t_s"] = s.t_s;
      o["rss_mib"] = s.rss_mib;
      o["fds"] = s.fds;
      o["threads"] = s.threads;
      o["plugin_processes"] = s.plugin_processes;
      o["p50_ms"] = s.p50_ms;
      o["p99_ms"] = s.p99_ms;
      o["calls"] = s.calls;
      o["failures"] = s.failures;
      rows.push_back(std::move(o));
    }
    json::object meta;
    meta["minutes"] = opt.minutes;
    meta["sample_seconds"] = opt.sample_seconds;
    meta["callers"] = opt.callers;
    meta["inject_every_seconds"] = opt.inject_every_seconds;
    meta["smoke"] = opt.smoke;
    doc["meta"] = std::move(meta);
    doc["samples"] = std::move(rows);
    doc["fits"] = std::move(fits);
    doc["judged"] = judged;
    doc["injected"] = std::move(injected);
    json::array failures;
    for (const auto& f : ledger.failure_texts) failures.push_back(json::value(f));
    doc["failures"] = std::move(failures);
    json::object limited;
    for (const auto& [code, n] : ledger.limited) limited[code] = n;
    doc["limited"] = std::move(limited);
    json::array limited_texts;
    for (const auto& f : ledger.limited_texts) limited_texts.push_back(json::value(f));
    doc["limited_texts"] = std::move(limited_texts);
    doc["calls"] = ledger.calls;
    doc["passed"] = passed;
  }  // the host stops here
  std::error_code ec;
  fs::create_directories(fs::path(opt.json_path).parent_path(), ec);
  if (!WriteFileText(opt.json_path, Stringify(doc) + "\n")) {
    std::fprintf(stderr, "ps_bench --soak: cannot write %s\n", opt.json_path.c_str());
    return 1;
  }
  std::printf("results: %s\n", opt.json_path.c_str());
  return status;
}

}  // namespace ps::bench
