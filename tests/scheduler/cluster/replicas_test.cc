// Copyright 2026 Azimuth authors.
//
// Three azimuthd processes sharing a real redis-server on loopback, as a
// Kubernetes Deployment runs them behind one Service. Clients drive Assign
// and AssignStream at all three with tight quotas; the test checks the
// answers themselves: for every endpoint, the reservations the replicas
// answered add up to at most its capacity, every request is answered exactly
// once, and three replicas serve at least 97% of what one replica with the
// whole quota serves on the same load. Then telemetry, policy and Explain
// across replicas, and the faults: a replica killed with SIGKILL mid-load,
// Redis stopped and restarted empty mid-load.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "azimuth/v1/policy_service.grpc.pb.h"
#include "azimuth/v1/scheduler.grpc.pb.h"
#include "azimuth/v1/telemetry.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "scheduler/server/config.h"
#include "scheduler/service/convert.h"
#include "tests/scheduler/endpoints.h"
#include "tests/scheduler/processes.h"

namespace azimuth::scheduler {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kToken[] = "replicas-test-token";

v1::EndpointSample Endpoint(const std::string& id, v1::Cloud cloud, double price, std::int64_t tpm, std::int64_t rpm,
                            const std::string& model = "gpt-5") {
  return ToProto(TestEndpoint(id, static_cast<kernels::Cloud>(cloud), price, tpm, rpm, model));
}

// Requests for `model` in zone "us", 600-822 tokens each.
// With `tenant`, every request is that tenant's.
v1::RequestBatch Batch(int n, const std::string& prefix, const std::string& model = "gpt-5",
                       const std::string& tenant = "") {
  v1::RequestBatch b;
  b.add_strings(model);
  b.add_strings("us");
  if (!tenant.empty()) b.add_strings(tenant);
  for (int i = 0; i < n; ++i) {
    b.add_id(prefix + std::to_string(i));
    b.add_model(0);
    b.add_zone(1);
    if (!tenant.empty()) b.add_tenant(2);
    b.add_tokens_in(500 + 37 * (i % 7));
    b.add_tokens_out(100);
  }
  return b;
}

// What the clients were answered, by request id.
struct Answers {
  std::mutex mu;
  std::map<std::string, std::string> endpoint;  // "" when rejected
  std::map<std::string, std::int64_t> tokens;
  std::int64_t duplicates = 0, served = 0, failed_calls = 0, sent = 0;

  void Add(const v1::RequestBatch& sent_batch, const v1::AssignResponse& r) {
    std::lock_guard<std::mutex> lock(mu);
    for (int i = 0; i < r.endpoint_size() && i < sent_batch.id_size(); ++i) {
      const std::string& id = sent_batch.id(i);
      const std::string ep = r.endpoint(i) >= 0 ? r.endpoints(r.endpoint(i)) : "";
      if (!endpoint.emplace(id, ep).second) ++duplicates;
      tokens[id] = sent_batch.tokens_in(i) + sent_batch.tokens_out(i);
      served += !ep.empty();
    }
  }
  std::map<std::string, std::int64_t> RequestsBy() {
    std::lock_guard<std::mutex> lock(mu);
    std::map<std::string, std::int64_t> out;
    for (const auto& [id, ep] : endpoint) {
      if (!ep.empty()) ++out[ep];
    }
    return out;
  }
  std::map<std::string, std::int64_t> TokensBy() {
    std::lock_guard<std::mutex> lock(mu);
    std::map<std::string, std::int64_t> out;
    for (const auto& [id, ep] : endpoint) {
      if (!ep.empty()) out[ep] += tokens[id];
    }
    return out;
  }
};

struct Daemon {
  std::unique_ptr<Process> process;
  int port = 0;
  std::shared_ptr<grpc::Channel> channel;
};

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("azimuth-replicas-test");
    std::ofstream(dir_ / "tokens") << kToken << "\n";
    redis_ = std::make_unique<RedisServer>(dir_);
    ASSERT_TRUE(redis_->Start());
  }

  // Window capacities (window 3600 s): requests bind on three endpoints,
  // tokens on the fourth (90,000).
  static std::vector<v1::EndpointSample> Footprint() {
    return {Endpoint("azure-a", v1::AZURE, 0.001, 1'000'000, 2), Endpoint("azure-b", v1::AZURE, 0.0012, 1'000'000, 3),
            Endpoint("aws-c", v1::AWS, 0.0015, 1'000'000, 2), Endpoint("gcp-d", v1::GCP, 0.0018, 1'500, 100)};
  }

  // `n` azimuthd processes; with `clustered`, sharing Redis under `prefix`.
  void Start(int n, bool clustered, const std::string& prefix = "{azimuth}:") {
    daemons_.clear();
    for (int i = 0; i < n; ++i) {
      v1::ServerConfig config = WithDefaults({});
      config.set_listen("127.0.0.1:0");
      config.set_metrics_listen("none");
      config.set_auth_tokens_file((dir_ / "tokens").string());
      config.mutable_policy()->set_window_s(3600);
      config.mutable_policy()->set_azure_first(v1::OFF);
      config.mutable_policy()->clear_azure_first_until();
      for (const v1::TenantLimit& t : tenant_limits_) *config.mutable_policy()->add_tenant_limits() = t;
      for (const v1::EndpointSample& e : Footprint()) *config.add_endpoints() = e;
      if (clustered) {
        v1::ClusterConfig* c = config.mutable_cluster();
        c->set_redis_address(redis_->address());
        c->set_key_prefix(prefix);
        c->set_replica_id("replica-" + std::to_string(i));
        c->set_recovery_grace_s(1);
        c->set_sync_interval_ms(50);
      }
      const fs::path path = dir_ / ("config-" + std::to_string(i) + ".json");
      std::ofstream(path) << ConfigJson(config);
      Daemon d;
      // The advertised address defaults to $POD_IP and the bound port.
      ::setenv("POD_IP", "127.0.0.1", 1);
      d.process = std::make_unique<Process>(AZIMUTHD_PATH, dir_ / absl::StrCat("azimuthd-", starts_++, ".log"),
                                            std::vector<std::string>{"--config=" + path.string()});
      const std::string port = d.process->WaitForLog("serving: tcp port (\\d+)");
      ASSERT_FALSE(port.empty()) << d.process->Log();
      d.port = std::stoi(port);
      d.channel = grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials());
      daemons_.push_back(std::move(d));
    }
    if (!clustered) return;
    // Ready: every replica holds a grant on every endpoint.
    const auto deadline = steady_clock::now() + milliseconds(15000);
    for (Daemon& d : daemons_) {
      for (;;) {
        const v1::ListEndpointsResponse list = List(d);
        bool ready = list.endpoints_size() == 4;
        for (const v1::EndpointStatus& e : list.endpoints()) ready = ready && e.leased() && e.requests_granted() > 0;
        if (ready) break;
        ASSERT_LT(steady_clock::now(), deadline) << "no grants: " << d.process->Log();
        std::this_thread::sleep_for(milliseconds(20));
      }
    }
  }

  v1::ListEndpointsResponse List(const Daemon& d) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListEndpointsResponse r;
    v1::TelemetryService::NewStub(d.channel)->ListEndpoints(&context, {}, &r);
    return r;
  }

  // Each of `clients` threads per daemon: `calls` Assign calls of `n`
  // requests, or one AssignStream of `calls` messages (alternately), ids
  // unique per test.
  void Drive(const std::vector<Daemon*>& targets, int clients, int calls, int n, const std::string& tag,
             Answers* answers, const std::atomic<bool>* stop = nullptr) {
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < targets.size(); ++t) {
      for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, t, c] {
          auto stub = v1::SchedulerService::NewStub(targets[t]->channel);
          const std::string who = absl::StrCat(tag, "-", t, "-", c, "-");
          if (c % 2 == 0) {
            for (int k = 0; k < calls && !(stop && stop->load()); ++k) {
              v1::AssignRequest request;
              *request.mutable_batch() = Batch(n, absl::StrCat(who, k, "-"), "gpt-5", tenant_);
              grpc::ClientContext context;
              context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
              v1::AssignResponse response;
              {
                std::lock_guard<std::mutex> lock(answers->mu);
                answers->sent += n;
              }
              const grpc::Status s = stub->Assign(&context, request, &response);
              if (!s.ok()) {
                std::lock_guard<std::mutex> lock(answers->mu);
                ++answers->failed_calls;
                if (s.error_code() == grpc::StatusCode::UNAVAILABLE) return;  // the replica is gone
                continue;
              }
              answers->Add(request.batch(), response);
            }
            return;
          }
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          auto stream = stub->AssignStream(&context);
          for (int k = 0; k < calls && !(stop && stop->load()); ++k) {
            v1::AssignRequest request;
            request.set_sequence(k);
            *request.mutable_batch() = Batch(n, absl::StrCat(who, "s", k, "-"), "gpt-5", tenant_);
            {
              std::lock_guard<std::mutex> lock(answers->mu);
              answers->sent += n;
            }
            v1::AssignResponse response;
            if (!stream->Write(request) || !stream->Read(&response)) {
              std::lock_guard<std::mutex> lock(answers->mu);
              ++answers->failed_calls;
              return;
            }
            EXPECT_EQ(response.sequence(), static_cast<std::uint64_t>(k));
            answers->Add(request.batch(), response);
          }
          stream->WritesDone();
          stream->Finish();
        });
      }
    }
    for (std::thread& t : threads) t.join();
  }

  void ExpectWithinCapacity(Answers* answers, const std::string& when) {
    std::map<std::string, std::int64_t> requests_cap, tokens_cap;
    const v1::ListEndpointsResponse list = List(daemons_[0]);
    for (const v1::EndpointStatus& e : list.endpoints()) {
      requests_cap[e.sample().id()] = e.requests_capacity();
      tokens_cap[e.sample().id()] = e.tokens_capacity();
    }
    ASSERT_EQ(requests_cap.size(), 4u) << when;
    for (const auto& [ep, n] : answers->RequestsBy()) {
      EXPECT_LE(n, requests_cap[ep]) << ep << " " << when;
    }
    for (const auto& [ep, t] : answers->TokensBy()) {
      EXPECT_LE(t, tokens_cap[ep]) << ep << " " << when;
    }
  }

  // The hour-long window the clock is in now.
  static std::int64_t Window() { return std::time(nullptr) / 3600; }

  fs::path dir_;
  std::unique_ptr<RedisServer> redis_;
  std::vector<Daemon> daemons_;
  int starts_ = 0;  // each process logs to a file of its own
  // The replicas' tenant limits, and the tenant Drive()'s requests are of.
  std::vector<v1::TenantLimit> tenant_limits_;
  std::string tenant_;
};

TEST_F(ReplicasTest, ThreeReplicasNeverPromiseMoreThanTheQuota) {
  // One replica with the whole quota (no Redis), then three sharing it, on
  // the same load: 4 clients per replica, Assign and AssignStream, 10
  // requests per call, about five times the capacity.
  Start(1, false);
  const std::int64_t window = Window();
  Answers alone;
  std::vector<Daemon*> one = {&daemons_[0]};
  Drive(one, 12, 24, 10, "one", &alone);
  ExpectWithinCapacity(&alone, "one replica");

  Start(3, true);
  Answers three;
  Drive({&daemons_[0], &daemons_[1], &daemons_[2]}, 4, 24, 10, "three", &three);
  ExpectWithinCapacity(&three, "three replicas");
  if (Window() != window) GTEST_SKIP() << "the hour rolled during the test";

  // Exactly once: every request answered, none twice, no call failed.
  EXPECT_EQ(three.duplicates, 0);
  EXPECT_EQ(three.failed_calls, 0);
  EXPECT_EQ(static_cast<std::int64_t>(three.endpoint.size()), three.sent);
  EXPECT_EQ(static_cast<std::int64_t>(alone.endpoint.size()), alone.sent);
  std::printf("one replica served %lld of %lld requests, three served %lld of %lld: %.1f%%\n",
              static_cast<long long>(alone.served), static_cast<long long>(alone.sent),
              static_cast<long long>(three.served), static_cast<long long>(three.sent),
              100.0 * static_cast<double>(three.served) / static_cast<double>(alone.served));
  EXPECT_GE(three.served * 100, alone.served * 97);
  // The global view: what each replica was granted adds up to at most the
  // capacity.
  std::map<std::string, std::int64_t> granted;
  for (Daemon& d : daemons_) {
    const v1::ListEndpointsResponse list = List(d);
    for (const v1::EndpointStatus& e : list.endpoints()) {
      granted[e.sample().id()] += e.requests_granted();
      EXPECT_LE(e.requests_reserved(), e.requests_granted());
      EXPECT_GE(e.requests_left_cluster(), 0);
    }
  }
  const v1::ListEndpointsResponse first = List(daemons_[0]);
  for (const v1::EndpointStatus& e : first.endpoints()) {
    EXPECT_LE(granted[e.sample().id()], e.requests_capacity()) << e.sample().id();
  }
}

TEST_F(ReplicasTest, TelemetryPolicyAndExplainFromAnyReplica) {
  Start(3, true);
  Daemon& a = daemons_[0];
  Daemon& b = daemons_[1];
  // A sample reported to A is used by B within a second.
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    v1::ReportTelemetryResponse response;
    auto writer = v1::TelemetryService::NewStub(a.channel)->ReportTelemetry(&context, &response);
    ASSERT_TRUE(writer->Write(Endpoint("aws-x", v1::AWS, 0.001, 1'000'000, 1000, "model-x")));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  const auto reported = steady_clock::now();
  auto b_stub = v1::SchedulerService::NewStub(b.channel);
  std::string decided_on_b;
  for (int k = 0; decided_on_b.empty() && steady_clock::now() - reported < milliseconds(5000); ++k) {
    v1::AssignRequest request;
    *request.mutable_batch() = Batch(1, "x" + std::to_string(k) + "-", "model-x");
    grpc::ClientContext context;
    v1::AssignResponse response;
    ASSERT_TRUE(b_stub->Assign(&context, request, &response).ok());
    if (response.endpoint(0) >= 0) decided_on_b = response.endpoints(response.endpoint(0));
  }
  const auto took = steady_clock::now() - reported;
  EXPECT_EQ(decided_on_b, "aws-x");
  EXPECT_LT(took, milliseconds(1000));

  // SetPolicy on A applies on B.
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    v1::SetPolicyRequest request;
    grpc::ClientContext get_context;
    v1::Policy current;
    ASSERT_TRUE(v1::PolicyService::NewStub(a.channel)->GetPolicy(&get_context, {}, &current).ok());
    current.set_reject_usd(0, 0.0625);
    *request.mutable_policy() = current;
    v1::Policy response;
    ASSERT_TRUE(v1::PolicyService::NewStub(a.channel)->SetPolicy(&context, request, &response).ok());
  }
  const auto set = steady_clock::now();
  double seen = 0;
  while (steady_clock::now() - set < milliseconds(3000)) {
    grpc::ClientContext context;
    v1::Policy p;
    ASSERT_TRUE(v1::PolicyService::NewStub(b.channel)->GetPolicy(&context, {}, &p).ok());
    seen = p.reject_usd(0);
    if (seen == 0.0625) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(seen, 0.0625);
  EXPECT_LT(steady_clock::now() - set, milliseconds(1000));

  // Explain on C for a decision of A.
  {
    v1::AssignRequest request;
    *request.mutable_batch() = Batch(3, "explain-me-");
    grpc::ClientContext context;
    v1::AssignResponse response;
    ASSERT_TRUE(v1::SchedulerService::NewStub(a.channel)->Assign(&context, request, &response).ok());
    ASSERT_GE(response.endpoint(1), 0);
    grpc::ClientContext explain_context;
    v1::ExplainRequest explain;
    explain.set_request_id("explain-me-1");
    v1::ExplainResponse why;
    const grpc::Status s = v1::SchedulerService::NewStub(daemons_[2].channel)->Explain(&explain_context, explain, &why);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(why.endpoint(), response.endpoints(response.endpoint(1)));
    EXPECT_EQ(why.request_id(), "explain-me-1");
    // Nobody decided it: NOT_FOUND, after asking the others.
    grpc::ClientContext missing_context;
    explain.set_request_id("never-sent");
    const grpc::Status missing =
        v1::SchedulerService::NewStub(daemons_[2].channel)->Explain(&missing_context, explain, &why);
    EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_NE(missing.error_message().find("nor of the 2 other replicas"), std::string::npos)
        << missing.error_message();
  }
}

grpc::health::v1::HealthCheckResponse::ServingStatus Health(const Daemon& d) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckResponse r;
  if (!grpc::health::v1::Health::NewStub(d.channel)->Check(&context, {}, &r).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return r.status();
}

TEST_F(ReplicasTest, SurvivesAKilledReplicaAndARedisRestartMidLoad) {
  Start(3, true);
  Answers answers;
  std::atomic<bool> stop{false};
  std::thread load([&] { Drive({&daemons_[0], &daemons_[1], &daemons_[2]}, 2, 100000, 5, "load", &answers, &stop); });
  std::this_thread::sleep_for(milliseconds(700));
  daemons_[2].process->Signal(SIGKILL);
  std::this_thread::sleep_for(milliseconds(700));
  redis_->Stop();
  std::this_thread::sleep_for(milliseconds(700));
  // Redis down: the replicas still answer, within their grants, and stay
  // SERVING.
  EXPECT_EQ(Health(daemons_[0]), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(Health(daemons_[1]), grpc::health::v1::HealthCheckResponse::SERVING);
  const std::int64_t answered_while_down = [&] {
    std::lock_guard<std::mutex> lock(answers.mu);
    return static_cast<std::int64_t>(answers.endpoint.size());
  }();
  ASSERT_TRUE(redis_->Restart());
  std::this_thread::sleep_for(milliseconds(1500));
  stop = true;
  load.join();
  ExpectWithinCapacity(&answers, "after SIGKILL and a redis restart");
  EXPECT_EQ(answers.duplicates, 0);
  // The killed replica's clients saw their calls fail (UNAVAILABLE); every
  // other call was answered.
  EXPECT_LE(answers.failed_calls, 2);
  {
    std::lock_guard<std::mutex> lock(answers.mu);
    EXPECT_GT(static_cast<std::int64_t>(answers.endpoint.size()), answered_while_down);
  }
  EXPECT_FALSE(daemons_[0].process->WaitForLog("redis lost its data").empty()) << daemons_[0].process->Log();
  EXPECT_FALSE(daemons_[0].process->WaitForLog("redis reachable again").empty());
  // Everything resumes without a restart: telemetry flows between the
  // survivors again.
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
    v1::ReportTelemetryResponse response;
    auto writer = v1::TelemetryService::NewStub(daemons_[0].channel)->ReportTelemetry(&context, &response);
    ASSERT_TRUE(writer->Write(Endpoint("aws-late", v1::AWS, 0.001, 1'000'000, 1000, "model-late")));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  bool seen = false;
  for (int k = 0; k < 300 && !seen; ++k) {
    const v1::ListEndpointsResponse list = List(daemons_[1]);
    for (const v1::EndpointStatus& e : list.endpoints()) seen = seen || e.sample().id() == "aws-late";
    std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(seen);
}

// A tenant's limit holds across azimuthd replicas: a tenant limited to 60
// requests per window sends fifteen times that to three replicas (Assign
// and AssignStream, capacity to spare); together they serve at most 60, and
// nearly all of them.
TEST_F(ReplicasTest, ThreeReplicasHoldATenantsLimitTogether) {
  v1::TenantLimit limit;
  limit.set_tenant("acme");
  limit.set_requests(60);
  tenant_limits_ = {limit};
  tenant_ = "acme";
  Start(3, true, "{tenant}:");
  const std::int64_t window = Window();
  Answers answers;
  Drive({&daemons_[0], &daemons_[1], &daemons_[2]}, 2, 30, 5, "acme", &answers);
  if (Window() != window) GTEST_SKIP() << "the hour rolled during the test";
  EXPECT_EQ(answers.failed_calls, 0);
  EXPECT_EQ(answers.sent, 900);
  EXPECT_EQ(static_cast<std::int64_t>(answers.endpoint.size()), answers.sent);
  std::printf("three replicas served %lld of the tenant's 60 requests (%lld sent)\n",
              static_cast<long long>(answers.served), static_cast<long long>(answers.sent));
  EXPECT_LE(answers.served, 60);
  EXPECT_GE(answers.served, 54);
  ExpectWithinCapacity(&answers, "three replicas");
}

}  // namespace
}  // namespace azimuth::scheduler
