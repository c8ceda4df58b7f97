// Copyright 2026 Azimuth authors.
//
// The `azimuth` subcommands, run in-process on real files: generate, then
// solve, then check the outputs' shapes (docs/design.md, "Offline interchange")
// and the invariants of the answer they describe.
#include "scheduler/cli/commands.h"
#include "scheduler/common/status.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/str_split.h"
#include "bench/reference/lp_reference.h"
#include "scheduler/offline/offline_io.h"

namespace azimuth::scheduler {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class CommandsTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "/azimuth_cli_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(CommandsTest, GenerateThenSolveWritesExactShapes) {
  std::ostringstream log;
  GenerateArgs gen;
  gen.out_dir = dir_;
  gen.workload.requests = 3000;
  gen.workload.endpoints = 24;
  ASSERT_TRUE(RunGenerate(gen, log).ok()) << log.str();

  SolveArgs args{dir_ + "/E.csv", dir_ + "/R.csv",  dir_ + "/P.json",
                 dir_ + "/A.csv", dir_ + "/S.json", kernels::Backend::kCpu};
  const absl::Status status = RunSolve(args, log);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_NE(log.str().find("solved on cpu"), std::string::npos) << log.str();

  // A.csv: header, then one row per request in input order.
  const std::vector<std::string> lines = absl::StrSplit(ReadAll(args.out), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3001u);
  EXPECT_EQ(lines[0], "id,endpoint,reason,cost");
  kernels::ProblemData data;
  ASSERT_TRUE(ReadEndpointsCsv(args.endpoints, &data).ok());
  ASSERT_TRUE(ReadRequestsCsv(args.requests, &data).ok());
  ASSERT_TRUE(ReadPolicyJson(args.policy, &data.policy).ok());
  const std::set<std::string> reasons = {"OK", "AZURE_WAIVER", "NO_ELIGIBLE_ENDPOINT", "CAPACITY_EXHAUSTED",
                                         "INVALID_REQUEST"};
  kernels::Solution parsed;
  parsed.endpoint.resize(3000);
  parsed.reason.resize(3000);
  parsed.cost.resize(3000);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> f = absl::StrSplit(lines[i], ',');
    ASSERT_EQ(f.size(), 4u) << lines[i];
    EXPECT_EQ(f[0], data.request_id[i - 1]);
    ASSERT_TRUE(reasons.count(f[2])) << f[2];
    EXPECT_EQ(f[1].empty(), f[2] != "OK" && f[2] != "AZURE_WAIVER");
    int endpoint = -1;
    for (std::size_t p = 0; p < data.num_endpoints(); ++p) {
      if (data.endpoint_id[p] == f[1]) endpoint = static_cast<int>(p);
    }
    parsed.endpoint[i - 1] = endpoint;
    for (int k = 0; k < 5; ++k) {
      if (f[2] == kernels::ReasonName(static_cast<kernels::Reason>(k)))
        parsed.reason[i - 1] = static_cast<kernels::Reason>(k);
    }
    parsed.cost[i - 1] = std::stod(f[3]);
    if (endpoint >= 0) {
      ++parsed.assigned;
      parsed.assign_cost_usd += parsed.cost[i - 1];
    } else {
      ++parsed.rejected;
      parsed.reject_cost_usd += parsed.cost[i - 1];
    }
  }
  // The answer written to disk satisfies every invariant on its own.
  EXPECT_EQ(bench::CheckInvariants(data.View(), parsed), "");

  const std::string summary = ReadAll(args.summary);
  for (const char* key : {"\"objective_usd\"", "\"assign_cost_usd\"", "\"reject_cost_usd\"", "\"azure_token_share\"",
                          "\"lower_bound_usd\"", "\"gap\"", "\"assigned\"", "\"rejected\"", "\"iterations\"",
                          "\"solve_ms\"", "\"backend\": \"cpu\""}) {
    EXPECT_NE(summary.find(key), std::string::npos) << key << " in " << summary;
  }
}

// --out_dir is created when it does not exist yet, parents included.
TEST_F(CommandsTest, GenerateCreatesItsOutputDirectory) {
  std::ostringstream log;
  GenerateArgs gen;
  gen.out_dir = dir_ + "/new/deeper";
  gen.workload.requests = 100;
  gen.workload.endpoints = 4;
  const absl::Status status = RunGenerate(gen, log);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(std::filesystem::exists(gen.out_dir + "/R.csv"));
}

TEST_F(CommandsTest, SolveReportsBadInputAndWritesNothing) {
  std::ostringstream log;
  GenerateArgs gen;
  gen.out_dir = dir_;
  gen.workload.requests = 10;
  ASSERT_TRUE(RunGenerate(gen, log).ok());
  std::ofstream(dir_ + "/R.csv", std::ios::app) << "extra,t,gpt-5,10,abc,0,,azure,1\n";
  SolveArgs args{dir_ + "/E.csv", dir_ + "/R.csv",  dir_ + "/P.json",
                 dir_ + "/A.csv", dir_ + "/S.json", kernels::Backend::kAuto};
  const absl::Status status = RunSolve(args, log);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("R.csv:12: field 'tokens_out'"), absl::string_view::npos) << status.message();
  EXPECT_FALSE(std::filesystem::exists(args.out));
  args.requests.clear();
  EXPECT_NE(RunSolve(args, log).message().find("--requests is required"), absl::string_view::npos);
}

TEST_F(CommandsTest, DemoPrintsTheComparison) {
  DemoArgs args;
  args.workload.requests = 5000;
  args.workload.endpoints = 24;
  std::ostringstream out;
  ASSERT_TRUE(RunDemo(args, out).ok());
  for (const char* text :
       {"azimuth (dual prices)", "greedy router", "azure-first greedy", "certified: within", "backend: cpu"}) {
    EXPECT_NE(out.str().find(text), std::string::npos) << text << "\n" << out.str();
  }
}

TEST_F(CommandsTest, WorkloadFlagErrorsNameTheFlags) {
  std::ostringstream out;
  DemoArgs demo;
  demo.workload.requests = -1;
  EXPECT_NE(RunDemo(demo, out).message().find("--n"), absl::string_view::npos);
  GenerateArgs gen;
  gen.out_dir = dir_;
  gen.workload.endpoints = 0;
  EXPECT_NE(RunGenerate(gen, out).message().find("--m"), absl::string_view::npos);
  gen.workload.endpoints = 8;
  gen.workload.load = 0;
  EXPECT_NE(RunGenerate(gen, out).message().find("--load"), absl::string_view::npos);
}

TEST(ParseFlags, BackendAndMode) {
  EXPECT_EQ(*ParseBackend("CUDA"), kernels::Backend::kCuda);
  EXPECT_FALSE(ParseBackend("tpu").ok());
  EXPECT_EQ(*ParseMode("weighted"), kernels::AzureFirst::kWeighted);
  EXPECT_FALSE(ParseMode("lax").ok());
}

}  // namespace
}  // namespace azimuth::scheduler
