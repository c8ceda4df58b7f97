// Copyright 2026 Azimuth authors.
//
// remote.h — the `azimuth` subcommands that talk to a running azimuthd:
// assign (a CSV batch), telemetry (push a CSV of endpoint samples),
// policy get|set, explain ID, endpoints, health.
//
//   Connection c{"unix:/var/run/azimuth/azimuth.sock"};
//   AZ_ASSIGN_OR_RETURN(auto channel, OpenChannel(c));
#ifndef AZIMUTH_SCHEDULER_CLI_REMOTE_H_
#define AZIMUTH_SCHEDULER_CLI_REMOTE_H_

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "azimuth/kernels/problem_data.h"
#include "azimuth/v1/scheduler.pb.h"

namespace azimuth::scheduler {

// Connection
//
// `server` is a gRPC target: "host:port" or "unix:/path". TLS when tls_ca is
// set (the CA that signed the server's certificate); mutual TLS when a client
// certificate and key are given too. The token goes out as
// `authorization: Bearer <token>`.
struct Connection {
  std::string server = "localhost:50051";
  std::string token;
  std::string tls_ca, tls_cert, tls_key;
  std::string tls_server_name;  // overrides the name checked against the certificate
  double timeout_s = 60;
};

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const Connection& connection);
// Sets the deadline and the token on a call's context.
void Prepare(const Connection& connection, grpc::ClientContext* context);

struct AssignArgs {
  std::string requests_csv;
  std::string out_csv;          // empty: no file, summary only
  std::size_t chunk = 1 << 20;  // requests per message
};
absl::Status RunAssign(const Connection& c, const AssignArgs& args, std::ostream& out);
absl::Status RunTelemetry(const Connection& c, const std::string& endpoints_csv, std::ostream& out);
absl::Status RunPolicyGet(const Connection& c, std::ostream& out);
absl::Status RunPolicySet(const Connection& c, const std::string& policy_json, std::ostream& out);
absl::Status RunExplain(const Connection& c, const std::string& request_id, std::ostream& out);
absl::Status RunEndpoints(const Connection& c, std::ostream& out);
// RunHealth(): the standard grpc.health.v1 check; OK only when SERVING.
absl::Status RunHealth(const Connection& c, std::ostream& out);

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_CLI_REMOTE_H_
