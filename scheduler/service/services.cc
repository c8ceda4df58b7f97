// Copyright 2026 Azimuth authors.
#include "scheduler/service/services.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "scheduler/common/mutex.h"
#include "scheduler/common/policy.h"

namespace azimuth::scheduler {

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Counts the call in metrics on every return path.
class RpcCounter {
 public:
  RpcCounter(Metrics* metrics, const char* method) : metrics_(metrics), method_(method) {}
  grpc::Status operator()(grpc::Status status) {
    metrics_->CountRpc(method_, status.error_code());
    return status;
  }

 private:
  Metrics* metrics_;
  const char* method_;
};

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

v1::AssignResponse ToProto(const Decisions& d, const std::vector<RequestError>& errors) {
  v1::AssignResponse out;
  if (d.endpoint_ids) {
    for (const std::string& id : *d.endpoint_ids) out.add_endpoints(id);
  }
  const int n = static_cast<int>(d.endpoint.size());
  out.mutable_endpoint()->Reserve(n);
  out.mutable_reason()->Reserve(n);
  out.mutable_cost_usd()->Reserve(n);
  out.mutable_waiver()->Reserve(n);
  for (int i = 0; i < n; ++i) {
    out.add_endpoint(d.endpoint[i]);
    out.add_reason(static_cast<v1::Reason>(d.reason[i]));
    out.add_cost_usd(d.cost[i]);
    out.add_waiver(d.reason[i] == kernels::Reason::kAzureWaiver);
  }
  const bool waived = std::find(d.reason.begin(), d.reason.end(), kernels::Reason::kAzureWaiver) != d.reason.end();
  if (waived && d.waiver_rule.size() == d.reason.size()) {
    out.mutable_waiver_rule()->Reserve(n);
    for (int i = 0; i < n; ++i) out.add_waiver_rule(static_cast<v1::Rule>(d.waiver_rule[i]));
  }
  const bool limited = std::find(d.reason.begin(), d.reason.end(), kernels::Reason::kTenantLimit) != d.reason.end();
  if (limited && d.tenant_limit.size() == d.reason.size()) {
    out.mutable_tenant_limit()->Reserve(n);
    for (int i = 0; i < n; ++i) out.add_tenant_limit(static_cast<v1::TenantLimitKind>(d.tenant_limit[i]));
  }
  for (const RequestError& e : errors) {
    v1::RequestError* pe = out.add_errors();
    pe->set_index(e.index);
    pe->set_field(e.field);
    pe->set_message(e.message);
  }
  v1::DecisionInfo* info = out.mutable_info();
  for (std::uint64_t id : d.info.batch_ids) info->add_batch_ids(id);
  info->set_online(d.info.online);
  info->set_backend(kernels::BackendName(d.info.backend));
  info->set_gap(d.info.gap);
  info->set_solver_requests(d.info.solver_requests);
  info->set_iterations(d.info.iterations);
  info->set_solve_ms(d.info.solve_ms);
  return out;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status Auth::Check(const grpc::ServerContext& context) const {
  if (tokens_.empty()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "no bearer tokens are configured on this server (auth_tokens_file), so policy and "
                        "telemetry changes are disabled");
  }
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata");
  }
  const absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kBearer = "Bearer ";
  if (value.substr(0, kBearer.size()) != kBearer) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the authorization metadata is not 'Bearer <token>'");
  }
  bool ok = false;
  for (const std::string& token : tokens_) ok |= ConstantTimeEquals(value.substr(kBearer.size()), token);
  if (!ok) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the bearer token is not valid");
  return grpc::Status::OK;
}

// --- TelemetryService -------------------------------------------------------

grpc::Status TelemetryServiceImpl::ReportTelemetry(grpc::ServerContext* context,
                                                   grpc::ServerReader<v1::EndpointSample>* reader,
                                                   v1::ReportTelemetryResponse* response) {
  RpcCounter done(metrics_, "ReportTelemetry");
  if (grpc::Status auth = auth_->Check(*context); !auth.ok()) return done(auth);
  v1::EndpointSample msg;
  std::int64_t index = 0;
  for (; reader->Read(&msg); ++index) {
    absl::StatusOr<EndpointSample> sample = FromProto(msg);
    absl::Status applied = sample.ok() ? engine_->ReportTelemetry(*sample) : sample.status();
    if (applied.ok()) {
      response->set_accepted(response->accepted() + 1);
      continue;
    }
    v1::SampleError* e = response->add_errors();
    e->set_index(index);
    e->set_endpoint_id(msg.id());
    // The domain's messages read "endpoint 'x': field 'f': reason".
    const std::string text(applied.message());
    const auto at = text.find("field '");
    if (at != std::string::npos) e->set_field(text.substr(at + 7, text.find('\'', at + 7) - at - 7));
    e->set_message(text);
  }
  metrics_->SetEndpoints(engine_->Endpoints());
  return done(grpc::Status::OK);
}

grpc::Status TelemetryServiceImpl::ListEndpoints(grpc::ServerContext*, const v1::ListEndpointsRequest*,
                                                 v1::ListEndpointsResponse* response) {
  RpcCounter done(metrics_, "ListEndpoints");
  for (const EndpointState& e : engine_->Endpoints()) {
    v1::EndpointStatus* s = response->add_endpoints();
    *s->mutable_sample() = ToProto(e.sample);
    s->set_age_s(e.age_s);
    s->set_available(e.available);
    s->set_pinned(e.pinned);
    s->set_window_start_unix_s(e.window_start_s);
    s->set_tokens_capacity(e.tokens_capacity);
    s->set_tokens_reserved(e.tokens_reserved);
    s->set_requests_capacity(e.requests_capacity);
    s->set_requests_reserved(e.requests_reserved);
    s->set_token_price(e.token_price);
    s->set_request_price(e.request_price);
    s->set_leased(e.leased);
    s->set_tokens_granted(e.tokens_granted);
    s->set_requests_granted(e.requests_granted);
    s->set_tokens_left_cluster(e.tokens_left_cluster);
    s->set_requests_left_cluster(e.requests_left_cluster);
  }
  return done(grpc::Status::OK);
}

// --- SchedulerService -------------------------------------------------------

void SchedulerServiceImpl::Process(const v1::AssignRequest& request, std::function<void(v1::AssignResponse)> done) {
  const Clock::time_point start = Clock::now();
  const std::uint64_t sequence = request.sequence();
  auto fail = [sequence](const absl::Status& status) {
    v1::AssignResponse r;
    r.set_sequence(sequence);
    r.set_error_code(static_cast<int>(status.code()));
    r.set_error_message(std::string(status.message()));
    return r;
  };
  absl::StatusOr<BatchJob> job = ValidateBatch(FromProto(request.batch()), {options_.max_message_requests});
  if (!job.ok()) {
    done(fail(job.status()));
    return;
  }
  // Shared by both paths: the answer built from the decisions.
  struct Call {
    std::vector<RequestError> errors;
    std::function<void(v1::AssignResponse)> done;
  };
  auto call = std::make_shared<Call>(Call{std::move(job->errors), std::move(done)});
  auto finish = [this, start, sequence, call](const Decisions& d, bool online) {
    metrics_->CountDecisions(d);
    v1::AssignResponse r = ToProto(d, call->errors);
    r.set_sequence(sequence);
    const double seconds = SecondsSince(start);
    r.mutable_info()->set_latency_ms(seconds * 1e3);
    metrics_->ObserveCall(seconds, online);
    call->done(std::move(r));
  };
  if (static_cast<std::int64_t>(job->batch.size()) <= options_.online_max_requests) {
    finish(engine_->DecideOnline(&*job), true);
    return;
  }
  const absl::Status submitted =
      batcher_->Submit(std::move(*job), [finish, fail, call](absl::StatusOr<Decisions> decisions) {
        if (decisions.ok()) {
          finish(*decisions, false);
        } else {
          call->done(fail(decisions.status()));
        }
      });
  metrics_->SetQueueDepth(batcher_->queued_requests());
  if (!submitted.ok()) call->done(fail(submitted));
}

grpc::Status SchedulerServiceImpl::Assign(grpc::ServerContext*, const v1::AssignRequest* request,
                                          v1::AssignResponse* response) {
  RpcCounter counted(metrics_, "Assign");
  std::promise<v1::AssignResponse> promise;
  std::future<v1::AssignResponse> answer = promise.get_future();
  Process(*request, [&promise](v1::AssignResponse r) { promise.set_value(std::move(r)); });
  *response = answer.get();
  if (response->error_code() != 0) {
    const grpc::Status status(static_cast<grpc::StatusCode>(response->error_code()), response->error_message());
    response->Clear();
    return counted(status);
  }
  return counted(grpc::Status::OK);
}

// One AssignStream: messages are read while earlier ones are decided (up to
// max_in_flight_per_stream; beyond it reading waits, and flow control
// reaches the client), and answered in message order. Every gRPC operation
// is started outside mu_; the stream finishes once reading has ended and
// every message read has been answered (or the client is gone).
class SchedulerServiceImpl::StreamReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamReactor(SchedulerServiceImpl* service, std::size_t max_in_flight)
      : service_(service), max_in_flight_(max_in_flight) {
    reading_ = true;
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Pump([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        reading_ = false;
        reading_done_ = true;
      });
      return;
    }
    auto slot = std::make_shared<Slot>();
    v1::AssignRequest request;
    const bool parsed = grpc::SerializationTraits<v1::AssignRequest>::Deserialize(&in_, &request).ok();
    std::int64_t index;
    {
      // reading_ stays true until the Pump() below: no other thread can
      // start a read, so none can finish the stream while this one runs.
      MutexLock lock(&mu_);
      index = messages_++;
      slots_.push_back(slot);
    }
    if (parsed) {
      service_->Process(request, [this, slot](v1::AssignResponse r) {
        Pump([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          slot->response = std::move(r);
          slot->ready = true;
        });
      });
    }
    Pump([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      reading_ = false;
      if (parsed) return;
      slot->response.set_error_code(grpc::StatusCode::INVALID_ARGUMENT);
      slot->response.set_error_message(absl::StrCat("message ", index,
                                                    " of this stream (counting from 0) is not a valid "
                                                    "azimuth.v1.AssignRequest; it was skipped"));
      slot->ready = true;
    });
  }

  void OnWriteDone(bool ok) override {
    Pump([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      open_ = open_ && ok;
      writing_ = false;
      slots_.pop_front();
    });
  }

  void OnDone() override {
    service_->metrics_->CountRpc("AssignStream", grpc::StatusCode::OK);
    delete this;
  }

 private:
  struct Slot {
    bool ready = false;
    v1::AssignResponse response;
  };

  // Applies `change` and, in the same critical section, decides what can
  // start now: the next write, the next read, the end. Only the thread that
  // decided an operation starts it, after unlocking, so the one that calls
  // Finish() is the last to touch the reactor before OnDone().
  template <typename Change>
  void Pump(Change change) ABSL_LOCKS_EXCLUDED(mu_) {
    bool write = false, read = false, finish = false;
    {
      MutexLock lock(&mu_);
      change();
      // A client that went away gets no more writes; its answers are still
      // waited for, so that every decided message is accounted for.
      while (!open_ && !writing_ && !slots_.empty() && slots_.front()->ready) slots_.pop_front();
      if (!writing_ && !slots_.empty() && slots_.front()->ready) {
        bool own = false;
        out_.Clear();  // the previous write is done with it
        grpc::SerializationTraits<v1::AssignResponse>::Serialize(slots_.front()->response, &out_, &own);
        writing_ = write = true;
      }
      if (!reading_ && !reading_done_ && slots_.size() < max_in_flight_) reading_ = read = true;
      if (reading_done_ && slots_.empty() && !writing_ && !finished_) finished_ = finish = true;
    }
    if (write) StartWrite(&out_);
    if (read) StartRead(&in_);
    if (finish) Finish(grpc::Status::OK);
  }

  SchedulerServiceImpl* const service_;
  const std::size_t max_in_flight_;
  grpc::ByteBuffer in_;   // touched only by the one read in flight
  grpc::ByteBuffer out_;  // and by the one write in flight
  Mutex mu_;
  std::deque<std::shared_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  std::int64_t messages_ ABSL_GUARDED_BY(mu_) = 0;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* SchedulerServiceImpl::AssignStream(
    grpc::CallbackServerContext*) {
  return new StreamReactor(this, static_cast<std::size_t>(std::max(1, options_.max_in_flight_per_stream)));
}

std::shared_ptr<v1::SchedulerService::Stub> SchedulerServiceImpl::PeerStub(const std::string& address) {
  MutexLock lock(&peers_mu_);
  auto it = peer_stubs_.find(address);
  if (it == peer_stubs_.end()) {
    // Bounded: replicas come and go (new pod addresses); start over past it.
    if (peer_stubs_.size() >= 64) peer_stubs_.clear();
    auto creds = options_.peer_credentials ? options_.peer_credentials : grpc::InsecureChannelCredentials();
    it = peer_stubs_
             .emplace(address, std::shared_ptr<v1::SchedulerService::Stub>(
                                   v1::SchedulerService::NewStub(grpc::CreateChannel(address, creds))))
             .first;
  }
  return it->second;
}

grpc::Status SchedulerServiceImpl::Explain(grpc::ServerContext* context, const v1::ExplainRequest* request,
                                           v1::ExplainResponse* response) {
  RpcCounter counted(metrics_, "Explain");
  if (request->request_id().empty()) {
    return counted(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "field 'request_id': must not be empty"));
  }
  absl::StatusOr<Explained> e = engine_->Explain(request->request_id());
  if (!e.ok() && absl::IsNotFound(e.status()) && options_.peers &&
      context->client_metadata().count(kForwardedHeader) == 0) {
    // Another replica may have decided it: ask each live one, once (a
    // forwarded call is never forwarded again).
    const std::vector<std::string> peers = options_.peers();
    for (const std::string& address : peers) {
      grpc::ClientContext call;
      call.AddMetadata(kForwardedHeader, "1");
      call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      v1::ExplainResponse theirs;
      const grpc::Status st = PeerStub(address)->Explain(&call, *request, &theirs);
      if (st.ok()) {
        *response = std::move(theirs);
        return counted(grpc::Status::OK);
      }
    }
    if (!peers.empty()) {
      return counted(grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          absl::StrCat(e.status().message(), " of this replica, nor of the ", peers.size(), " other replicas")));
    }
  }
  if (!e.ok()) return counted(ToGrpcStatus(e.status()));
  response->set_request_id(e->request_id);
  response->set_endpoint(e->endpoint);
  response->set_reason(static_cast<v1::Reason>(e->reason));
  response->set_cost_usd(e->cost);
  response->set_waiver(e->reason == kernels::Reason::kAzureWaiver);
  response->set_batch_id(e->batch_id);
  response->set_online(e->batch_id == 0);
  response->set_model(e->model);
  response->set_zone(e->zone);
  response->set_tokens_in(e->request.tokens_in);
  response->set_tokens_out(e->request.tokens_out);
  response->set_slo_ms(e->request.slo_ms);
  response->set_home_cloud(static_cast<v1::Cloud>(e->request.home_cloud));
  response->set_priority(e->request.priority);
  for (const kernels::Candidate& c : e->explanation.candidates) {
    v1::Candidate* pc = response->add_candidates();
    pc->set_endpoint(e->endpoint_ids[c.endpoint]);
    pc->set_cloud(static_cast<v1::Cloud>(e->endpoint_clouds[c.endpoint]));
    pc->set_excluded_by(static_cast<v1::Rule>(c.excluded_by));
    pc->set_cost_usd(c.cost_usd);
    pc->set_objective_usd(c.objective_usd);
    pc->set_token_price(c.token_price);
    pc->set_request_price(c.request_price);
    pc->set_priced_usd(c.priced_usd);
  }
  response->set_reject_objective_usd(e->explanation.reject_objective_usd);
  response->set_azure_shadow_price(e->explanation.azure_shadow_price);
  response->set_waiver_rule(static_cast<v1::Rule>(e->explanation.waiver_rule));
  for (const std::string& name : e->requires) response->add_requires(name);
  response->set_tenant(e->tenant);
  response->set_tenant_limit(static_cast<v1::TenantLimitKind>(e->tenant_limit));
  return counted(grpc::Status::OK);
}

// --- PolicyService ----------------------------------------------------------

grpc::Status PolicyServiceImpl::GetPolicy(grpc::ServerContext*, const v1::GetPolicyRequest*, v1::Policy* response) {
  RpcCounter counted(metrics_, "GetPolicy");
  *response = PolicyToProto(engine_->policy());
  response->set_now(Engine::WallClockMs() / 1000);
  return counted(grpc::Status::OK);
}

grpc::Status PolicyServiceImpl::SetPolicy(grpc::ServerContext* context, const v1::SetPolicyRequest* request,
                                          v1::Policy* response) {
  RpcCounter counted(metrics_, "SetPolicy");
  if (grpc::Status auth = auth_->Check(*context); !auth.ok()) return counted(auth);
  if (!request->has_policy()) {
    return counted(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "field 'policy': required"));
  }
  absl::StatusOr<kernels::PolicyData> policy = PolicyFromProto(request->policy(), "policy");
  if (!policy.ok()) return counted(ToGrpcStatus(policy.status()));
  engine_->SetPolicy(*policy);
  *response = PolicyToProto(*policy);
  response->set_now(Engine::WallClockMs() / 1000);
  return counted(grpc::Status::OK);
}

}  // namespace azimuth::scheduler
