// Copyright 2026 Azimuth authors.
//
// services.h — the azimuth.v1 gRPC services: thin adapters between protobuf
// and the domain (Engine, Batcher). They convert, validate at the edge, map
// absl::Status onto gRPC status codes, and count metrics; every decision is
// made by the domain code.
//
// Bearer tokens (`authorization: Bearer <token>` metadata) guard the calls
// that change state: SetPolicy and ReportTelemetry.
#ifndef AZIMUTH_SCHEDULER_SERVICE_SERVICES_H_
#define AZIMUTH_SCHEDULER_SERVICE_SERVICES_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "azimuth/v1/policy_service.grpc.pb.h"
#include "azimuth/v1/scheduler.grpc.pb.h"
#include "azimuth/v1/telemetry.grpc.pb.h"
#include "scheduler/common/mutex.h"
#include "scheduler/core/batcher.h"
#include "scheduler/core/engine.h"
#include "scheduler/service/convert.h"
#include "scheduler/service/metrics.h"

namespace azimuth::scheduler {

// ToGrpcStatus()
grpc::Status ToGrpcStatus(const absl::Status& status);

// Auth
//
// Constant-time comparison against the configured tokens. With no tokens
// configured every guarded call is refused (PERMISSION_DENIED).
class Auth {
 public:
  explicit Auth(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}
  grpc::Status Check(const grpc::ServerContext& context) const;

 private:
  std::vector<std::string> tokens_;
};

class TelemetryServiceImpl final : public v1::TelemetryService::Service {
 public:
  TelemetryServiceImpl(Engine* engine, const Auth* auth, Metrics* metrics)
      : engine_(engine), auth_(auth), metrics_(metrics) {}
  grpc::Status ReportTelemetry(grpc::ServerContext* context, grpc::ServerReader<v1::EndpointSample>* reader,
                               v1::ReportTelemetryResponse* response) override;
  grpc::Status ListEndpoints(grpc::ServerContext* context, const v1::ListEndpointsRequest* request,
                             v1::ListEndpointsResponse* response) override;

 private:
  Engine* const engine_;
  const Auth* const auth_;
  Metrics* const metrics_;
};

struct SchedulerServiceOptions {
  std::int64_t online_max_requests = 1;
  std::int64_t max_message_requests = 4 << 20;
  // Messages of one AssignStream being decided at once; the stream's reader
  // waits beyond it (flow control reaches the client).
  int max_in_flight_per_stream = 64;
  // Replicas (ServerConfig.cluster): the other live replicas' addresses; an
  // Explain for a request this replica did not decide is asked of them.
  std::function<std::vector<std::string>()> peers;
  std::shared_ptr<grpc::ChannelCredentials> peer_credentials;  // default: insecure
};

// Metadata marking an Explain forwarded by another replica.
inline constexpr char kForwardedHeader[] = "azimuth-forwarded";

// AssignStream takes its messages as bytes (the callback API) and parses
// them itself: a message that does not parse is answered with an error and
// skipped, where gRPC's own parsing would end the stream with a silent OK.
class SchedulerServiceImpl final
    : public v1::SchedulerService::WithRawCallbackMethod_AssignStream<v1::SchedulerService::Service> {
 public:
  SchedulerServiceImpl(Engine* engine, Batcher* batcher, Metrics* metrics, SchedulerServiceOptions options)
      : engine_(engine), batcher_(batcher), metrics_(metrics), options_(options) {}
  grpc::Status Assign(grpc::ServerContext* context, const v1::AssignRequest* request,
                      v1::AssignResponse* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* AssignStream(
      grpc::CallbackServerContext* context) override;
  grpc::Status Explain(grpc::ServerContext* context, const v1::ExplainRequest* request,
                       v1::ExplainResponse* response) override;

 private:
  class StreamReactor;

  // Decides one message; `done` gets the response (error_code set when the
  // whole message was refused), on this thread or the batcher's.
  void Process(const v1::AssignRequest& request, std::function<void(v1::AssignResponse)> done);
  std::shared_ptr<v1::SchedulerService::Stub> PeerStub(const std::string& address);

  Engine* const engine_;
  Batcher* const batcher_;
  Metrics* const metrics_;
  const SchedulerServiceOptions options_;
  Mutex peers_mu_;
  std::map<std::string, std::shared_ptr<v1::SchedulerService::Stub>> peer_stubs_ ABSL_GUARDED_BY(peers_mu_);
};

class PolicyServiceImpl final : public v1::PolicyService::Service {
 public:
  PolicyServiceImpl(Engine* engine, const Auth* auth, Metrics* metrics)
      : engine_(engine), auth_(auth), metrics_(metrics) {}
  grpc::Status GetPolicy(grpc::ServerContext* context, const v1::GetPolicyRequest* request,
                         v1::Policy* response) override;
  grpc::Status SetPolicy(grpc::ServerContext* context, const v1::SetPolicyRequest* request,
                         v1::Policy* response) override;

 private:
  Engine* const engine_;
  const Auth* const auth_;
  Metrics* const metrics_;
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_SERVICE_SERVICES_H_
