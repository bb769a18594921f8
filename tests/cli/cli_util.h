// Running the built plugin-sandbox binary from tests, capturing its exit code and both streams.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace ps {

using ps::testing::ReadFile;
using ps::testing::TempDir;
using ps::testing::WriteFile;

inline const std::string kBinary = PS_BINARY_DIR "/src/plugin-sandbox";

struct Outcome {
  int code = -1;
  std::string out, err;
  std::vector<std::string> ErrLines() const {
    std::vector<std::string> lines;
    std::istringstream in(err);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
  }
};

inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

// Runs the binary with `args` (and the working directory `cwd`), capturing both streams.
inline Outcome Exec(const std::vector<std::string>& args, const std::string& cwd = "") {
  TempDir io;
  std::string cmd;
  if (!cwd.empty()) cmd += "cd " + ShellQuote(cwd) + " && ";
  cmd += ShellQuote(kBinary);
  for (const auto& a : args) cmd += " " + ShellQuote(a);
  cmd += " >" + ShellQuote((io / "out").string()) + " 2>" + ShellQuote((io / "err").string()) +
         " </dev/null";
  int status = std::system(cmd.c_str());
  Outcome r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(io / "out");
  r.err = ReadFile(io / "err");
  return r;
}

}  // namespace ps
