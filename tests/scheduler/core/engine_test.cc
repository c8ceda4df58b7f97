// Copyright 2026 Azimuth authors.
//
// The control plane's domain core without gRPC: batch validation, the
// telemetry store's freshness, the capacity ledger, online and batched
// decisions sharing one ledger, explanations, and the batcher's bounds.
#include "scheduler/core/engine.h"

#include <atomic>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/common/policy.h"
#include "scheduler/core/batch.h"
#include "scheduler/core/batcher.h"
#include "tests/scheduler/endpoints.h"

namespace azimuth::scheduler {
namespace {

using kernels::Cloud;
using kernels::Reason;

EndpointSample Endpoint(const std::string& id, Cloud cloud, const std::string& zone, double price, std::int64_t tpm,
                        std::int64_t rpm, double p95 = 800) {
  return TestEndpoint(id, cloud, price, tpm, rpm, "gpt-5", p95, zone);
}

// n requests for gpt-5 in zone "us" with 100 + 10 tokens each.
RequestBatch Requests(int n, const std::string& prefix = "r") {
  RequestBatch b;
  b.strings = {"gpt-5", "us"};
  for (int i = 0; i < n; ++i) {
    b.id.push_back(prefix + std::to_string(i));
    b.model.push_back(0);
    b.zone.push_back(1);
    b.tokens_in.push_back(100);
    b.tokens_out.push_back(10);
  }
  return b;
}

BatchJob Job(RequestBatch b) {
  absl::StatusOr<BatchJob> job = ValidateBatch(std::move(b), {});
  EXPECT_TRUE(job.ok()) << job.status();
  return *std::move(job);
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : engine_(EngineOptions{kernels::Backend::kCpu, 60, 1000}, [this] { return now_ms_.load(); }) {
    kernels::PolicyData policy = DefaultPolicy();
    policy.azure_first = kernels::AzureFirst::kOff;
    engine_.SetPolicy(policy);
  }
  std::atomic<std::int64_t> now_ms_{1'800'000'000'000};
  Engine engine_;
};

TEST(ValidateBatchTest, MalformedBatchesNameTheColumn) {
  struct Case {
    const char* name;
    void (*mutate)(RequestBatch*);
    const char* field;
  };
  const Case cases[] = {
      {"tokens_out short", [](RequestBatch* b) { b->tokens_out.pop_back(); }, "tokens_out"},
      {"model missing", [](RequestBatch* b) { b->model.clear(); }, "model"},
      {"optional column wrong length", [](RequestBatch* b) { b->slo_ms = {1}; }, "slo_ms"},
      {"string index past the table", [](RequestBatch* b) { b->model[1] = 9; }, "model[1]"},
      // Index 2 is where the empty tenant and zone string is interned: still
      // past the table as sent.
      {"string index equal to the table size", [](RequestBatch* b) { b->model[1] = 2; }, "model[1]"},
      {"unknown enum",
       [](RequestBatch* b) {
         b->home_cloud = {0, 7, 0};
       },
       "home_cloud[1]"},
  };
  for (const Case& c : cases) {
    RequestBatch b = Requests(3);
    c.mutate(&b);
    absl::StatusOr<BatchJob> job = ValidateBatch(std::move(b), {});
    ASSERT_FALSE(job.ok()) << c.name;
    EXPECT_EQ(job.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(job.status().message().find(c.field), absl::string_view::npos) << c.name << ": " << job.status();
  }
  absl::StatusOr<BatchJob> big = ValidateBatch(Requests(11), BatchLimits{10});
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("limit of 10"), absl::string_view::npos);
}

TEST(ValidateBatchTest, BadRequestsAreMarkedAndTheRestKept) {
  RequestBatch b = Requests(6);
  b.tokens_in[1] = -5;
  b.id[2] = "r0";  // duplicate
  b.priority = {0, 0, 0, 9, 0, 0};
  b.id[4] = "";
  b.slo_ms = {0, 0, 0, 0, 0, -1};
  absl::StatusOr<BatchJob> job = ValidateBatch(std::move(b), {});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->invalid, (std::vector<std::uint8_t>{0, 1, 1, 1, 1, 1}));
  ASSERT_EQ(job->errors.size(), 5u);
  EXPECT_EQ(job->errors[0].field, "tokens_in");
  EXPECT_EQ(job->errors[1].field, "id");
  EXPECT_NE(job->errors[1].message.find("duplicate"), std::string::npos);
  EXPECT_EQ(job->errors[2].field, "priority");
  EXPECT_EQ(job->errors[3].field, "id");
  EXPECT_EQ(job->errors[4].field, "slo_ms");
}

TEST(ValidateBatchTest, OverlongIdsAndStringsMarkTheirRequest) {
  RequestBatch b = Requests(3);
  b.id[0] = std::string(kMaxStringBytes + 1, 'x');
  b.strings.push_back(std::string(kMaxStringBytes + 1, 'z'));
  b.zone = {1, 2, 1};
  absl::StatusOr<BatchJob> job = ValidateBatch(std::move(b), {});
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->invalid, (std::vector<std::uint8_t>{1, 1, 0}));
  ASSERT_EQ(job->errors.size(), 2u);
  EXPECT_EQ(job->errors[0].field, "id");
  EXPECT_EQ(job->errors[1].field, "zone");
  EXPECT_NE(job->errors[1].message.find("at most 1024"), std::string::npos) << job->errors[1].message;
}

TEST(CompactStringsTest, KeepsOnlyTheStringsRequestsUse) {
  RequestBatch b = Requests(3);
  b.strings = {"unused-0", "gpt-5", "unused-2", "us", "t"};
  b.model = {1, 1, 1};
  b.zone = {3, 3, 3};
  b.tenant = {4, 4, 4};
  CompactStrings(&b);
  ASSERT_EQ(b.strings.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(b.strings[b.model[i]], "gpt-5");
    EXPECT_EQ(b.strings[b.zone[i]], "us");
    EXPECT_EQ(b.strings[b.tenant[i]], "t");
  }
}

TEST(TelemetryStoreTest, SamplesAreValidatedAndAgeOut) {
  TelemetryStore store;
  EndpointSample bad = Endpoint("e", Cloud::kAzure, "us", 0.001, 1000, 10);
  bad.row.latency_p50_ms = 2000;  // above p95
  absl::Status s = store.Apply(bad, 0, false);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("latency_p50_ms"), absl::string_view::npos) << s;
  EndpointSample ok = Endpoint("e", Cloud::kAzure, "us", 0.001, 1000, 10);
  ok.timestamp_ms = 10'000;
  ASSERT_TRUE(store.Apply(ok, 20'000, false).ok());
  EXPECT_TRUE(store.Available(0, 40'000, 30));
  EXPECT_FALSE(store.Available(0, 40'001, 30));
  ok.timestamp_ms = 0;  // on receipt
  ASSERT_TRUE(store.Apply(ok, 50'000, false).ok());
  EXPECT_EQ(store.size(), 1u);
  EXPECT_TRUE(store.Available(0, 80'000, 30));
  ok.row.healthy = false;
  ASSERT_TRUE(store.Apply(ok, 80'000, false).ok());
  EXPECT_FALSE(store.Available(0, 80'000, 30));
}

TEST(CapacityLedgerTest, ReservesExactlyAndReleasesWhenTheWindowRolls) {
  CapacityLedger ledger;
  ledger.Resize(1);
  ledger.Roll(120, 60);
  EXPECT_TRUE(ledger.TryReserve(0, 60, 100, 2));
  EXPECT_FALSE(ledger.TryReserve(0, 41, 100, 2));  // 101 tokens
  EXPECT_TRUE(ledger.TryReserve(0, 40, 100, 2));   // exactly 100
  EXPECT_FALSE(ledger.TryReserve(0, 0, 100, 2));   // third request
  ledger.Roll(179, 60);
  EXPECT_EQ(ledger.tokens_reserved(0), 100);
  ledger.Roll(180, 60);
  EXPECT_EQ(ledger.window_start_s(), 180);
  EXPECT_EQ(ledger.tokens_reserved(0), 0);
  EXPECT_EQ(ledger.requests_reserved(0), 0);
}

TEST_F(EngineTest, OnlineDecisionsTakeTheCheapestWithRoomAndHoldCapacity) {
  // aws is cheaper but has room for 2 requests a minute; azure for 3.
  // Pinned (config) endpoints: fresh without agents.
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("azure", Cloud::kAzure, "us", 0.002, 100000, 3), true).ok());
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 100000, 2), true).ok());
  std::vector<std::string> got;
  for (int i = 0; i < 6; ++i) {
    BatchJob job = Job(Requests(1, "o" + std::to_string(i) + "-"));
    Decisions d = engine_.DecideOnline(&job);
    ASSERT_EQ(d.endpoint.size(), 1u);
    EXPECT_TRUE(d.info.online);
    got.push_back(d.endpoint[0] < 0 ? ReasonName(d.reason[0]) : (*d.endpoint_ids)[d.endpoint[0]]);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"aws", "aws", "azure", "azure", "azure", "CAPACITY_EXHAUSTED"}));
  // A minute later the window rolled: room again.
  now_ms_ += 60'000;
  BatchJob job = Job(Requests(1, "later"));
  Decisions d = engine_.DecideOnline(&job);
  ASSERT_GE(d.endpoint[0], 0);
  EXPECT_EQ((*d.endpoint_ids)[d.endpoint[0]], "aws");
}

TEST_F(EngineTest, BatchesRespectTheLedgerAndMarkUnknownModels) {
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("azure", Cloud::kAzure, "us", 0.002, 3000, 100)).ok());
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 2200, 100)).ok());
  // 5 online requests first take 550 tokens of aws.
  for (int i = 0; i < 5; ++i) {
    BatchJob job = Job(Requests(1, "o" + std::to_string(i)));
    engine_.DecideOnline(&job);
  }
  RequestBatch b = Requests(60);
  b.strings.push_back("no-such-model");
  b.model[7] = 2;
  b.tokens_in[8] = -1;
  BatchJob job = Job(std::move(b));
  std::vector<Decisions> out;
  ASSERT_TRUE(engine_.DecideBatch({&job}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  const Decisions& d = out[0];
  EXPECT_EQ(d.reason[7], Reason::kNoEligibleEndpoint);
  EXPECT_EQ(d.reason[8], Reason::kInvalidRequest);
  std::int64_t tokens[2] = {0, 0};
  int assigned = 0;
  for (std::size_t i = 0; i < d.endpoint.size(); ++i) {
    if (d.endpoint[i] < 0) continue;
    tokens[d.endpoint[i]] += 110;
    ++assigned;
  }
  // Capacity: azure 3000 tokens (27 requests), aws 2200 - 550 left (15).
  EXPECT_LE(tokens[0], 3000);
  EXPECT_LE(tokens[1], 2200 - 550);
  EXPECT_EQ(assigned, 27 + 15);
  const std::vector<EndpointState> states = engine_.Endpoints();
  EXPECT_EQ(states[0].tokens_reserved, tokens[0]);
  EXPECT_EQ(states[1].tokens_reserved, tokens[1] + 550);
  EXPECT_EQ(d.info.batch_ids.size(), 1u);
  EXPECT_FALSE(d.info.online);
  EXPECT_GE(d.info.gap, 0.0);
}

// With leases (replicas), the tenants the policy names are listed for the
// cluster to lease before any request of theirs, but only while the ledger
// holds fewer than half the tenants it keeps (TenantLedger::
// kMaxLeasedTenants): 5,000 named tenants take 2,048 places ahead, and
// tenants met later still find room.
TEST(EngineLeasesTest, NamedTenantsAreLeasedAheadUpToHalfTheLedger) {
  std::atomic<std::int64_t> now_ms{1'800'000'000'000};
  EngineOptions options;
  options.backend = kernels::Backend::kCpu;
  options.leased = true;
  Engine engine(options, [&] { return now_ms.load(); });
  kernels::PolicyData policy = DefaultPolicy();
  for (int t = 0; t < 5000; ++t) policy.tenant_limits["named-" + std::to_string(t)] = kernels::TenantLimit{0, 10, 0};
  policy.tenant_limits["unlimited"] = kernels::TenantLimit{};
  engine.SetPolicy(policy);
  ASSERT_TRUE(engine.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 10000000, 100000), true).ok());
  BatchJob job = Job(Requests(1, "roll"));  // rolls the ledger into the window (no grant: refused)
  engine.DecideOnline(&job);
  const LeaseState state = engine.Leases();
  EXPECT_EQ(state.tenant_leases.size(), TenantLedger::kMaxLeasedTenants / 2);
  ASSERT_EQ(state.tenant_limits.size(), state.tenant_leases.size());
  for (std::size_t k = 0; k < state.tenant_leases.size(); ++k) {
    EXPECT_EQ(state.tenant_leases[k].tenant.rfind("named-", 0), 0u) << state.tenant_leases[k].tenant;
    EXPECT_EQ(state.tenant_limits[k].requests, 10);
    EXPECT_EQ(state.tenant_leases[k].used.requests, 0);
  }
}

// Fair share through the engine (the policy as azimuthd takes it): one
// endpoint with room for 8 requests in the window, a batch of 40 alike
// requests from "light" and "heavy" (weight 3). The places split 2 : 6,
// the one split where no refused request could even the shares by taking
// another tenant's place; the refused are CAPACITY_EXHAUSTED.
TEST_F(EngineTest, FairShareSplitsABatchsScarceCapacityByWeight) {
  kernels::PolicyData policy = engine_.policy();
  policy.fair_share = true;
  policy.tenant_weights["heavy"] = 3;
  engine_.SetPolicy(policy);
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 10000000, 8), true).ok());
  ASSERT_EQ(engine_.Endpoints()[0].requests_capacity, 8);
  RequestBatch b = Requests(40, "f");
  b.strings.push_back("light");
  b.strings.push_back("heavy");
  for (int i = 0; i < 40; ++i) b.tenant.push_back(2 + i % 2);
  BatchJob job = Job(std::move(b));
  std::vector<Decisions> out;
  ASSERT_TRUE(engine_.DecideBatch({&job}, &out).ok());
  int light = 0, heavy = 0;
  for (std::size_t i = 0; i < out[0].endpoint.size(); ++i) {
    if (out[0].endpoint[i] < 0) {
      EXPECT_EQ(out[0].reason[i], Reason::kCapacityExhausted) << i;
      continue;
    }
    (i % 2 == 0 ? light : heavy) += 1;
  }
  EXPECT_EQ(light, 2);
  EXPECT_EQ(heavy, 6);
}

// Tenant limits hold on every path (online, batch, and the two mixed) in one
// window: tenant "a" may have 20 requests, "b" 2,200 tokens (20 requests
// of 110), "c" 0.0275 USD (about 20 requests at 0.00132 USD on aws, fewer
// on azure); "free" is unlimited. Refusals name the limit; the next window
// has room again.
TEST_F(EngineTest, TenantLimitsHoldOnlineInBatchesAndMixed) {
  kernels::PolicyData policy = engine_.policy();
  policy.tenant_limits["a"] = kernels::TenantLimit{0, 20, 0};
  policy.tenant_limits["b"] = kernels::TenantLimit{2200, 0, 0};
  policy.tenant_limits["c"] = kernels::TenantLimit{0, 0, 0.0275};
  engine_.SetPolicy(policy);
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("azure", Cloud::kAzure, "us", 0.002, 10000000, 100000), true).ok());
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 10000000, 100000), true).ok());
  const char* tenants[] = {"a", "b", "c", "free"};
  auto tagged = [&](int n, const std::string& prefix) {
    RequestBatch b = Requests(n, prefix);
    for (const char* t : tenants) b.strings.push_back(t);
    for (int i = 0; i < n; ++i) b.tenant.push_back(2 + i % 4);
    return b;
  };
  struct Served {
    std::int64_t requests = 0, tokens = 0;
    double usd = 0;
  } served[4];
  std::map<kernels::TenantLimitKind, int> refused;
  auto count = [&](const Decisions& d) {
    for (std::size_t i = 0; i < d.endpoint.size(); ++i) {
      if (d.endpoint[i] >= 0) {
        Served& s = served[i % 4];
        s.requests += 1;
        s.tokens += 110;
        s.usd += d.cost[i];
      } else {
        ASSERT_EQ(d.reason[i], Reason::kTenantLimit) << i;
        ASSERT_NE(i % 4, 3u);
        ++refused[d.tenant_limit[i]];
      }
    }
  };
  // Online: 12 single requests (3 per tenant), then a batch of 40, then
  // batches and singles interleaved from two threads.
  for (int k = 0; k < 12; ++k) {
    RequestBatch one = tagged(4, "o" + std::to_string(k) + "-");
    BatchJob job = Job(std::move(one));
    count(engine_.DecideOnline(&job));
  }
  BatchJob batch = Job(tagged(40, "b"));
  std::vector<Decisions> out;
  ASSERT_TRUE(engine_.DecideBatch({&batch}, &out).ok());
  count(out[0]);
  std::vector<Decisions> mixed_batches(5), mixed_online(40);
  std::thread batches([&] {
    for (int k = 0; k < 5; ++k) {
      BatchJob job = Job(tagged(40, "mb" + std::to_string(k) + "-"));
      std::vector<Decisions> o;
      ASSERT_TRUE(engine_.DecideBatch({&job}, &o).ok());
      mixed_batches[k] = o[0];
    }
  });
  for (int k = 0; k < 40; ++k) {
    BatchJob job = Job(tagged(4, "mo" + std::to_string(k) + "-"));
    mixed_online[k] = engine_.DecideOnline(&job);
  }
  batches.join();
  for (const Decisions& d : mixed_batches) count(d);
  for (const Decisions& d : mixed_online) count(d);
  EXPECT_EQ(served[0].requests, 20);
  EXPECT_EQ(served[1].tokens, 2200);
  EXPECT_LE(served[2].usd, 0.0275 + 1e-12);
  EXPECT_GE(served[2].usd, 0.0275 - 0.0023);         // within one request of the budget
  EXPECT_EQ(served[3].requests, 12 + 10 + 50 + 40);  // never refused
  EXPECT_GT(refused[kernels::TenantLimitKind::kRequests], 0);
  EXPECT_GT(refused[kernels::TenantLimitKind::kTokens], 0);
  EXPECT_GT(refused[kernels::TenantLimitKind::kBudget], 0);
  EXPECT_EQ(refused[kernels::TenantLimitKind::kNone], 0);
  // Explain names the tenant and the limit.
  absl::StatusOr<Explained> e = engine_.Explain("mo39-0");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->reason, Reason::kTenantLimit);
  EXPECT_EQ(e->tenant, "a");
  EXPECT_EQ(e->tenant_limit, kernels::TenantLimitKind::kRequests);
  // The next window: room again.
  now_ms_ += 60'000;
  BatchJob next = Job(tagged(4, "next"));
  const Decisions d = engine_.DecideOnline(&next);
  for (int i = 0; i < 4; ++i) EXPECT_GE(d.endpoint[i], 0) << i;
}

TEST_F(EngineTest, StaleAndUnhealthyEndpointsReceiveNothing) {
  EndpointSample cheap = Endpoint("aws", Cloud::kAws, "us", 0.001, 100000, 100);
  ASSERT_TRUE(engine_.ReportTelemetry(cheap).ok());
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("azure", Cloud::kAzure, "us", 0.002, 100000, 100)).ok());
  BatchJob a = Job(Requests(1, "a"));
  Decisions first = engine_.DecideOnline(&a);
  ASSERT_GE(first.endpoint[0], 0);
  EXPECT_EQ((*first.endpoint_ids)[first.endpoint[0]], "aws");
  now_ms_ += 31'000;  // ttl 30 s: both stale
  BatchJob b = Job(Requests(1, "b"));
  EXPECT_EQ(engine_.DecideOnline(&b).reason[0], Reason::kNoEligibleEndpoint);
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("azure", Cloud::kAzure, "us", 0.002, 100000, 100)).ok());
  BatchJob c = Job(Requests(4, "c"));
  std::vector<Decisions> out;
  ASSERT_TRUE(engine_.DecideBatch({&c}, &out).ok());
  for (std::int32_t p : out[0].endpoint) {
    ASSERT_GE(p, 0);
    EXPECT_EQ((*out[0].endpoint_ids)[p], "azure");
  }
  cheap.row.healthy = false;
  ASSERT_TRUE(engine_.ReportTelemetry(cheap).ok());
  BatchJob e = Job(Requests(1, "e"));
  Decisions d = engine_.DecideOnline(&e);
  ASSERT_GE(d.endpoint[0], 0);
  EXPECT_EQ((*d.endpoint_ids)[d.endpoint[0]], "azure");
}

TEST_F(EngineTest, PolicyChangesApplyToTheNextDecision) {
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("azure", Cloud::kAzure, "us", 0.002, 100000, 100)).ok());
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 100000, 100)).ok());
  BatchJob a = Job(Requests(3, "a"));
  std::vector<Decisions> out;
  ASSERT_TRUE(engine_.DecideBatch({&a}, &out).ok());
  for (std::int32_t p : out[0].endpoint) {
    ASSERT_GE(p, 0);
    EXPECT_EQ((*out[0].endpoint_ids)[p], "aws");
  }
  kernels::PolicyData strict = DefaultPolicy();  // STRICT: Azure first
  engine_.SetPolicy(strict);
  BatchJob b = Job(Requests(3, "b"));
  ASSERT_TRUE(engine_.DecideBatch({&b}, &out).ok());
  for (std::int32_t p : out[0].endpoint) {
    ASSERT_GE(p, 0);
    EXPECT_EQ((*out[0].endpoint_ids)[p], "azure");
  }
}

TEST_F(EngineTest, ExplainNamesTheRuleThatExcludedEachEndpoint) {
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("azure-eu", Cloud::kAzure, "eu", 0.001, 100000, 100)).ok());
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws-slow", Cloud::kAws, "us", 0.001, 100000, 100, 5000)).ok());
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("gcp", Cloud::kGcp, "us", 0.003, 100000, 100)).ok());
  EndpointSample sick = Endpoint("oci", Cloud::kOci, "us", 0.0005, 100000, 100);
  sick.row.healthy = false;
  ASSERT_TRUE(engine_.ReportTelemetry(sick).ok());
  RequestBatch b = Requests(2, "x");
  b.slo_ms = {1000, 1000};
  BatchJob job = Job(std::move(b));
  std::vector<Decisions> out;
  ASSERT_TRUE(engine_.DecideBatch({&job}, &out).ok());
  absl::StatusOr<Explained> e = engine_.Explain("x1");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->endpoint, "gcp");
  EXPECT_EQ(e->model, "gpt-5");
  EXPECT_EQ(e->zone, "us");
  ASSERT_EQ(e->explanation.candidates.size(), 4u);
  EXPECT_EQ(e->explanation.candidates[0].excluded_by, kernels::Rule::kZone);
  EXPECT_EQ(e->explanation.candidates[1].excluded_by, kernels::Rule::kSlo);
  EXPECT_EQ(e->explanation.candidates[2].excluded_by, kernels::Rule::kEligible);
  EXPECT_EQ(e->explanation.candidates[3].excluded_by, kernels::Rule::kHealth);
  EXPECT_NEAR(e->explanation.candidates[2].cost_usd, e->cost, 1e-12);
  EXPECT_EQ(engine_.Explain("nope").status().code(), absl::StatusCode::kNotFound);

  // An invalid request is explained by its reason alone.
  RequestBatch bad = Requests(2, "bad");
  bad.priority = {0, 9};
  BatchJob bad_job = Job(std::move(bad));
  engine_.DecideOnline(&bad_job);
  absl::StatusOr<Explained> invalid = engine_.Explain("bad1");
  ASSERT_TRUE(invalid.ok());
  EXPECT_EQ(invalid->reason, Reason::kInvalidRequest);
  EXPECT_TRUE(invalid->explanation.candidates.empty());
}

TEST_F(EngineTest, ExplainHistoryIsBounded) {
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 1 << 30, 1 << 20)).ok());
  for (int k = 0; k < 30; ++k) {
    BatchJob job = Job(Requests(100, "k" + std::to_string(k) + "-"));
    engine_.DecideOnline(&job);
  }
  // History keeps about 1000 decisions: the last ten calls.
  EXPECT_TRUE(engine_.Explain("k29-0").ok());
  EXPECT_TRUE(engine_.Explain("k20-99").ok());
  EXPECT_EQ(engine_.Explain("k10-0").status().code(), absl::StatusCode::kNotFound);
}

// A hostile client pads each message with strings no request uses: what the
// history keeps of a call does not grow with them, and the byte bound holds.
TEST_F(EngineTest, ExplainHistoryKeepsNoUnusedStringsAndHoldsItsByteBound) {
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 1 << 30, 1 << 20)).ok());
  for (int k = 0; k < 40; ++k) {
    RequestBatch b = Requests(2, "pad" + std::to_string(k) + "-");
    for (int j = 0; j < 20000; ++j) b.strings.push_back("padding-string-number-" + std::to_string(j));
    BatchJob job = Job(std::move(b));
    std::vector<Decisions> out;
    ASSERT_TRUE(engine_.DecideBatch({&job}, &out).ok());
  }
  // 40 calls x 2 requests: a few hundred bytes each, not 40 x 20000 strings.
  EXPECT_LT(engine_.history_bytes(), 40 * 2 * 1024);
  EXPECT_TRUE(engine_.Explain("pad39-1").ok());
  EXPECT_TRUE(engine_.Explain("pad0-0").ok());

  Engine small(EngineOptions{kernels::Backend::kCpu, 60, 1'000'000, 64 << 10}, [this] { return now_ms_.load(); });
  ASSERT_TRUE(small.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 1 << 30, 1 << 20)).ok());
  for (int k = 0; k < 50; ++k) {
    RequestBatch b = Requests(10, "long" + std::to_string(k) + "-");
    for (std::string& id : b.id) id += std::string(900, 'x');
    BatchJob job = Job(std::move(b));
    small.DecideOnline(&job);
  }
  EXPECT_LE(small.history_bytes(), 64 << 10);
  EXPECT_GT(small.history_bytes(), 32 << 10);
  EXPECT_TRUE(small.Explain("long49-9" + std::string(900, 'x')).ok());
  EXPECT_EQ(small.Explain("long0-0" + std::string(900, 'x')).status().code(), absl::StatusCode::kNotFound);
}

// Explain() finds an id through the index: the latest decision for it, and
// nothing for an id never seen, however long the history.
TEST_F(EngineTest, ExplainFindsTheLatestDecisionForAnId) {
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 1 << 30, 1 << 20)).ok());
  for (int k = 0; k < 5; ++k) {
    RequestBatch b = Requests(3, "same-");
    b.tokens_in = {100 + k, 100 + k, 100 + k};
    BatchJob job = Job(std::move(b));
    engine_.DecideOnline(&job);
  }
  absl::StatusOr<Explained> e = engine_.Explain("same-1");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->request.tokens_in, 104);
  EXPECT_EQ(engine_.Explain("never-seen").status().code(), absl::StatusCode::kNotFound);
}

// docs/design.md's strict invariant on the online path: a batch's prices make
// the (full) Azure endpoint dear; in the next window it has room again, and
// no single-request decision may go off Azure while it has.
TEST_F(EngineTest, StrictOnlineDecisionsStayOnAzureWhileItHasRoom) {
  kernels::PolicyData policy = DefaultPolicy();
  policy.azure_first = kernels::AzureFirst::kStrict;
  engine_.SetPolicy(policy);
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("azure", Cloud::kAzure, "us", 0.002, 1 << 30, 20), true).ok());
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 1 << 30, 1000), true).ok());
  BatchJob batch = Job(Requests(400, "b"));
  std::vector<Decisions> out;
  ASSERT_TRUE(engine_.DecideBatch({&batch}, &out).ok());
  ASSERT_GT(engine_.Endpoints()[0].request_price + engine_.Endpoints()[0].token_price, 0.0);
  now_ms_ += 60'000;  // a new window: azure has room for 20 again
  int on_azure = 0;
  for (int i = 0; i < 40; ++i) {
    BatchJob job = Job(Requests(1, "o" + std::to_string(i) + "-"));
    const std::int64_t azure_left = 20 - engine_.Endpoints()[0].requests_reserved;
    Decisions d = engine_.DecideOnline(&job);
    ASSERT_GE(d.endpoint[0], 0) << i;
    const bool azure = (*d.endpoint_ids)[d.endpoint[0]] == "azure";
    EXPECT_TRUE(azure || azure_left == 0) << "request " << i << " went off Azure with room for " << azure_left;
    on_azure += azure;
  }
  EXPECT_EQ(on_azure, 20);
}

// Single-request calls share history records (blocks); each still explains
// as itself, strings included, and the bound holds to within a block.
TEST_F(EngineTest, SingleRequestDecisionsAreExplainedFromSharedBlocks) {
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws-us", Cloud::kAws, "us", 0.001, 1 << 30, 1 << 20)).ok());
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("gcp-eu", Cloud::kGcp, "eu", 0.001, 1 << 30, 1 << 20)).ok());
  for (int k = 0; k < 1500; ++k) {
    RequestBatch b;
    b.strings = {"tenant-" + std::to_string(k % 7), k % 2 ? "eu" : "us", "gpt-5"};
    b.id = {"s" + std::to_string(k)};
    b.tenant = {0};
    b.model = {2};
    b.zone = {1};
    b.tokens_in = {100 + k};
    b.tokens_out = {10};
    BatchJob job = Job(std::move(b));
    ASSERT_EQ(engine_.DecideOnline(&job).reason[0], Reason::kOk);
  }
  for (int k : {600, 601, 1000, 1498, 1499}) {
    absl::StatusOr<Explained> e = engine_.Explain("s" + std::to_string(k));
    ASSERT_TRUE(e.ok()) << k << ": " << e.status();
    EXPECT_EQ(e->zone, k % 2 ? "eu" : "us");
    EXPECT_EQ(e->model, "gpt-5");
    EXPECT_EQ(e->endpoint, k % 2 ? "gcp-eu" : "aws-us");
    EXPECT_EQ(e->request.tokens_in, 100 + k);
  }
  // 1000 decisions kept, dropped a block (62 here) at a time.
  EXPECT_EQ(engine_.Explain("s400").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(EngineTest, BatcherCoalescesAndBoundsItsQueue) {
  ASSERT_TRUE(engine_.ReportTelemetry(Endpoint("aws", Cloud::kAws, "us", 0.001, 1 << 30, 1 << 20)).ok());
  std::atomic<int> batches{0};
  BatcherOptions options;
  options.max_batch_requests = 1000;
  options.max_delay = std::chrono::hours(1);  // nothing is taken before Drain(): no timing in this test
  options.max_queue_requests = 250;
  Batcher batcher(&engine_, options, [&](std::int64_t, double) { ++batches; });
  std::vector<std::promise<absl::StatusOr<Decisions>>> results(3);
  for (int k = 0; k < 2; ++k) {
    ASSERT_TRUE(batcher
                    .Submit(Job(Requests(100, "q" + std::to_string(k) + "-")),
                            [&, k](absl::StatusOr<Decisions> d) { results[k].set_value(std::move(d)); })
                    .ok());
  }
  // 200 queued of 250: another 100 do not fit.
  absl::Status full = batcher.Submit(Job(Requests(100, "q2-")), [](absl::StatusOr<Decisions>) {});
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_EQ(batcher.queued_requests(), 200);
  batcher.Drain();  // decides what is queued, in one solve
  for (int k = 0; k < 2; ++k) {
    absl::StatusOr<Decisions> d = results[k].get_future().get();
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->endpoint.size(), 100u);
    for (Reason r : d->reason) EXPECT_EQ(r, Reason::kOk);
  }
  EXPECT_EQ(batches.load(), 1);  // both calls in one solve
  EXPECT_EQ(batcher.Submit(Job(Requests(1)), [](absl::StatusOr<Decisions>) {}).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace azimuth::scheduler
