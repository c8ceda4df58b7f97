// Copyright 2026 Azimuth authors.
//
// problem.h — the solver's input: one batch of requests, the endpoint table and
// the policy, as non-owning struct-of-arrays views (docs/design.md, "Domain").
//
// Strings (models, zones, tenants) are interned by the caller into small
// integer ids; the solver only compares ids. Example:
//
//   azimuth::kernels::ProblemView problem;
//   problem.endpoints.model = {endpoint_models.data(), endpoint_models.size()};
//   ...
//   auto result = azimuth::kernels::Solve(problem);
//
// This header is host-only and depends on nothing but the standard library, so
// `kernels/` builds on a machine that has only CMake and the CUDA toolkit.
#ifndef AZIMUTH_KERNELS_PROBLEM_H_
#define AZIMUTH_KERNELS_PROBLEM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace azimuth::kernels {

// Span<T>
//
// A minimal read-only view of a contiguous array (C++17 has no std::span).
template <typename T>
struct Span {
  const T* data = nullptr;
  std::size_t size = 0;

  Span() = default;
  Span(const T* d, std::size_t n) : data(d), size(n) {}
  Span(const std::vector<T>& v) : data(v.data()), size(v.size()) {}  // NOLINT
  const T& operator[](std::size_t i) const { return data[i]; }
  bool empty() const { return size == 0; }
};

// Cloud
//
// The provider of an endpoint, or the cloud a request's data lives in. The
// numeric values index `PolicyView::egress_usd_per_1k`.
enum class Cloud : std::uint8_t { kAzure = 0, kAws = 1, kGcp = 2, kOci = 3, kOther = 4 };
inline constexpr int kNumClouds = 5;
inline constexpr int kNumPriorities = 4;

// CloudName() / ParseCloud()
//
// The lower-case names used in CSV files (`azure`, `aws`, `gcp`, `oci`,
// `other`). ParseCloud() returns false for any other text.
const char* CloudName(Cloud cloud);
bool ParseCloud(const std::string& text, Cloud* cloud);

// AzureFirst
//
// The objective (docs/design.md, "Cost, capacity and rejection"): `kStrict` is
// lexicographic (rejections, then Azure tokens, then cost); `kWeighted`
// discounts Azure costs by `azure_discount`; `kOff` minimises cost.
enum class AzureFirst : std::uint8_t { kStrict = 0, kWeighted = 1, kOff = 2 };
const char* AzureFirstName(AzureFirst mode);

// Rule
//
// The first eligibility rule of docs/design.md an endpoint fails for a
// request (the numbers are the API's, not the rules' order).
enum class Rule : std::uint8_t {
  kEligible = 0,
  kModel = 1,       // rule 1
  kHealth = 2,      // rule 2: unhealthy or stale telemetry
  kZone = 3,        // rule 3
  kSlo = 4,         // rule 4
  kLaunchGate = 5,  // rule 7: an Azure endpoint is eligible during the launch window
  kCapability = 6,  // rule 5: lacks a required feature
  kContext = 7,     // rule 6: context window below the request's tokens
};
const char* RuleName(Rule rule);

// Reason
//
// One per request in a solution. `kAzureWaiver` is an assignment off Azure
// under the launch-gate waiver; the last three are rejections.
enum class Reason : std::uint8_t {
  kOk = 0,
  kAzureWaiver = 1,
  kNoEligibleEndpoint = 2,
  kCapacityExhausted = 3,
  kInvalidRequest = 4,
  kTenantLimit = 5,  // its tenant's limit for the window would be exceeded
};
inline constexpr int kNumReasons = 6;
const char* ReasonName(Reason reason);

// TenantLimit
//
// One tenant's limits for a batch (docs/design.md, "Tenant limits"): tokens
// (in + out), requests and USD of assignment cost; 0 means unlimited.
struct TenantLimit {
  std::int64_t tokens = 0;
  std::int64_t requests = 0;
  double budget_usd = 0;
  bool unlimited() const { return tokens == 0 && requests == 0 && budget_usd == 0; }
};

// TenantLimitKind: which of a tenant's limits refused a request.
enum class TenantLimitKind : std::uint8_t { kNone = 0, kTokens = 1, kRequests = 2, kBudget = 3 };
const char* TenantLimitName(TenantLimitKind kind);

// EndpointsView
//
// M endpoints, one entry per endpoint in every column. `available` folds
// health and telemetry freshness (rule 2): the control plane decides it, and
// offline every healthy endpoint is available.
struct EndpointsView {
  Span<Cloud> cloud;
  Span<std::int32_t> zone;   // interned residency zone
  Span<std::int32_t> model;  // interned model name
  Span<double> price_in_per_1k;
  Span<double> price_out_per_1k;
  Span<double> latency_p50_ms;
  Span<double> latency_p95_ms;
  Span<std::int64_t> tpm_limit;
  Span<std::int64_t> rpm_limit;
  Span<std::uint8_t> available;
  // Capabilities (rules 5 and 6), both optional: empty means every endpoint
  // has unlimited context and no features. `features[p]` has bit k set when
  // p supports the caller's feature k (names interned per endpoint table,
  // at most 64 of them); `max_context_tokens[p]` is 0 for unlimited.
  Span<std::uint64_t> features;
  Span<std::int64_t> max_context_tokens;
};

// Needs
//
// One distinct set of required features: the bits of the endpoint table's
// features, and whether it also names a feature no endpoint has (then no
// endpoint can serve it).
struct Needs {
  std::uint64_t features = 0;
  bool unknown = false;
};

// RequestsView
//
// N requests. `zone` is -1 for "any zone"; `slo_ms` is 0 for "no SLO";
// `priority` is 0 (lowest) to 3 (highest).
struct RequestsView {
  Span<std::int32_t> model;
  Span<std::int32_t> zone;
  Span<std::int32_t> tokens_in;
  Span<std::int32_t> tokens_out;
  Span<std::int32_t> slo_ms;
  Span<Cloud> home_cloud;
  Span<std::uint8_t> priority;
  // Required features (rule 5), optional: `needs[i]` indexes `need_sets`
  // (the batch's distinct sets, at most kMaxNeedSets); empty means no
  // request requires anything.
  Span<std::int32_t> needs;
  Span<Needs> need_sets;
  // Interned tenant of each request, optional: empty means no tenant limits
  // apply (PolicyView::tenant_limits is indexed by these ids).
  Span<std::int32_t> tenant;
};

// PolicyView
//
// The policy, already resolved against `now`: `launch_gated[m]` is true when
// `now < azure_first_until[m]` for interned model id m (models beyond its size
// are not gated).
struct PolicyView {
  AzureFirst azure_first = AzureFirst::kStrict;
  double azure_discount = 0.0;
  std::int64_t window_s = 60;
  Span<std::uint8_t> launch_gated;
  double latency_usd_per_ms = 0.0;
  double egress_usd_per_1k[kNumClouds][kNumClouds] = {};  // [from][to]
  double reject_usd[kNumPriorities] = {0, 0, 0, 0};
  // Limits by tenant id (RequestsView::tenant); ids beyond it are unlimited.
  Span<TenantLimit> tenant_limits;
  // Fair share under scarcity (docs/design.md, "Fair share"): requests of
  // one priority refused for capacity may take the place of another
  // tenant's that is served above its weighted share. Weights by tenant id,
  // each in (0, kMaxTenantWeight]; ids beyond them weigh 1.
  bool fair_share = false;
  Span<double> tenant_weights;
};

// ProblemView
//
// One batch. The solver validates sizes and values and reports the first
// problem it finds; it never reads past a span.
struct ProblemView {
  EndpointsView endpoints;
  RequestsView requests;
  PolicyView policy;
};

// Limits the solver accepts, checked by Validate().
inline constexpr std::size_t kMaxEndpoints = 2000;
inline constexpr std::int32_t kMaxModels = 4000;
inline constexpr std::int32_t kMaxZones = 1000;
inline constexpr int kMaxFeatures = 64;                // distinct feature names per endpoint table
inline constexpr std::int32_t kMaxNeedSets = 256;      // distinct requirement sets per batch
inline constexpr std::int32_t kMaxContextLimits = 63;  // distinct non-zero max_context_tokens
inline constexpr std::int64_t kMaxContextTokens = 1'000'000'000'000;
inline constexpr double kMaxTenantWeight = 1e6;
inline constexpr double kMaxBudgetUsd = 1e15;  // TenantLimit::budget_usd
// Value ranges: with them every cost, price and sum the solver computes stays
// finite, far inside double's range even in strict mode's tiers and summed
// over the largest batch, and every capacity fits in int64 (kMaxLimit x
// 86400 / 60 < 2^63).
inline constexpr double kMaxPricePer1k = 1e6;                     // USD per 1000 tokens, also egress
inline constexpr double kMaxLatencyMs = 1e7;                      // latency_p50_ms, latency_p95_ms
inline constexpr double kMaxLatencyUsdPerMs = 1e3;                // policy.latency_usd_per_ms
inline constexpr double kMaxRejectUsd = 1e9;                      // policy.reject_usd[k]
inline constexpr double kMinRejectUsd = 1e-12;                    // a reject_usd that is not 0 is at least this
inline constexpr std::int64_t kMaxLimit = 1'000'000'000'000'000;  // tpm_limit, rpm_limit (1e15 per minute)

// TokenCapacity() / RequestCapacity()
//
// The exact integer capacities of one endpoint for a batch:
// floor(limit * window_s / 60), computed without overflow.
std::int64_t TokenCapacity(std::int64_t tpm_limit, std::int64_t window_s);
std::int64_t RequestCapacity(std::int64_t rpm_limit, std::int64_t window_s);

}  // namespace azimuth::kernels

#endif  // AZIMUTH_KERNELS_PROBLEM_H_
