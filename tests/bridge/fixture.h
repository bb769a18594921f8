// A bridge on a real database (a SQLite file in a temporary directory, or a fresh PostgreSQL
// schema under PS_TEST_STORE=postgres), with a local media directory, a
// recording email sender and log sink. Tests make grants from manifest JSON and call methods with
// JSON params, then look at results or exact error texts.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "bridge/bridge.h"
#include "common/json.h"
#include "manifest/manifest.h"
#include "store/database.h"
#include "store/schema_registry.h"
#include "store/site_schema.h"
#include "store_env.h"
#include "test_util.h"

namespace ps::testing {

struct LoggedLine {
  std::string plugin_id;
  bridge::LogLevel level;
  std::string msg;
  json::value data;
};

class BridgeTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenBridge(TestDatabaseUrl(dir_)); }

  // Opens the site database at `url` (as the host does at start) and builds the bridge on it.
  void OpenBridge(const std::string& url) {
    auto db = store::OpenDatabase(url);
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::move(db).value();
    bridge::BridgeOptions opts;
    opts.media = bridge::MakeLocalMediaStorage((dir_ / "media").string());
    opts.email = [this](const json::object& m, const std::string& source) {
      sent_.push_back({m, source});
      return Status::Ok();
    };
    opts.log = [this](const std::string& id, bridge::LogLevel l, const std::string& msg,
                      const json::value& data) {
      logged_.push_back({id, l, msg, data});
    };
    Customize(opts);
    bridge_ = std::make_unique<bridge::Bridge>(*db_, bridge::TokenAuthority(std::string(64, 'a')),
                                               std::move(opts));
  }

  // Override to change options before the bridge is built.
  virtual void Customize(bridge::BridgeOptions&) {}

  // Registers a plugin from manifest JSON text and returns its grant.
  bridge::Grant Plugin(const std::string& manifest_json) {
    auto m = manifest::ParseManifestText(manifest_json, "manifest.json");
    EXPECT_TRUE(m.ok()) << m.status().message();
    bridge_->RegisterPlugin(*m);
    return bridge::Bridge::GrantFor(*m);
  }

  // Calls a method with params given as JSON object text.
  Result<bridge::CallResult> Call(const bridge::Grant& g, const std::string& method,
                                  const std::string& params_json = "{}") {
    auto p = ParseJson(params_json);
    EXPECT_TRUE(p.ok() && p->is_object()) << params_json;
    return bridge_->Call(g, method, p->get_object());
  }

  // The result value of a call that must succeed (null for void).
  json::value Ok(const bridge::Grant& g, const std::string& method,
                 const std::string& params_json = "{}") {
    auto r = Call(g, method, params_json);
    EXPECT_TRUE(r.ok()) << method << " " << params_json << ": " << r.status().message();
    if (!r.ok() || !r->value) return nullptr;
    return *r->value;
  }

  // The error message of a call that must fail.
  std::string Err(const bridge::Grant& g, const std::string& method,
                  const std::string& params_json = "{}") {
    auto r = Call(g, method, params_json);
    EXPECT_FALSE(r.ok()) << method << " " << params_json << " unexpectedly succeeded";
    return r.ok() ? std::string() : r.status().message();
  }

  void MakeCollection(const store::CollectionSpec& spec) {
    auto st = store::CreateCollection(*db_, spec);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  // Adds what only EmDash's main branch has (the revision prune queue, the media-usage fence
  // table, taxonomies.sort_order) and lets the bridge see it, as a host started on such a site
  // would. Tests of main-branch behaviour call it first; the rest run on the released schema.
  void AddEmdashMainSchema() {
    auto conn = db_->Acquire();
    auto st = conn->ExecScript(store::RenderDdl(R"SQL(
CREATE TABLE _emdash_revision_prune_queue (
  collection TEXT NOT NULL, entry_id TEXT NOT NULL, revision_id TEXT NOT NULL,
  PRIMARY KEY (collection, entry_id));
CREATE TABLE _emdash_media_usage_activation (
  task_key TEXT PRIMARY KEY, state TEXT NOT NULL DEFAULT 'expanded', lease_owner TEXT,
  lease_expires_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, updated_at TEXT DEFAULT {NOW});
ALTER TABLE taxonomies ADD COLUMN sort_order INTEGER DEFAULT 0;
)SQL",
                                                db_->dialect()));
    ASSERT_TRUE(st.ok()) << st.message();
    auto schema = store::SiteSchema::Read(*conn, db_->dialect());
    ASSERT_TRUE(schema.ok()) << schema.status().message();
    db_->set_schema(std::move(schema).value());
  }

  // Runs SQL directly against the site database (to seed or inspect rows).
  store::Rows Sql(const std::string& sql, const std::vector<store::Value>& params = {}) {
    auto conn = db_->Acquire();
    auto r = conn->Query(sql, params);
    EXPECT_TRUE(r.ok()) << sql << ": " << r.status().message();
    return r.ok() ? std::move(r).value() : store::Rows{};
  }

  TempDir dir_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<bridge::Bridge> bridge_;
  std::vector<std::pair<json::object, std::string>> sent_;
  std::vector<LoggedLine> logged_;
};

}  // namespace ps::testing
