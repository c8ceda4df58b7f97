// Copyright 2026 Azimuth authors.
#include "generator.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace azimuth::bench {

using kernels::Cloud;

std::uint64_t Rng::Next() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

double Rng::Normal() {
  const double u = std::max(Uniform(), 1e-300), v = Uniform();
  return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
}

namespace {

struct ModelSpec {
  const char* name;
  double price_in, price_out;  // USD per 1k tokens on Azure
  double share;                // of requests
};
constexpr ModelSpec kModels[] = {
    {"gpt-5", 0.00125, 0.010, 0.5},
    {"gpt-5-mini", 0.00025, 0.002, 0.3},
    {"gpt-6", 0.00400, 0.030, 0.2},
};
constexpr int kNumModels = 3;

struct RegionSpec {
  Cloud cloud;
  const char* region;
  const char* zone;
};
constexpr RegionSpec kRegions[] = {
    {Cloud::kAzure, "eastus", "us"},         {Cloud::kAzure, "westeurope", "eu"},
    {Cloud::kAzure, "swedencentral", "eu"},  {Cloud::kAzure, "eastus2", "us"},
    {Cloud::kAws, "us-east-1", "us"},        {Cloud::kAws, "eu-central-1", "eu"},
    {Cloud::kAws, "ap-northeast-1", "apac"}, {Cloud::kGcp, "us-central1", "us"},
    {Cloud::kGcp, "europe-west4", "eu"},     {Cloud::kGcp, "asia-southeast1", "apac"},
};
constexpr int kNumRegions = 10;

double CloudPriceFactor(Cloud c) {
  switch (c) {
    case Cloud::kAzure:
      return 1.0;
    case Cloud::kAws:
      return 0.93;
    case Cloud::kGcp:
      return 0.96;
    default:
      return 1.1;
  }
}

}  // namespace

kernels::ProblemData GenerateWorkload(const WorkloadSpec& spec) {
  Rng rng(spec.seed * 0x2545F4914F6CDD1Dull + 17);
  kernels::ProblemData data;
  kernels::PolicyData& pol = data.policy;
  pol.now = 1780000000;
  pol.window_s = 60;
  pol.azure_first = spec.mode;
  pol.azure_discount = spec.mode == kernels::AzureFirst::kWeighted ? spec.azure_discount : 0.0;
  pol.azure_first_until["gpt-6"] = 1782592000;
  pol.latency_usd_per_ms = 0.000001;
  const auto az = static_cast<int>(Cloud::kAzure), aws = static_cast<int>(Cloud::kAws),
             gcp = static_cast<int>(Cloud::kGcp);
  pol.egress_usd_per_1k[aws][az] = pol.egress_usd_per_1k[az][aws] = 0.0009;
  pol.egress_usd_per_1k[gcp][az] = pol.egress_usd_per_1k[az][gcp] = 0.0011;
  pol.egress_usd_per_1k[gcp][aws] = pol.egress_usd_per_1k[aws][gcp] = 0.0010;
  const double reject[4] = {0.05, 0.1, 0.5, 2.0};
  std::copy(reject, reject + 4, pol.reject_usd);
  pol.telemetry_ttl_s = 30;

  // Requests first: capacities are sized from the demand they generate.
  const char* zones[] = {"", "us", "eu", "apac"};
  const double zone_cdf[] = {0.55, 0.80, 0.95, 1.0};
  const std::int32_t slos[] = {0, 0, 1500, 3000};
  double demand_tokens[kNumModels] = {}, demand_requests[kNumModels] = {};
  data.ReserveRequests(static_cast<std::size_t>(spec.requests));
  for (std::int64_t i = 0; i < spec.requests; ++i) {
    kernels::RequestRow row;
    row.id = "r" + std::to_string(i);
    row.tenant = "tenant-" + std::to_string(rng.Below(16));
    const double u = rng.Uniform();
    int model = 0;
    for (double acc = 0; model < kNumModels - 1; ++model) {
      acc += kModels[model].share;
      if (u < acc) break;
    }
    row.model = kModels[model].name;
    const double z = rng.Uniform();
    int zone = 0;
    while (z >= zone_cdf[zone]) ++zone;
    row.zone = zones[zone];
    row.tokens_in = static_cast<std::int32_t>(std::clamp(std::exp(7.2 + 1.0 * rng.Normal()), 16.0, 32000.0));
    row.tokens_out = static_cast<std::int32_t>(std::clamp(std::exp(5.5 + 0.8 * rng.Normal()), 1.0, 8000.0));
    row.slo_ms = slos[rng.Below(4)];
    const double h = rng.Uniform();
    row.home_cloud = h < 0.5 ? Cloud::kAzure : (h < 0.8 ? Cloud::kAws : Cloud::kGcp);
    const double p = rng.Uniform();
    row.priority = p < 0.4 ? 0 : (p < 0.7 ? 1 : (p < 0.9 ? 2 : 3));
    demand_tokens[model] += row.tokens_in + row.tokens_out;
    demand_requests[model] += 1;
    data.AddRequest(row);
  }

  // Endpoints: models round-robin over regions, then jittered prices,
  // latencies and capacities.
  std::vector<kernels::EndpointRow> rows;
  int per_model[kNumModels] = {};
  for (int e = 0; e < spec.endpoints; ++e) {
    const int model = e % kNumModels;
    const RegionSpec& region = kRegions[(e / kNumModels + model * 3) % kNumRegions];
    const ModelSpec& ms = kModels[model];
    kernels::EndpointRow row;
    row.cloud = region.cloud;
    row.region = region.region;
    row.zone = region.zone;
    row.model = ms.name;
    row.id =
        std::string(kernels::CloudName(region.cloud)) + "-" + region.region + "-" + ms.name + "-" + std::to_string(e);
    const double f = CloudPriceFactor(region.cloud) * (0.9 + 0.2 * rng.Uniform());
    row.price_in_per_1k = ms.price_in * f;
    row.price_out_per_1k = ms.price_out * f;
    row.latency_p50_ms = std::round(250 + 600 * rng.Uniform());
    row.latency_p95_ms = std::round(row.latency_p50_ms * (1.6 + 1.8 * rng.Uniform()));
    row.healthy = rng.Uniform() >= spec.unhealthy;
    ++per_model[model];
    rows.push_back(row);
  }
  for (kernels::EndpointRow& row : rows) {
    int model = 0;
    while (row.model != kModels[model].name) ++model;
    const double share_t = demand_tokens[model] / per_model[model] / spec.load;
    const double share_r = demand_requests[model] / per_model[model] / spec.load;
    const double jitter = 0.5 + rng.Uniform();
    // window_s is 60, so per-minute limits equal the batch capacity.
    row.tpm_limit = spec.counts_only ? std::int64_t{1} << 40 : static_cast<std::int64_t>(std::ceil(share_t * jitter));
    row.rpm_limit = static_cast<std::int64_t>(std::ceil(share_r * (spec.counts_only ? jitter : 1.25 * jitter)));
    data.AddEndpoint(row);
  }
  return data;
}

}  // namespace azimuth::bench
