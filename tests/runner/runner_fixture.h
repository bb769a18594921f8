// Real workerd processes behind a real runner, on a real SQLite file in a temporary directory.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "manifest/bundle.h"
#include "runner/runner.h"
#include "store/database.h"
#include "test_util.h"

namespace ps::testing {

// The invocation failed with exactly this error code and message.
inline void ExpectFailure(const Result<json::value>& r, ErrorCode code,
                          const std::string& message) {
  ASSERT_FALSE(r.ok()) << Stringify(*r);
  EXPECT_EQ(r.status().error_code(), code) << r.status().message();
  EXPECT_EQ(r.status().message(), message);
}

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::OpenDatabase("sqlite:" + (dir_ / "site.db").string());
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::move(db).value();
    runner::RunnerOptions opts;
    opts.data_dir = (dir_ / "data").string();
    opts.launcher_path = PS_BINARY_DIR "/src/plugin-sandbox-launch";
    opts.workerd_path = runner::FindWorkerd(PS_SOURCE_DIR);
    opts.supervision.stop_timeout = std::chrono::milliseconds(2000);
    Customize(opts);
    bridge::BridgeOptions bopts;
    bopts.media = bridge::MakeLocalMediaStorage((dir_ / "data" / "media").string());
    bopts.log = [this](const std::string& id, bridge::LogLevel, const std::string& msg,
                       const json::value&) {
      std::lock_guard<std::mutex> lock(log_mu_);
      logs_.push_back(id + ": " + msg);
    };
    CustomizeBridge(bopts);
    auto r = runner::Runner::Create(*db_, opts, std::move(bopts));
    ASSERT_TRUE(r.ok()) << r.status().message();
    runner_ = std::move(r).value();
  }

  void TearDown() override { runner_.reset(); }

  virtual void Customize(runner::RunnerOptions&) {}
  virtual void CustomizeBridge(bridge::BridgeOptions&) {}

  // A bundle from manifest JSON and module source.
  manifest::Bundle MakeBundle(const std::string& manifest_json, const std::string& source) {
    static int n = 0;
    auto d = dir_ / ("bundle" + std::to_string(n++));
    WriteFile(d / "manifest.json", manifest_json);
    WriteFile(d / "backend.js", source);
    auto b = manifest::LoadBundle(d.string());
    EXPECT_TRUE(b.ok()) << b.status().message();
    return b.ok() ? std::move(b).value() : manifest::Bundle{};
  }

  runner::PluginHandle Load(const std::string& manifest_json, const std::string& source) {
    auto h = runner_->Load(MakeBundle(manifest_json, source));
    EXPECT_TRUE(h.ok()) << h.status().message();
    return h.ok() ? *h : runner::PluginHandle{};
  }

  json::value Route(const runner::PluginHandle& h, const std::string& route,
                    const std::string& input_json = "null") {
    auto r = runner_->InvokeRoute(h, route, *ParseJson(input_json), json::object());
    EXPECT_TRUE(r.ok()) << route << ": " << r.status().error_code() << " " << r.status().message();
    return r.ok() ? *r : json::value(nullptr);
  }

  std::vector<std::string> Logs() {
    std::lock_guard<std::mutex> lock(log_mu_);
    return logs_;
  }

  TempDir dir_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<runner::Runner> runner_;
  std::mutex log_mu_;
  std::vector<std::string> logs_;
};

}  // namespace ps::testing
