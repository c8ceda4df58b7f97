// Copyright 2026 Azimuth authors.
#include "scheduler/cli/remote.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "azimuth/v1/policy_service.grpc.pb.h"
#include "azimuth/v1/scheduler.grpc.pb.h"
#include "azimuth/v1/telemetry.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "scheduler/common/io.h"
#include "scheduler/common/policy.h"
#include "scheduler/common/status.h"
#include "scheduler/offline/offline_io.h"
#include "scheduler/service/convert.h"

namespace azimuth::scheduler {

namespace {

absl::Status FromGrpc(const grpc::Status& s, const Connection& c) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), absl::StrCat(c.server, ": ", s.error_message()));
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const Connection& c) {
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!c.tls_ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    AZ_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadTextFile(c.tls_ca, "CA certificate"));
    if (!c.tls_cert.empty()) {
      AZ_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadTextFile(c.tls_cert, "client certificate"));
      AZ_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadTextFile(c.tls_key, "client key"));
    }
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (!c.tls_server_name.empty()) args.SetSslTargetNameOverride(c.tls_server_name);
  return grpc::CreateCustomChannel(c.server, creds, args);
}

void Prepare(const Connection& c, grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::microseconds(static_cast<std::int64_t>(c.timeout_s * 1e6)));
  if (!c.token.empty()) context->AddMetadata("authorization", "Bearer " + c.token);
}

absl::Status RunAssign(const Connection& c, const AssignArgs& args, std::ostream& out) {
  kernels::ProblemData data;
  AZ_RETURN_IF_ERROR(ReadRequestsCsv(args.requests_csv, &data));
  AZ_ASSIGN_OR_RETURN(auto channel, OpenChannel(c));
  auto stub = v1::SchedulerService::NewStub(channel);
  // The answers, written with the offline writer (same CSV as `solve`).
  kernels::ProblemData answer;
  answer.request_id = data.request_id;
  kernels::Solution solution;
  std::unordered_map<std::string, std::int32_t> endpoint_index;
  std::int64_t by_reason[kernels::kNumReasons] = {};
  double cost = 0;
  const std::size_t n = data.num_requests();
  const std::size_t chunk = std::max<std::size_t>(1, args.chunk);
  for (std::size_t begin = 0; begin < n; begin += chunk) {
    const std::size_t end = std::min(n, begin + chunk);
    v1::AssignRequest request;
    request.set_sequence(begin / chunk);
    *request.mutable_batch() = ToRequestBatch(data, begin, end);
    v1::AssignResponse response;
    grpc::ClientContext context;
    Prepare(c, &context);
    AZ_RETURN_IF_ERROR(FromGrpc(stub->Assign(&context, request, &response), c));
    const v1::DecisionInfo& info = response.info();
    if (info.online()) {
      out << absl::StrFormat("requests %d-%d: decided online from the latest prices\n", begin, end - 1);
    } else {
      out << absl::StrFormat(
          "requests %d-%d: solver batch %s on %s: %d requests, %d price passes, %.0f ms, certified gap %.3f%%\n", begin,
          end - 1, absl::StrJoin(info.batch_ids(), "+"), info.backend(), info.solver_requests(), info.iterations(),
          info.solve_ms(), 100 * info.gap());
    }
    for (const v1::RequestError& e : response.errors()) {
      out << absl::StrFormat("request %s: INVALID_REQUEST: field '%s': %s\n", data.request_id[begin + e.index()],
                             e.field(), e.message());
    }
    for (int i = 0; i < response.endpoint_size(); ++i) {
      std::int32_t p = -1;
      if (response.endpoint(i) >= 0) {
        const std::string& id = response.endpoints(response.endpoint(i));
        auto [it, inserted] = endpoint_index.emplace(id, static_cast<std::int32_t>(answer.endpoint_id.size()));
        if (inserted) answer.endpoint_id.push_back(id);
        p = it->second;
      }
      if (response.reason(i) < 0 || response.reason(i) >= kernels::kNumReasons) {
        return absl::InternalError(absl::StrFormat("the server answered request %s with an unknown reason %d",
                                                   data.request_id[begin + i], response.reason(i)));
      }
      solution.endpoint.push_back(p);
      solution.reason.push_back(static_cast<kernels::Reason>(response.reason(i)));
      solution.cost.push_back(response.cost_usd(i));
      ++by_reason[response.reason(i)];
      cost += response.cost_usd(i);
    }
  }
  if (!args.out_csv.empty()) AZ_RETURN_IF_ERROR(WriteAssignmentsCsv(args.out_csv, answer, solution));
  out << absl::StrFormat(
      "%d requests: %d OK, %d AZURE_WAIVER, %d NO_ELIGIBLE_ENDPOINT, %d CAPACITY_EXHAUSTED, "
      "%d INVALID_REQUEST, %d TENANT_LIMIT; cost %.4f USD\n",
      n, by_reason[0], by_reason[1], by_reason[2], by_reason[3], by_reason[4], by_reason[5], cost);
  return absl::OkStatus();
}

absl::Status RunTelemetry(const Connection& c, const std::string& endpoints_csv, std::ostream& out) {
  kernels::ProblemData data;
  AZ_RETURN_IF_ERROR(ReadEndpointsCsv(endpoints_csv, &data));
  AZ_ASSIGN_OR_RETURN(auto channel, OpenChannel(c));
  auto stub = v1::TelemetryService::NewStub(channel);
  grpc::ClientContext context;
  Prepare(c, &context);
  v1::ReportTelemetryResponse response;
  auto writer = stub->ReportTelemetry(&context, &response);
  for (std::size_t p = 0; p < data.num_endpoints(); ++p) {
    if (!writer->Write(ToProto(EndpointSampleAt(data, p)))) break;
  }
  writer->WritesDone();
  AZ_RETURN_IF_ERROR(FromGrpc(writer->Finish(), c));
  out << response.accepted() << " samples accepted";
  if (response.errors_size() > 0) out << ", " << response.errors_size() << " refused:";
  out << "\n";
  for (const v1::SampleError& e : response.errors()) out << "  #" << e.index() << " " << e.message() << "\n";
  if (response.errors_size() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(response.errors_size(), " samples were refused"));
  }
  return absl::OkStatus();
}

absl::Status RunPolicyGet(const Connection& c, std::ostream& out) {
  AZ_ASSIGN_OR_RETURN(auto channel, OpenChannel(c));
  auto stub = v1::PolicyService::NewStub(channel);
  grpc::ClientContext context;
  Prepare(c, &context);
  v1::Policy policy;
  AZ_RETURN_IF_ERROR(FromGrpc(stub->GetPolicy(&context, v1::GetPolicyRequest(), &policy), c));
  out << MessageJson(policy);
  return absl::OkStatus();
}

absl::Status RunPolicySet(const Connection& c, const std::string& policy_json, std::ostream& out) {
  AZ_ASSIGN_OR_RETURN(std::string text, ReadTextFile(policy_json, "policy file"));
  v1::SetPolicyRequest request;
  google::protobuf::util::JsonParseOptions options;
  const auto parsed = google::protobuf::util::JsonStringToMessage(text, request.mutable_policy(), options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(policy_json, ": not a valid azimuth.v1.Policy: ", parsed.message().as_string()));
  }
  // Check locally first: the same validation as the server, with the file's name.
  AZ_RETURN_IF_ERROR(PolicyFromProto(request.policy(), policy_json).status());
  AZ_ASSIGN_OR_RETURN(auto channel, OpenChannel(c));
  auto stub = v1::PolicyService::NewStub(channel);
  grpc::ClientContext context;
  Prepare(c, &context);
  v1::Policy applied;
  AZ_RETURN_IF_ERROR(FromGrpc(stub->SetPolicy(&context, request, &applied), c));
  out << MessageJson(applied);
  return absl::OkStatus();
}

absl::Status RunExplain(const Connection& c, const std::string& request_id, std::ostream& out) {
  AZ_ASSIGN_OR_RETURN(auto channel, OpenChannel(c));
  auto stub = v1::SchedulerService::NewStub(channel);
  grpc::ClientContext context;
  Prepare(c, &context);
  v1::ExplainRequest request;
  request.set_request_id(request_id);
  v1::ExplainResponse e;
  AZ_RETURN_IF_ERROR(FromGrpc(stub->Explain(&context, request, &e), c));
  out << absl::StrFormat("request %s (%s, zone %s, %d+%d tokens, slo %d ms, home %s, priority %d%s)\n", e.request_id(),
                         e.model(), e.zone().empty() ? "any" : e.zone(), e.tokens_in(), e.tokens_out(), e.slo_ms(),
                         v1::Cloud_Name(e.home_cloud()), e.priority(),
                         e.requires().empty() ? "" : absl::StrCat(", requires ", absl::StrJoin(e.requires(), ";")));
  out << absl::StrFormat(
      "  -> %s %s, cost %.6f USD, %s\n", e.endpoint().empty() ? "(rejected)" : e.endpoint(),
      v1::Reason_Name(e.reason()), e.cost_usd(),
      e.online() ? "decided online from the latest prices" : absl::StrCat("solver batch ", e.batch_id()));
  if (e.reason() == v1::TENANT_LIMIT) {
    out << absl::StrFormat("  tenant '%s': its %s limit for the window is spent\n", e.tenant(),
                           e.tenant_limit() == v1::TENANT_LIMIT_TOKENS     ? "token"
                           : e.tenant_limit() == v1::TENANT_LIMIT_REQUESTS ? "request"
                                                                           : "budget");
  }
  if (e.waiver()) {
    out << absl::StrFormat("  launch gate waived: no Azure endpoint is eligible (%s)\n",
                           v1::Rule_Name(e.waiver_rule()));
  }
  out << absl::StrFormat("  rejecting it costs %.6f in the objective; Azure shadow price %.3g USD/token\n",
                         e.reject_objective_usd(), e.azure_shadow_price());
  out << absl::StrFormat("  %-28s %-6s %-17s %12s %12s %11s %11s %12s\n", "endpoint", "cloud", "rule", "cost_usd",
                         "objective", "token_price", "req_price", "priced");
  for (const v1::Candidate& k : e.candidates()) {
    out << absl::StrFormat("  %-28s %-6s %-17s %12.6f %12.6f %11.3g %11.3g %12.6f\n", k.endpoint(),
                           v1::Cloud_Name(k.cloud()), v1::Rule_Name(k.excluded_by()), k.cost_usd(), k.objective_usd(),
                           k.token_price(), k.request_price(), k.priced_usd());
  }
  return absl::OkStatus();
}

absl::Status RunEndpoints(const Connection& c, std::ostream& out) {
  AZ_ASSIGN_OR_RETURN(auto channel, OpenChannel(c));
  auto stub = v1::TelemetryService::NewStub(channel);
  grpc::ClientContext context;
  Prepare(c, &context);
  v1::ListEndpointsResponse response;
  AZ_RETURN_IF_ERROR(FromGrpc(stub->ListEndpoints(&context, v1::ListEndpointsRequest(), &response), c));
  // Replicas sharing quotas: this replica's grant and what the cluster has
  // left to grant, after what it reserved.
  const bool leased = response.endpoints_size() > 0 && response.endpoints(0).leased();
  out << absl::StrFormat("%-28s %-6s %-5s %-11s %-9s %8s %21s %15s %11s", "endpoint", "cloud", "zone", "model",
                         "available", "age_s", "tokens used/cap", "requests", "token_price");
  out << (leased ? absl::StrFormat(" %21s %15s\n", "tokens granted/left", "requests g/left") : "\n");
  for (const v1::EndpointStatus& s : response.endpoints()) {
    const v1::EndpointSample& e = s.sample();
    out << absl::StrFormat("%-28s %-6s %-5s %-11s %-9s %8s %10d/%-10d %7d/%-7d %11.3g", e.id(),
                           v1::Cloud_Name(e.cloud()), e.zone(), e.model(), s.available() ? "yes" : "NO",
                           s.pinned() ? "pinned" : absl::StrFormat("%.1f", s.age_s()), s.tokens_reserved(),
                           s.tokens_capacity(), s.requests_reserved(), s.requests_capacity(), s.token_price());
    out << (leased ? absl::StrFormat(" %10d/%-10d %7d/%-7d\n", s.tokens_granted(), s.tokens_left_cluster(),
                                     s.requests_granted(), s.requests_left_cluster())
                   : "\n");
  }
  return absl::OkStatus();
}

absl::Status RunHealth(const Connection& c, std::ostream& out) {
  AZ_ASSIGN_OR_RETURN(auto channel, OpenChannel(c));
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  Prepare(c, &context);
  grpc::health::v1::HealthCheckResponse response;
  AZ_RETURN_IF_ERROR(FromGrpc(stub->Check(&context, grpc::health::v1::HealthCheckRequest(), &response), c));
  out << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()) << "\n";
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat(c.server, ": not serving"));
  }
  return absl::OkStatus();
}

}  // namespace azimuth::scheduler
