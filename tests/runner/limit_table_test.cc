#include "runner/limit_table.h"

#include <gtest/gtest.h>

#include <set>

#include "test_util.h"

namespace ps::runner {
namespace {

TEST(LimitTableTest, ApplyLimitSetsTheNamedFieldOnly) {
  for (const auto& def : AllLimits()) {
    Limits l;
    ASSERT_TRUE(ApplyLimit("--limit", std::string(def.name) + "=7", &l).ok()) << def.name;
    EXPECT_EQ(l.*(def.field), 7) << def.name;
    for (const auto& other : AllLimits()) {
      if (other.name != def.name) {
        EXPECT_EQ(l.*(other.field), other.Default()) << other.name;
      }
    }
  }
}

TEST(LimitTableTest, BadSpecsNameTheSourceAndTheChoices) {
  Limits l;
  Status st = ApplyLimit("--limit", "gpu-ms=1", &l);
  EXPECT_EQ(st.message(),
            "--limit: \"gpu-ms=1\": unknown limit; expected cpu-ms, memory-mb, subrequests or "
            "wall-ms");
  EXPECT_EQ(ApplyLimit("--limit", "cpu-ms=0", &l).message(),
            "--limit: \"cpu-ms=0\": expected NAME=N with a positive integer N");
  EXPECT_EQ(ApplyLimit("--limit", "cpu-ms", &l).code(), Code::kInvalidArgument);
}

TEST(LimitTableTest, EachLimitHasItsOwnNamesAndALimitCode) {
  std::set<std::string_view> names, emdash, api;
  for (const auto& def : AllLimits()) {
    EXPECT_TRUE(names.insert(def.name).second) << def.name;
    EXPECT_TRUE(emdash.insert(def.emdash_option).second) << def.emdash_option;
    EXPECT_TRUE(api.insert(def.api_field).second) << def.api_field;
    EXPECT_GT(def.Default(), 0) << def.name;
    EXPECT_EQ(FindLimit(def.name), &def);
    EXPECT_TRUE(LimitsJson(Limits{}).contains(def.api_field)) << def.api_field;
  }
  EXPECT_EQ(FindLimit("gpu-ms"), nullptr);
}

// docs/operating.md's "Limits" table lists exactly the declared limits.
TEST(LimitTableTest, DocsListEveryLimitAsDeclared) {
  auto rows = testing::DocTable("docs/operating.md", "## Limits");
  ASSERT_EQ(rows.size(), AllLimits().size()) << "docs/operating.md's Limits table";
  for (const auto& r : rows) {
    ASSERT_EQ(r.size(), 5u);
    const LimitDef* def = FindLimit(r[0]);
    ASSERT_NE(def, nullptr) << "docs/operating.md lists " << r[0] << ", which is not declared";
    EXPECT_EQ(r[1], def->unit) << r[0];
    EXPECT_EQ(r[2], std::to_string(def->Default())) << r[0];
    EXPECT_EQ(r[3], def->emdash_option) << r[0];
    std::string code = std::to_string(HttpStatusOf(def->exceeded)) + " `" +
                       std::string(ErrorCodeName(def->exceeded)) +
                       "`: " + std::string(def->meaning);
    EXPECT_EQ(r[4], code) << r[0];
  }
}

}  // namespace
}  // namespace ps::runner
