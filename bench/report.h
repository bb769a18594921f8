// The report of a benchmark run: what ps_bench prints and what it writes as JSON, from the
// results of its runs (report.cc holds the table's rows and the targets).
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "harness.h"

namespace ps::bench {

// The printed table of every figure beside its floor ("-" where a figure is missing).
std::string Table(const Results& r, int runs);
// One line per target: met, NOT MET or n/a, with the value.
std::string TargetsText(const Results& r);
// Figures computed from others in the same run (before the median over runs is taken).
void Derive(Results& r);
// The median of each figure over the runs that have it.
Results MedianOf(const std::vector<Results>& runs);

struct RunSummary {
  bool smoke = false;
  std::vector<Results> runs;
  Results median;
  double seconds = 0, load_before = 0, load_after = 0;
  std::vector<std::string> errors, notes;
};

// {meta, median, runs, targets, errors, notes}: the document the results file holds.
json::object JsonDocument(const RunSummary& s);

}  // namespace ps::bench
