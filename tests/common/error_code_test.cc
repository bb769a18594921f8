#include "common/error_code.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <utility>

#include "common/status.h"

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
  for (Code k : {Code::kInvalidArgument, Code::kPermissionDenied, Code::kUnauthenticated,
                 Code::kNotFound, Code::kConflict, Code::kTooLarge, Code::kUnavailable,
                 Code::kInternal}) {
    ErrorCode c = GeneralCodeFor(k);
    EXPECT_EQ(Info(c).surface, ErrorSurface::kHostApi) << c;
    EXPECT_EQ(KindOf(c), k) << c;
  }
}

// docs/operating.md's "Errors" tables list exactly the declared codes, statuses and meanings.
TEST(ErrorCodeTest, DocsListEveryCodeAsDeclared) {
  std::ifstream in(std::string(PS_SOURCE_DIR) + "/docs/operating.md");
  ASSERT_TRUE(in) << "docs/operating.md";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  auto start = doc.find("\n## Errors\n");
  ASSERT_NE(start, std::string::npos) << "no Errors section";
  auto end = doc.find("\n## ", start + 1);
  std::string section = doc.substr(start, end - start);

  std::map<std::string, std::pair<int, std::string>> documented;
  std::regex row(R"(\| `([A-Za-z_]+)` \| (\d+) \| (.*) \|)");
  std::istringstream lines(section);
  std::string line;
  for (int n = 0; std::getline(lines, line) && n < 1000; ++n) {
    std::smatch m;
    if (std::regex_match(line, m, row)) documented[m[1]] = {std::stoi(m[2]), m[3]};
  }
  for (const auto& i : AllErrorCodes()) {
    auto it = documented.find(std::string(i.name));
    if (it == documented.end()) {
      ADD_FAILURE() << "docs/operating.md does not list " << i.name;
      continue;
    }
    EXPECT_EQ(it->second.first, i.http_status) << i.name;
    EXPECT_EQ(it->second.second, i.meaning) << i.name;
    documented.erase(it);
  }
  for (const auto& [name, _] : documented) {
    ADD_FAILURE() << "docs/operating.md lists " << name << ", which is not declared";
  }
}

}  // namespace
}  // namespace ps
