// Copyright 2026 Azimuth authors.
//
// main.cc — the `azimuth` command line. Parses flags and calls commands.h.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "scheduler/cli/commands.h"
#include "scheduler/cli/remote.h"
#include "scheduler/common/status.h"

ABSL_FLAG(std::string, endpoints, "", "solve: endpoints CSV");
ABSL_FLAG(std::string, requests, "", "solve: requests CSV");
ABSL_FLAG(std::string, policy, "", "solve: policy JSON (azimuth.v1.Policy)");
ABSL_FLAG(std::string, out, "", "solve: assignments CSV to write");
ABSL_FLAG(std::string, summary, "", "solve: summary JSON to write");
ABSL_FLAG(std::string, backend, "auto", "solver backend: auto, cuda or cpu");
ABSL_FLAG(int64_t, n, 200000, "demo/generate: number of requests");
ABSL_FLAG(int, m, 64, "demo/generate: number of endpoints");
ABSL_FLAG(uint64_t, seed, 1, "demo/generate: workload seed");
ABSL_FLAG(double, load, 0.9, "demo/generate: demand over capacity");
ABSL_FLAG(std::string, mode, "strict", "demo/generate: azure_first mode: strict, weighted or off");
ABSL_FLAG(std::string, out_dir, "", "generate: directory for E.csv, R.csv and P.json");
ABSL_FLAG(bool, capabilities, false,
          "demo/generate: endpoints with context limits and features, requests with requirements");
ABSL_FLAG(std::string, server, "localhost:50051", "remote: azimuthd address, host:port or unix:/path");
ABSL_FLAG(std::string, token, "", "remote: bearer token (default: $AZIMUTH_TOKEN)");
ABSL_FLAG(std::string, tls_ca, "", "remote: CA certificate (PEM) of the server: enables TLS");
ABSL_FLAG(std::string, tls_cert, "", "remote: client certificate (PEM) for mutual TLS");
ABSL_FLAG(std::string, tls_key, "", "remote: client key (PEM) for mutual TLS");
ABSL_FLAG(std::string, tls_server_name, "", "remote: name to check the server certificate against");
ABSL_FLAG(double, timeout_s, 60, "remote: deadline of each call, seconds");
ABSL_FLAG(int64_t, chunk, 1 << 20, "assign: requests per message");

namespace {

constexpr char kUsage[] = R"(azimuth — cross-cloud LLM request scheduler

usage:
  azimuth demo [--n 200000] [--m 64] [--load 0.9] [--mode strict|weighted|off] [--backend auto|cuda|cpu]
  azimuth solve --endpoints E.csv --requests R.csv --policy P.json --out A.csv --summary S.json
                [--backend auto|cuda|cpu]
  azimuth generate --out_dir DIR [--n 10000] [--m 64] [--seed 1] [--load 0.9] [--mode strict] [--capabilities]

remote (against a running azimuthd; --server host:port or unix:/path, --token or $AZIMUTH_TOKEN,
        --tls_ca [--tls_cert --tls_key] for TLS / mutual TLS):
  azimuth assign --requests R.csv [--out A.csv] [--chunk 1048576]
  azimuth telemetry --endpoints E.csv
  azimuth policy get
  azimuth policy set --policy P.json
  azimuth explain REQUEST_ID
  azimuth endpoints
  azimuth health                      (grpc.health.v1; exit 0 only when SERVING)
)";

int Fail(const absl::Status& status) {
  std::cerr << "azimuth: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument || status.code() == absl::StatusCode::kNotFound ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = args[1];
  const std::vector<std::string> operands(args.begin() + 2, args.end());
  const bool takes_operand = command == "policy" || command == "explain";
  if (operands.size() != (takes_operand ? 1u : 0u)) {
    std::cerr << "azimuth: " << command << ": wrong number of arguments\n" << kUsage;
    return 2;
  }
  namespace sch = azimuth::scheduler;
  auto backend = sch::ParseBackend(absl::GetFlag(FLAGS_backend));
  if (!backend.ok()) return Fail(backend.status());
  auto mode = sch::ParseMode(absl::GetFlag(FLAGS_mode));
  if (!mode.ok()) return Fail(mode.status());
  absl::Status status;
  if (command == "solve") {
    sch::SolveArgs a{absl::GetFlag(FLAGS_endpoints), absl::GetFlag(FLAGS_requests), absl::GetFlag(FLAGS_policy),
                     absl::GetFlag(FLAGS_out),       absl::GetFlag(FLAGS_summary),  *backend};
    status = sch::RunSolve(a, std::cerr);
  } else if (command == "demo" || command == "generate") {
    azimuth::bench::WorkloadSpec workload;
    workload.requests = absl::GetFlag(FLAGS_n);
    workload.endpoints = absl::GetFlag(FLAGS_m);
    workload.seed = absl::GetFlag(FLAGS_seed);
    workload.load = absl::GetFlag(FLAGS_load);
    workload.capabilities = absl::GetFlag(FLAGS_capabilities);
    workload.mode = *mode;
    if (command == "demo") {
      status = sch::RunDemo(sch::DemoArgs{workload, *backend}, std::cout);
    } else {
      status = sch::RunGenerate(sch::GenerateArgs{absl::GetFlag(FLAGS_out_dir), workload}, std::cerr);
    }
  } else if (command == "assign" || command == "telemetry" || command == "policy" || command == "explain" ||
             command == "endpoints" || command == "health") {
    sch::Connection c;
    c.server = absl::GetFlag(FLAGS_server);
    c.token = absl::GetFlag(FLAGS_token);
    if (c.token.empty() && std::getenv("AZIMUTH_TOKEN") != nullptr) c.token = std::getenv("AZIMUTH_TOKEN");
    c.tls_ca = absl::GetFlag(FLAGS_tls_ca);
    c.tls_cert = absl::GetFlag(FLAGS_tls_cert);
    c.tls_key = absl::GetFlag(FLAGS_tls_key);
    c.tls_server_name = absl::GetFlag(FLAGS_tls_server_name);
    c.timeout_s = absl::GetFlag(FLAGS_timeout_s);
    if (command == "assign") {
      sch::AssignArgs a{absl::GetFlag(FLAGS_requests), absl::GetFlag(FLAGS_out),
                        static_cast<std::size_t>(std::max<int64_t>(1, absl::GetFlag(FLAGS_chunk)))};
      status = sch::RunAssign(c, a, std::cout);
    } else if (command == "telemetry") {
      status = sch::RunTelemetry(c, absl::GetFlag(FLAGS_endpoints), std::cout);
    } else if (command == "policy" && operands[0] == "get") {
      status = sch::RunPolicyGet(c, std::cout);
    } else if (command == "policy" && operands[0] == "set") {
      status = sch::RunPolicySet(c, absl::GetFlag(FLAGS_policy), std::cout);
    } else if (command == "policy") {
      std::cerr << "azimuth: policy: expected 'get' or 'set', got '" << operands[0] << "'\n";
      return 2;
    } else if (command == "explain") {
      status = sch::RunExplain(c, operands[0], std::cout);
    } else if (command == "health") {
      status = sch::RunHealth(c, std::cout);
    } else {
      status = sch::RunEndpoints(c, std::cout);
    }
  } else {
    std::cerr << "azimuth: unknown command '" << command << "'\n" << kUsage;
    return 2;
  }
  return status.ok() ? 0 : Fail(status);
}
