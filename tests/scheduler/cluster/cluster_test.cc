// Copyright 2026 Azimuth authors.
//
// Replicas as engines in one process, sharing a real redis-server: quotas
// true across replicas under contention (online and batched), telemetry and
// policy everywhere, and Redis stopped, restarted empty and flushed while
// the replicas decide. The invariant is checked against the engines' own
// ledgers: for every endpoint, the sum over replicas of reserved is at most
// its capacity.
#include "scheduler/cluster/cluster.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "scheduler/common/policy.h"
#include "scheduler/core/batch.h"
#include "tests/scheduler/endpoints.h"
#include "tests/scheduler/processes.h"

namespace azimuth::scheduler {
namespace {

using kernels::Cloud;
using kernels::Reason;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

EndpointSample Endpoint(const std::string& id, Cloud cloud, double price, std::int64_t tpm, std::int64_t rpm,
                        const std::string& model = "gpt-5") {
  return TestEndpoint(id, cloud, price, tpm, rpm, model);
}

BatchJob Job(int n, const std::string& prefix, const std::string& model = "gpt-5", int tokens_in = 500) {
  RequestBatch b;
  b.strings = {model, "us"};
  for (int i = 0; i < n; ++i) {
    b.id.push_back(prefix + std::to_string(i));
    b.model.push_back(0);
    b.zone.push_back(1);
    b.tokens_in.push_back(tokens_in + 37 * (i % 7));
    b.tokens_out.push_back(100);
  }
  absl::StatusOr<BatchJob> job = ValidateBatch(std::move(b), {});
  EXPECT_TRUE(job.ok()) << job.status();
  return *std::move(job);
}

// Window capacities (window 3600 s = 60 minutes): requests bind on three
// endpoints, tokens on the fourth.
std::vector<EndpointSample> Footprint() {
  return {Endpoint("azure-a", Cloud::kAzure, 0.001, 1'000'000, 2),   // 120 requests
          Endpoint("azure-b", Cloud::kAzure, 0.0012, 1'000'000, 3),  // 180
          Endpoint("aws-c", Cloud::kAws, 0.0015, 1'000'000, 2),      // 120
          Endpoint("gcp-d", Cloud::kGcp, 0.0018, 1'500, 100)};       // 90,000 tokens
}

// Whether `engine` holds a sample of endpoint `id`.
bool Knows(const Engine& engine, const std::string& id) {
  for (const EndpointState& e : engine.Endpoints()) {
    if (e.sample.row.id == id) return true;
  }
  return false;
}

struct Replica {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Cluster> cluster;
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("azimuth-cluster-test");
    redis_ = std::make_unique<RedisServer>(dir_);
    ASSERT_TRUE(redis_->Start());
  }

  // Starts `n` replicas with the footprint pinned and the policy set, and
  // waits until each holds a grant on every endpoint.
  void StartReplicas(int n, const std::string& prefix = "{azimuth}:", std::int64_t window_s = 3600,
                     std::vector<EndpointSample> footprint = Footprint()) {
    for (int i = 0; i < n; ++i) {
      Replica r;
      EngineOptions options;
      options.backend = kernels::Backend::kCpu;
      options.leased = true;
      r.engine = std::make_unique<Engine>(options);
      kernels::PolicyData policy = DefaultPolicy();
      policy.window_s = window_s;
      policy.azure_first = kernels::AzureFirst::kOff;
      policy.tenant_limits = tenant_limits_;
      r.engine->SetPolicy(policy);
      for (const EndpointSample& e : footprint) ASSERT_TRUE(r.engine->ReportTelemetry(e, /*pinned=*/true).ok());
      ClusterOptions o;
      o.redis = redis_options_;
      o.redis.host = "127.0.0.1";
      o.redis.port = redis_port_ > 0 ? redis_port_ : redis_->port();
      o.redis.io_timeout_ms = 250;
      o.key_prefix = prefix;
      o.replica_id = "r" + std::to_string(i);
      o.advertise_address = "127.0.0.1:" + std::to_string(50000 + i);
      o.interval = milliseconds(50);
      o.recovery_grace_s = 0.5;
      absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Start(o, r.engine.get());
      ASSERT_TRUE(c.ok()) << c.status();
      r.cluster = *std::move(c);
      replicas_.push_back(std::move(r));
    }
    ASSERT_TRUE(Eventually([&] {
      for (const Replica& r : replicas_) {
        for (const EndpointState& e : r.engine->Endpoints()) {
          if (e.requests_granted < 1) return false;
        }
      }
      return true;
    })) << "no grants within 10 s";
    ASSERT_TRUE(Eventually([&] {
      for (const Replica& r : replicas_) {
        if (r.cluster->stats().live_replicas != n) return false;
      }
      return true;
    })) << "the replicas do not see each other";
    window_ = replicas_[0].engine->Endpoints()[0].window_start_s;
  }

  static bool Eventually(const std::function<bool()>& done, milliseconds timeout = milliseconds(10000)) {
    const auto deadline = steady_clock::now() + timeout;
    while (steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return done();
  }

  // Sum over replicas of what each reserved, per endpoint id.
  struct Totals {
    std::map<std::string, std::int64_t> tokens, requests, tokens_capacity, requests_capacity;
  };
  Totals Reserved() const {
    Totals t;
    for (const Replica& r : replicas_) {
      for (const EndpointState& e : r.engine->Endpoints()) {
        t.tokens[e.sample.row.id] += e.tokens_reserved;
        t.requests[e.sample.row.id] += e.requests_reserved;
        t.tokens_capacity[e.sample.row.id] = e.tokens_capacity;
        t.requests_capacity[e.sample.row.id] = e.requests_capacity;
      }
    }
    return t;
  }
  void ExpectWithinCapacity(const std::string& when) const {
    const Totals t = Reserved();
    for (const auto& [id, requests] : t.requests) {
      EXPECT_LE(requests, t.requests_capacity.at(id)) << id << " " << when;
      EXPECT_LE(t.tokens.at(id), t.tokens_capacity.at(id)) << id << " " << when;
    }
  }
  bool SameWindow() const { return replicas_[0].engine->Endpoints()[0].window_start_s == window_; }

  // Every replica decides `calls` calls of `per_call` requests (online for
  // 1, batched above), as fast as it can; returns the requests served.
  std::int64_t Drive(int calls, int per_call, const std::string& tag,
                     const std::function<void(int)>& between = nullptr) {
    std::atomic<std::int64_t> served{0};
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
      threads.emplace_back([&, i] {
        Engine& engine = *replicas_[i].engine;
        for (int c = 0; c < calls; ++c) {
          if (between && i == 0) between(c);
          BatchJob job = Job(per_call, absl::StrCat(tag, "-", i, "-", c, "-"));
          Decisions d;
          if (per_call == 1) {
            d = engine.DecideOnline(&job);
          } else {
            std::vector<Decisions> out;
            ASSERT_TRUE(engine.DecideBatch({&job}, &out).ok());
            d = std::move(out[0]);
          }
          ASSERT_EQ(d.endpoint.size(), static_cast<std::size_t>(per_call));
          for (std::int32_t p : d.endpoint) served += p >= 0;
          std::this_thread::sleep_for(milliseconds(2));
        }
      });
    }
    for (std::thread& t : threads) t.join();
    return served.load();
  }

  fs::path dir_;
  std::unique_ptr<RedisServer> redis_;
  std::vector<Replica> replicas_;
  std::int64_t window_ = 0;
  // The replicas' policy's tenant limits.
  std::map<std::string, kernels::TenantLimit> tenant_limits_;
  // TLS and ACL settings for the replicas, and a port other than redis_'s.
  RedisOptions redis_options_;
  int redis_port_ = 0;
};

std::int64_t Capacity() {
  // 120 + 180 + 120 requests, and gcp-d's 90,000 tokens at 600-822 tokens a
  // request: at least 109 more.
  return 120 + 180 + 120 + 109;
}

// Demand about five times the capacity, a tenth online, the rest in
// batches of 20: first one replica with the whole quota, then three sharing
// it (fresh keys), on the same requests.
TEST_F(ClusterTest, QuotasHoldAcrossReplicasAndServeWhatOneReplicaServes) {
  StartReplicas(1, "{one}:");
  const std::int64_t alone = Drive(300, 1, "o") + Drive(120, 20, "b");
  ExpectWithinCapacity("one replica");
  replicas_.clear();
  StartReplicas(3, "{three}:");
  const std::int64_t online = Drive(100, 1, "o");
  ExpectWithinCapacity("after the online load");
  const std::int64_t batched = Drive(40, 20, "b");
  ExpectWithinCapacity("after the batched load");
  if (!SameWindow()) GTEST_SKIP() << "the hour rolled during the test";
  const std::int64_t served = online + batched;
  std::printf("one replica served %lld, three served %lld (%lld online, %lld batched): %.1f%%\n",
              static_cast<long long>(alone), static_cast<long long>(served), static_cast<long long>(online),
              static_cast<long long>(batched), 100.0 * static_cast<double>(served) / static_cast<double>(alone));
  EXPECT_GE(alone, Capacity());
  EXPECT_GE(served * 100, alone * 97);
  const Totals t = Reserved();
  std::int64_t reserved = 0;
  for (const auto& [id, n] : t.requests) reserved += n;
  EXPECT_EQ(reserved, served);
  for (const Replica& r : replicas_) {
    const ClusterStats s = r.cluster->stats();
    EXPECT_TRUE(s.redis_up);
    EXPECT_EQ(s.live_replicas, 3);
    EXPECT_GT(s.lease_calls, 0);
    EXPECT_EQ(r.cluster->Peers().size(), 2u);
  }
}

TEST_F(ClusterTest, TelemetryAndPolicyReachEveryReplica) {
  StartReplicas(3);
  Engine& a = *replicas_[0].engine;
  Engine& b = *replicas_[1].engine;
  // A new endpoint reported to A is decided on by B within a second.
  EndpointSample fresh = Endpoint("aws-new", Cloud::kAws, 0.001, 1'000'000, 1000, "model-x");
  fresh.timestamp_ms = Engine::WallClockMs();
  const auto reported = steady_clock::now();
  ASSERT_TRUE(a.ReportTelemetry(fresh).ok());
  int tries = 0;
  ASSERT_TRUE(Eventually([&] {
    BatchJob job = Job(1, "x" + std::to_string(tries++), "model-x");
    return b.DecideOnline(&job).endpoint[0] >= 0;
  }));
  EXPECT_LT(steady_clock::now() - reported, milliseconds(1000)) << "after " << tries << " tries";

  // An older sample arriving later (at C) does not bring back what it said.
  EndpointSample newer = fresh;
  newer.row.healthy = false;
  newer.timestamp_ms = fresh.timestamp_ms + 2;
  EndpointSample older = fresh;
  older.timestamp_ms = fresh.timestamp_ms + 1;
  ASSERT_TRUE(a.ReportTelemetry(newer).ok());
  ASSERT_TRUE(Eventually([&] {
    for (const EndpointState& e : b.Endpoints()) {
      if (e.sample.row.id == "aws-new") return !e.sample.row.healthy;
    }
    return false;
  }));
  ASSERT_TRUE(replicas_[2].engine->ReportTelemetry(older).ok());
  std::this_thread::sleep_for(milliseconds(500));
  for (const Replica& r : replicas_) {
    for (const EndpointState& e : r.engine->Endpoints()) {
      if (e.sample.row.id == "aws-new") {
        EXPECT_FALSE(e.sample.row.healthy) << "an older sample won";
      }
    }
  }

  // SetPolicy on B applies on A and C.
  kernels::PolicyData policy = b.policy();
  policy.reject_usd[0] = 0.125;
  b.SetPolicy(policy);
  for (const Replica& r : replicas_) {
    EXPECT_TRUE(Eventually([&] { return r.engine->policy().reject_usd[0] == 0.125; }, milliseconds(1000)));
  }
}

TEST_F(ClusterTest, RedisDownThenBackDecidesWithinGrantsOnly) {
  StartReplicas(3);
  Drive(20, 1, "warm");
  redis_->Stop();
  // Decisions go on, within what each replica holds, and never wait.
  const auto start = steady_clock::now();
  Drive(100, 1, "down");
  EXPECT_LT(steady_clock::now() - start, milliseconds(20000));
  ExpectWithinCapacity("with redis down");
  for (const Replica& r : replicas_) {
    EXPECT_TRUE(Eventually([&] { return !r.cluster->stats().redis_up; }));
    EXPECT_GT(r.cluster->stats().redis_errors, 0);
  }
  // Redis comes back empty: the replicas reconnect, find the data lost, and
  // grant nothing more this window; what they hold, they still serve.
  ASSERT_TRUE(redis_->Restart());
  for (const Replica& r : replicas_) {
    EXPECT_TRUE(Eventually([&] { return r.cluster->stats().redis_up && r.cluster->stats().data_losses == 1; }))
        << r.cluster->stats().redis_errors;
  }
  Drive(200, 1, "after");
  ExpectWithinCapacity("after redis came back empty");
  // Telemetry flows again.
  EndpointSample fresh = Endpoint("aws-late", Cloud::kAws, 0.001, 1'000'000, 1000, "model-y");
  ASSERT_TRUE(replicas_[0].engine->ReportTelemetry(fresh).ok());
  EXPECT_TRUE(Eventually([&] { return Knows(*replicas_[2].engine, "aws-late"); }));
}

TEST_F(ClusterTest, FlushMidLoadNeverOvercommits) {
  StartReplicas(3);
  // The data vanish while the replicas decide (FLUSHALL, as a failover to an
  // empty replica would): the windows granted before are frozen.
  absl::StatusOr<std::unique_ptr<RedisConnection>> admin = RedisConnection::Connect([&] {
    RedisOptions o;
    o.port = redis_->port();
    return o;
  }());
  ASSERT_TRUE(admin.ok());
  Drive(200, 1, "f", [&](int c) {
    if (c == 50) {
      ASSERT_TRUE((*admin)->Command({"FLUSHALL"}).ok());
    }
  });
  ExpectWithinCapacity("after FLUSHALL");
  for (const Replica& r : replicas_) {
    EXPECT_TRUE(Eventually([&] { return r.cluster->stats().data_losses >= 1; }));
  }
  // The killed-replica case: one stops (as SIGKILL would: no goodbye) and
  // the others go on.
  replicas_[2].cluster->Stop();
  Drive(100, 1, "g");
  ExpectWithinCapacity("after a replica stopped");
}

// Managed Redis as Azure Cache for Redis runs it: TLS only, an ACL user,
// the default user off. The replicas lease and share telemetry through it.
TEST_F(ClusterTest, WorksOverTlsWithAnAclUser) {
  MakeCertificates(dir_);
  redis_port_ = FreePort();
  RedisServer tls(dir_, {"--port",
                         "0",
                         "--tls-port",
                         std::to_string(redis_port_),
                         "--tls-cert-file",
                         (dir_ / "server.pem").string(),
                         "--tls-key-file",
                         (dir_ / "server.key").string(),
                         "--tls-ca-cert-file",
                         (dir_ / "ca.pem").string(),
                         "--tls-auth-clients",
                         "no",
                         "--user",
                         "azimuth",
                         "on",
                         ">pw-for-tests",
                         "~*",
                         "&*",
                         "+@all",
                         "--user",
                         "default",
                         "off"});
  ASSERT_TRUE(tls.Start());
  redis_options_.tls = true;
  redis_options_.ca_file = (dir_ / "ca.pem").string();
  redis_options_.server_name = "localhost";
  redis_options_.username = "azimuth";
  redis_options_.password = "pw-for-tests";
  StartReplicas(2, "{tls}:");
  EndpointSample fresh = Endpoint("aws-tls", Cloud::kAws, 0.001, 1'000'000, 1000, "model-t");
  ASSERT_TRUE(replicas_[0].engine->ReportTelemetry(fresh).ok());
  EXPECT_TRUE(Eventually([&] { return Knows(*replicas_[1].engine, "aws-tls"); }));
  Drive(50, 1, "t");
  ExpectWithinCapacity("over TLS");
  for (const Replica& r : replicas_) {
    EXPECT_TRUE(r.cluster->stats().redis_up);
    EXPECT_EQ(r.cluster->stats().redis_errors, 0);
  }
}

// Two-second windows: each window's grants are taken ahead of its start, so
// its first requests find capacity; no window is over its capacity; and
// once a window ends, the capacity it stranded is measured.
TEST_F(ClusterTest, WindowsRollWithGrantsTakenAhead) {
  // 100 requests per window on each endpoint.
  const std::vector<EndpointSample> footprint = {Endpoint("azure-a", Cloud::kAzure, 0.001, 100'000'000, 3000),
                                                 Endpoint("aws-b", Cloud::kAws, 0.002, 100'000'000, 3000)};
  StartReplicas(3, "{windows}:", 2, footprint);
  struct Served {
    std::int64_t window;
    std::string endpoint;
  };
  std::mutex mu;
  std::vector<Served> served;
  std::int64_t ambiguous = 0;
  std::vector<std::thread> threads;
  const auto until = steady_clock::now() + milliseconds(7000);
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int c = 0; steady_clock::now() < until; ++c) {
        BatchJob job = Job(1, absl::StrCat("w-", i, "-", c, "-"));
        const std::int64_t before = Engine::WallClockMs() / 2000;
        const Decisions d = replicas_[i].engine->DecideOnline(&job);
        const std::int64_t after = Engine::WallClockMs() / 2000;
        std::lock_guard<std::mutex> lock(mu);
        if (before != after) {
          ++ambiguous;
        } else if (d.endpoint[0] >= 0) {
          served.push_back({before, (*d.endpoint_ids)[d.endpoint[0]]});
        }
        std::this_thread::sleep_for(milliseconds(2));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::map<std::int64_t, std::map<std::string, std::int64_t>> per_window;
  for (const Served& s : served) ++per_window[s.window][s.endpoint];
  ASSERT_GE(per_window.size(), 3u);
  // Windows wholly inside the load (not the first, not the last): full.
  int full = 0;
  for (auto it = std::next(per_window.begin()); it != std::prev(per_window.end()); ++it) {
    std::int64_t total = 0;
    for (const auto& [ep, n] : it->second) {
      EXPECT_LE(n, 100) << ep << " in window " << it->first;
      total += n;
    }
    EXPECT_GE(total + ambiguous, 190) << "window " << it->first;
    std::printf("window %lld: %lld of 200 served (%lld decisions across a boundary)\n",
                static_cast<long long>(it->first * 2), static_cast<long long>(total),
                static_cast<long long>(ambiguous));
    full += total >= 190;
  }
  for (const auto& [ep, n] : per_window.begin()->second) EXPECT_LE(n, 100) << ep;
  for (const auto& [ep, n] : per_window.rbegin()->second) EXPECT_LE(n, 100) << ep;
  EXPECT_GE(full, 1);
  // The finished windows' waste was measured, and it is small: demand
  // lasted to their end.
  for (const Replica& r : replicas_) {
    EXPECT_TRUE(Eventually([&] { return r.cluster->stats().stranded_requests >= 0; }, milliseconds(5000)));
    EXPECT_LE(r.cluster->stats().stranded_requests, 0.1);
    std::printf("stranded: %.3f of the tokens, %.3f of the requests\n", r.cluster->stats().stranded_tokens,
                r.cluster->stats().stranded_requests);
  }
}

// Tenant limits are shared like quotas: with capacity to spare, every
// replica decides four tenants' requests (one limited by requests, one by
// tokens, one by budget, one unlimited) online and in batches of 20 as fast
// as it can. Together the replicas never use more than a limit, and they
// serve nearly all of it: what one replica holding the whole limits serves.
TEST_F(ClusterTest, TenantLimitsHoldAcrossReplicasAndServeWhatOneReplicaServes) {
  tenant_limits_["by-requests"] = kernels::TenantLimit{0, 90, 0};
  tenant_limits_["by-tokens"] = kernels::TenantLimit{60'000, 0, 0};  // about 80 requests of 600-822 tokens
  tenant_limits_["by-budget"] = kernels::TenantLimit{0, 0, 0.05};
  const std::vector<EndpointSample> footprint = {Endpoint("azure-a", Cloud::kAzure, 0.001, 100'000'000, 100'000),
                                                 Endpoint("aws-b", Cloud::kAws, 0.0008, 100'000'000, 100'000)};
  const char* tenants[] = {"by-requests", "by-tokens", "by-budget", "free"};
  struct Use {
    std::int64_t requests = 0, tokens = 0;
    double usd = 0;
  };
  // Every replica: 60 single requests, then 25 batches of 20, the tenants
  // in turn. Returns what the decisions served, by tenant.
  auto drive = [&](const std::string& tag) {
    std::mutex mu;
    std::map<std::string, Use> served;
    std::map<std::string, std::int64_t> refused;
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
      threads.emplace_back([&, i] {
        Engine& engine = *replicas_[i].engine;
        for (int c = 0; c < 85; ++c) {
          const int n = c < 60 ? 1 : 20;
          BatchJob plain = Job(n, absl::StrCat(tag, "-", i, "-", c, "-"));
          RequestBatch b = std::move(plain.batch);
          const std::uint32_t first = static_cast<std::uint32_t>(b.strings.size());
          for (const char* t : tenants) b.strings.push_back(t);
          b.tenant.assign(n, 0);
          for (int k = 0; k < n; ++k) b.tenant[k] = first + static_cast<std::uint32_t>((c + k) % 4);
          // The engine keeps the batch for Explain: what the test reads of it
          // is copied first.
          std::vector<std::string> names(n);
          std::vector<std::int64_t> tokens(n);
          for (int k = 0; k < n; ++k) {
            names[k] = b.strings[b.tenant[k]];
            tokens[k] = b.tokens_in[k] + b.tokens_out[k];
          }
          absl::StatusOr<BatchJob> job = ValidateBatch(std::move(b), {});
          ASSERT_TRUE(job.ok()) << job.status();
          Decisions d;
          if (n == 1) {
            d = engine.DecideOnline(&*job);
          } else {
            std::vector<Decisions> out;
            ASSERT_TRUE(engine.DecideBatch({&*job}, &out).ok());
            d = std::move(out[0]);
          }
          std::lock_guard<std::mutex> lock(mu);
          for (int k = 0; k < n; ++k) {
            const std::string& t = names[k];
            if (d.endpoint[k] < 0) {
              // The tenant's limit, or (while the endpoints' grants grow
              // from their first small ones) the capacity held.
              if (t == "free") {
                EXPECT_EQ(d.reason[k], Reason::kCapacityExhausted);
              } else {
                EXPECT_TRUE(d.reason[k] == Reason::kTenantLimit || d.reason[k] == Reason::kCapacityExhausted) << t;
              }
              ++refused[t];
              continue;
            }
            Use& u = served[t];
            u.requests += 1;
            u.tokens += tokens[k];
            u.usd += d.cost[k];
          }
          std::this_thread::sleep_for(milliseconds(2));
        }
      });
    }
    for (std::thread& t : threads) t.join();
    // 15 single requests and 125 in batches per tenant and replica.
    EXPECT_EQ(served["free"].requests + refused["free"], 140 * static_cast<std::int64_t>(replicas_.size()));
    return served;
  };
  // What the engines hold, summed over replicas, against the limits.
  auto expect_within_limits = [&](const std::map<std::string, Use>& served, const std::string& when) {
    std::map<std::string, Use> held;
    for (const Replica& r : replicas_) {
      for (const TenantState& t : r.engine->Tenants()) {
        EXPECT_TRUE(t.leased);
        held[t.tenant].requests += t.used.requests;
        held[t.tenant].tokens += t.used.tokens;
        held[t.tenant].usd += t.used.usd;
      }
    }
    EXPECT_EQ(held.count("free"), 0u) << "unlimited tenants are not kept";
    EXPECT_LE(held["by-requests"].requests, 90) << when;
    EXPECT_LE(held["by-tokens"].tokens, 60'000) << when;
    EXPECT_LE(held["by-budget"].usd, 0.05 + 1e-12) << when;
    for (const char* t : {"by-requests", "by-tokens", "by-budget"}) {
      const auto it = served.find(t);
      const Use u = it == served.end() ? Use{} : it->second;
      EXPECT_EQ(held[t].requests, u.requests) << t << " " << when;
      EXPECT_EQ(held[t].tokens, u.tokens) << t << " " << when;
    }
  };
  StartReplicas(1, "{tenants-one}:", 3600, footprint);
  std::map<std::string, Use> alone = drive("o");
  expect_within_limits(alone, "one replica");
  replicas_.clear();
  StartReplicas(3, "{tenants-three}:", 3600, footprint);
  std::map<std::string, Use> three = drive("t");
  expect_within_limits(three, "three replicas");
  if (!SameWindow()) GTEST_SKIP() << "the hour rolled during the test";
  for (const char* t : {"by-requests", "by-tokens", "by-budget"}) {
    std::printf("%s: one replica served %lld requests (%lld tokens, $%.4f), three %lld (%lld tokens, $%.4f)\n", t,
                static_cast<long long>(alone[t].requests), static_cast<long long>(alone[t].tokens), alone[t].usd,
                static_cast<long long>(three[t].requests), static_cast<long long>(three[t].tokens), three[t].usd);
    EXPECT_GE(three[t].requests * 100, alone[t].requests * 90) << t;
  }
  // Demand was well above every limit: one replica serves nearly all of it.
  EXPECT_EQ(alone["by-requests"].requests, 90);
  EXPECT_GE(alone["by-tokens"].tokens, 60'000 - 822);
  EXPECT_GE(alone["by-budget"].usd, 0.05 * 0.95);
  // The unlimited tenant is never refused for a tenant limit, and nearly
  // all of it is served.
  EXPECT_GE(alone["free"].requests, 140 * 9 / 10);
  EXPECT_GE(three["free"].requests, 3 * 140 * 9 / 10);
}

// The tenants the policy names are leased before they are met: with three
// replicas, each one's first request of a named tenant is served (before,
// it was refused with TENANT_LIMIT until the sync that followed), and
// what the replicas hold ahead is small against the limit.
TEST_F(ClusterTest, ANamedTenantsFirstRequestOnEveryReplicaIsServed) {
  tenant_limits_["named"] = kernels::TenantLimit{60'000, 90, 0.05};
  StartReplicas(3, "{tenants-named}:", 3600);
  ASSERT_TRUE(Eventually([&] {
    for (const Replica& r : replicas_) {
      bool granted = false;
      for (const TenantState& t : r.engine->Tenants()) {
        granted |= t.tenant == "named" && t.granted.requests >= 1 && t.granted.tokens > 0 && t.granted.micro_usd > 0;
      }
      if (!granted) return false;
    }
    return true;
  })) << "the named tenant has no grant on every replica within 10 s";
  std::int64_t held_requests = 0, held_tokens = 0;
  for (const Replica& r : replicas_) {
    for (const TenantState& t : r.engine->Tenants()) {
      EXPECT_EQ(t.used.requests, 0) << "leased before any request";
      held_requests += t.granted.requests;
      held_tokens += t.granted.tokens;
    }
  }
  EXPECT_LE(held_requests, 90 / 2) << "a first grant is small";
  EXPECT_LE(held_tokens, 60'000 / 2);
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    BatchJob plain = Job(1, absl::StrCat("named-", i, "-"));
    RequestBatch b = std::move(plain.batch);
    b.strings.push_back("named");
    b.tenant.assign(1, static_cast<std::uint32_t>(b.strings.size() - 1));
    absl::StatusOr<BatchJob> job = ValidateBatch(std::move(b), {});
    ASSERT_TRUE(job.ok()) << job.status();
    const Decisions d = replicas_[i].engine->DecideOnline(&*job);
    EXPECT_GE(d.endpoint[0], 0) << "replica " << i << ": " << static_cast<int>(d.reason[0]);
  }
}

}  // namespace
}  // namespace azimuth::scheduler
