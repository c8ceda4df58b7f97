// Copyright 2026 Azimuth authors.
//
// generator.h — seeded synthetic batches for tests, benchmarks and the demo:
// Azure, AWS and Google Cloud endpoints in three residency zones, and
// requests with skewed token counts, SLOs, zones, home clouds and
// priorities. Up to 96 endpoints: three models in ten regions, one
// deployment kind. Wider
// footprints are what enterprises deploy: one more model per 64 endpoints
// (up to 16), thirty regions, and, where a model wraps around its regions,
// more deployments per region of other kinds (provisioned, batch,
// data-zone) with their own prices, latencies and quotas. The same spec and seed give the same batch on every machine
// (own splitmix64 stream, no <random> distributions).
//
//   WorkloadSpec spec;
//   spec.requests = 100000;
//   spec.endpoints = 64;
//   kernels::ProblemData data = GenerateWorkload(spec);
#ifndef AZIMUTH_BENCH_WORKLOAD_GENERATOR_H_
#define AZIMUTH_BENCH_WORKLOAD_GENERATOR_H_

#include <cstdint>
#include <vector>

#include "azimuth/kernels/problem_data.h"
#include "azimuth/kernels/solver.h"

namespace azimuth::bench {

// WorkloadSpec
struct WorkloadSpec {
  std::int64_t requests = 10000;
  int endpoints = 64;
  std::uint64_t seed = 1;
  // Total demand over total capacity, per model. Above ~0.8 capacity binds
  // on the popular zones; above 1 requests must be rejected.
  double load = 0.9;
  kernels::AzureFirst mode = kernels::AzureFirst::kStrict;
  double azure_discount = 0.2;  // used in weighted mode
  // Token capacity never binds: only request counts do (a true network flow,
  // so the integer optimum is exact with a min-cost-flow reference).
  bool counts_only = false;
  // Fraction of endpoints reported unhealthy.
  double unhealthy = 0.03;
  // Capabilities (docs/design.md rules 5 and 6): endpoints get context
  // limits and features by model, cloud and deployment kind (provisioned
  // deployments "ptu", batch ones "batch"; vision on the multimodal models,
  // missing in some regions: gpt-6's Azure deployments in Europe lack it),
  // and requests need tools, vision, json_schema, batch or ptu, and some
  // carry long contexts. Drawn from a stream of their own: the rest of the
  // batch is the same as without.
  bool capabilities = false;
  // With capabilities: the share of requests with 32k-232k input tokens.
  // Such a request fits an endpoint's window only at production quotas
  // (demand-sized capacities give a few dozen requests per endpoint a few
  // ten thousand tokens each): LP-sized tests set 0.
  double long_contexts = 0.01;
  // Tenants the requests are spread over, uniformly.
  int tenants = 16;
  // Above 0, every tenant has limits for the window: tokens and requests
  // at this fraction of an even share of the batch's demand, times 0.5-1.5
  // by tenant (so some bind and some do not), and every other tenant a
  // USD budget on the same terms (at an estimate of USD per token).
  double tenant_limits = 0;
};

// GenerateWorkload()
//
// Builds the batch. The policy is docs/design.md's example policy (gpt-6 is inside
// its Azure-first launch window) with `mode`. Endpoints are added before the
// requests only with capabilities (requests name features against them);
// interned ids are the same either way.
kernels::ProblemData GenerateWorkload(const WorkloadSpec& spec);

// WithRequestsOf()
//
// `data`'s endpoints and policy with the requests of `other` (those in
// [begin, end), clamped to its requests), their strings mapped by name
// (interning order differs between draws): the next batch of a stream over
// the same footprint, for warm starts.
kernels::ProblemData WithRequestsOf(const kernels::ProblemData& data, const kernels::ProblemData& other,
                                    std::size_t begin = 0, std::size_t end = SIZE_MAX);

// TakeCapacity()
//
// What `solution` assigned of `batch`'s requests, taken off per-endpoint
// token and request capacities (in place): the room a quota window's next
// batch sees.
void TakeCapacity(const kernels::ProblemData& batch, const kernels::Solution& solution,
                  std::vector<std::int64_t>* tokens, std::vector<std::int64_t>* requests);

// Rng
//
// splitmix64: tiny, fast and identical everywhere.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next();
  double Uniform();  // [0, 1)
  double Normal();   // standard normal
  int Below(int n) { return static_cast<int>(Uniform() * n); }

 private:
  std::uint64_t state_;
};

}  // namespace azimuth::bench

#endif  // AZIMUTH_BENCH_WORKLOAD_GENERATOR_H_
