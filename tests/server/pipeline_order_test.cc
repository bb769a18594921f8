// The pipeline's order: priority, then dependencies, then plugin id (runner.md §3).
#include <gtest/gtest.h>

#include "server/pipeline.h"

namespace ps::server {
namespace {

Participant P(const std::string& id, int64_t priority, std::vector<std::string> deps = {}) {
  Participant p;
  p.plugin = id;
  p.reg.hook = "content:beforeSave";
  p.reg.priority = priority;
  p.reg.dependencies = std::move(deps);
  return p;
}

std::vector<std::string> Ids(const std::vector<Participant>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.plugin);
  return out;
}

TEST(PipelineOrderTest, LowerPriorityRunsFirstAndTiesGoByPluginId) {
  std::vector<std::string> w;
  auto out = OrderParticipants({P("zeta", 100), P("alpha", 100), P("mid", 50), P("late", 200)}, &w);
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"mid", "alpha", "zeta", "late"}));
  EXPECT_TRUE(w.empty());
}

TEST(PipelineOrderTest, APluginRunsAfterItsDependencies) {
  std::vector<std::string> w;
  auto out = OrderParticipants({P("a", 100, {"b"}), P("b", 100), P("c", 10, {"a"})}, &w);
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"b", "a", "c"}));
  EXPECT_TRUE(w.empty());
}

TEST(PipelineOrderTest, MissingDependenciesAreIgnoredWithAWarning) {
  std::vector<std::string> w;
  auto out = OrderParticipants({P("a", 100, {"ghost"}), P("b", 100)}, &w);
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0],
            "plugin a: dependency ghost of hook content:beforeSave is not registered for it; "
            "ignored");
}

TEST(PipelineOrderTest, ACycleFallsBackToPriorityOrderWithAWarning) {
  std::vector<std::string> w;
  auto out = OrderParticipants({P("x", 100, {"y"}), P("y", 50, {"x"}), P("free", 300)}, &w);
  EXPECT_EQ(Ids(out), (std::vector<std::string>{"y", "x", "free"}));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0],
            "hook content:beforeSave: dependency cycle among y, x; every plugin runs in "
            "priority order");
}

}  // namespace
}  // namespace ps::server
