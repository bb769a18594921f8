#include "common/error_code.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

#include "common/status.h"
#include "test_util.h"

namespace ps {
namespace {

TEST(ErrorCodeTest, EveryCodeParsesBackFromItsName) {
  for (const auto& i : AllErrorCodes()) {
    EXPECT_EQ(ParseErrorCode(i.name), i.code) << i.name;
    EXPECT_EQ(&Info(i.code), &i);
  }
  EXPECT_EQ(ParseErrorCode("no_such_code"), std::nullopt);
  EXPECT_EQ(ErrorCodeName(ErrorCode::kNone), "");
}

TEST(ErrorCodeTest, StatusTakesItsKindFromTheCode) {
  EXPECT_EQ(Status(ErrorCode::kPluginUnavailable, "x").code(), Code::kUnavailable);
  EXPECT_EQ(Status(ErrorCode::kNotFound, "x").code(), Code::kNotFound);
  EXPECT_EQ(Status(ErrorCode::kCpuLimitExceeded, "x").code(), Code::kInternal);
  EXPECT_EQ(Status(ErrorCode::kInvocationEnded, "x").code(), Code::kPermissionDenied);
  EXPECT_EQ(Status(Code::kConflict, "x").error_code(), ErrorCode::kNone);
}

TEST(ErrorCodeTest, EveryKindHasAHostApiCodeOfTheSameKind) {
  for (Code k :
       {Code::kInvalidArgument, Code::kPermissionDenied, Code::kUnauthenticated, Code::kNotFound,
        Code::kConflict, Code::kTooLarge, Code::kUnavailable, Code::kInternal}) {
    ErrorCode c = GeneralCodeFor(k);
    EXPECT_EQ(Info(c).surface, ErrorSurface::kHostApi) << c;
    EXPECT_EQ(KindOf(c), k) << c;
  }
}

// docs/operating.md's "Errors" tables list exactly the declared codes, statuses and meanings.
TEST(ErrorCodeTest, DocsListEveryCodeAsDeclared) {
  std::map<std::string, std::vector<std::string>> documented;
  // Two tables in the section: the host API's, then the bridge's (under the same heading).
  auto rows = testing::DocTable("docs/operating.md", "## Errors");
  ASSERT_FALSE(rows.empty()) << "docs/operating.md has no Errors table";
  std::string text = testing::ReadFile(std::filesystem::path(PS_SOURCE_DIR) / "docs/operating.md");
  for (const auto& i : AllErrorCodes()) {
    std::string row = "| `" + std::string(i.name) + "` | " + std::to_string(i.http_status) + " | " +
                      std::string(i.meaning) + " |";
    EXPECT_NE(text.find(row), std::string::npos) << "docs/operating.md lacks the row " << row;
  }
  for (const auto& r : rows) {
    ASSERT_FALSE(r.empty());
    EXPECT_TRUE(ParseErrorCode(r[0]).has_value())
        << "docs/operating.md lists " << r[0] << ", which is not declared";
  }
}

// The isolate-side wrapper cannot include the table: it names the fence's two codes itself (to
// throw EmDash's error for them). They must be the table's.
TEST(ErrorCodeTest, TheIsolateWrapperNamesTheFenceCodesAsDeclared) {
  std::string wrapper =
      testing::ReadFile(std::filesystem::path(PS_SOURCE_DIR) / "src/runner/js/wrapper.js");
  for (ErrorCode c :
       {ErrorCode::kMediaUsageActivationInProgress, ErrorCode::kMediaUsageActivationCheckFailed}) {
    EXPECT_NE(wrapper.find("\"" + std::string(ErrorCodeName(c)) + "\""), std::string::npos) << c;
  }
}

}  // namespace
}  // namespace ps
