// Copyright 2026 Azimuth authors.
#include "generator.h"

#include <algorithm>
#include <cmath>
#include <iterator>
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
// The first three are the small footprint's; wider footprints add models
// (request shares are renormalised over the models in use).
constexpr ModelSpec kModels[] = {
    {"gpt-5", 0.00125, 0.010, 0.5},
    {"gpt-5-mini", 0.00025, 0.002, 0.3},
    {"gpt-6", 0.00400, 0.030, 0.2},
    {"gpt-5-nano", 0.00005, 0.0004, 0.2},
    {"gpt-4.1", 0.00200, 0.008, 0.15},
    {"gpt-4.1-mini", 0.0004, 0.0016, 0.15},
    {"o4-mini", 0.00110, 0.0044, 0.1},
    {"o3", 0.00200, 0.008, 0.08},
    {"gpt-4o", 0.00250, 0.010, 0.08},
    {"gpt-4o-mini", 0.00015, 0.0006, 0.08},
    {"llama-4-maverick", 0.00025, 0.001, 0.06},
    {"mistral-large", 0.00200, 0.006, 0.05},
    {"deepseek-r1", 0.00135, 0.0054, 0.05},
    {"phi-4", 0.000125, 0.0005, 0.04},
    {"codex-mini", 0.0015, 0.006, 0.04},
    {"embed-3-large", 0.00013, 0.00013, 0.04},
};
constexpr int kMaxModelsUsed = static_cast<int>(std::size(kModels));

struct RegionSpec {
  Cloud cloud;
  const char* region;
  const char* zone;
};
// The first ten are the small footprint's regions.
constexpr RegionSpec kRegions[] = {
    {Cloud::kAzure, "eastus", "us"},
    {Cloud::kAzure, "westeurope", "eu"},
    {Cloud::kAzure, "swedencentral", "eu"},
    {Cloud::kAzure, "eastus2", "us"},
    {Cloud::kAws, "us-east-1", "us"},
    {Cloud::kAws, "eu-central-1", "eu"},
    {Cloud::kAws, "ap-northeast-1", "apac"},
    {Cloud::kGcp, "us-central1", "us"},
    {Cloud::kGcp, "europe-west4", "eu"},
    {Cloud::kGcp, "asia-southeast1", "apac"},
    {Cloud::kAzure, "westus3", "us"},
    {Cloud::kAzure, "northcentralus", "us"},
    {Cloud::kAzure, "southcentralus", "us"},
    {Cloud::kAzure, "francecentral", "eu"},
    {Cloud::kAzure, "germanywestcentral", "eu"},
    {Cloud::kAzure, "japaneast", "apac"},
    {Cloud::kAzure, "australiaeast", "apac"},
    {Cloud::kAzure, "koreacentral", "apac"},
    {Cloud::kAzure, "uksouth", "eu"},
    {Cloud::kAzure, "canadaeast", "us"},
    {Cloud::kAws, "us-west-2", "us"},
    {Cloud::kAws, "us-east-2", "us"},
    {Cloud::kAws, "eu-west-1", "eu"},
    {Cloud::kAws, "eu-west-3", "eu"},
    {Cloud::kAws, "ap-southeast-2", "apac"},
    {Cloud::kGcp, "us-east4", "us"},
    {Cloud::kGcp, "us-west1", "us"},
    {Cloud::kGcp, "europe-west1", "eu"},
    {Cloud::kGcp, "europe-west9", "eu"},
    {Cloud::kGcp, "asia-northeast1", "apac"},
};
constexpr int kSmallRegions = 10;
constexpr int kAllRegions = 30;

// Deployment kinds, one more per region each time a model's endpoints wrap
// around its regions: standard, provisioned (PTU: cheaper per token, faster,
// smaller quota), data-zone batch (cheaper, slower, larger quota).
struct DeploymentKind {
  const char* suffix;
  double price, latency, capacity;
};
constexpr DeploymentKind kKinds[] = {
    {"", 1.0, 1.0, 1.0}, {"-ptu", 0.8, 0.7, 0.5}, {"-batch", 0.6, 2.0, 1.5}, {"-dz", 0.95, 1.1, 1.0}};
constexpr int kNumKinds = 4;

// Models in use for a footprint of `endpoints`: three up to 96 endpoints
// (the small footprint), then one more per 64, up to 16.
int ModelsFor(int endpoints) { return endpoints <= 96 ? 3 : std::min(kMaxModelsUsed, 3 + (endpoints - 64) / 64); }

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ";") + name;
  return out;
}

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find(';', start), text.size());
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

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

// Capabilities of one endpoint, from the capability stream.
constexpr std::int64_t kContexts[] = {128000, 200000, 272000, 400000, 1000000};
bool Multimodal(const char* model) {
  const std::string m = model;
  return m == "gpt-5" || m == "gpt-6" || m == "gpt-4.1" || m == "gpt-4o" || m == "gpt-4o-mini" || m == "o3" ||
         m == "llama-4-maverick";
}
void AddCapabilities(Rng& rng, const DeploymentKind& kind, const RegionSpec& region, kernels::EndpointRow* row) {
  const std::string model = row->model;
  row->max_context_tokens = kContexts[model == "gpt-6" ? 3 + rng.Below(2) : rng.Below(4)];
  if (model != "embed-3-large") {
    if (rng.Uniform() < 0.95) row->features.push_back("tools");
    if (rng.Uniform() < 0.85) row->features.push_back("json_schema");
  }
  // gpt-6's Azure deployments in Europe have no vision yet.
  const bool eu_azure_gpt6 = model == "gpt-6" && region.cloud == Cloud::kAzure && std::string(region.zone) == "eu";
  if (Multimodal(row->model.c_str()) && !eu_azure_gpt6 && rng.Uniform() < 0.9) row->features.push_back("vision");
  if (std::string(kind.suffix) == "-ptu") row->features.push_back("ptu");
  if (std::string(kind.suffix) == "-batch") row->features.push_back("batch");
}
void DrawRequirements(Rng& rng, double long_contexts, kernels::RequestRow* row, std::vector<std::string>* needs) {
  needs->clear();
  if (rng.Uniform() < 0.30) needs->push_back("tools");
  if (rng.Uniform() < 0.10) needs->push_back("json_schema");
  if (rng.Uniform() < 0.12) needs->push_back("vision");
  const double k = rng.Uniform();
  if (k < 0.03) needs->push_back("ptu");
  if (k > 0.98) needs->push_back("batch");
  // Long agent contexts, 32k to 232k tokens in: some exceed the smaller
  // context windows (128k, 200k).
  if (rng.Uniform() < long_contexts) row->tokens_in = static_cast<std::int32_t>(32000 + 200000 * rng.Uniform());
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
  const int num_models = ModelsFor(spec.endpoints);
  const bool wide = spec.endpoints > 96;
  const int num_regions = wide ? kAllRegions : kSmallRegions;
  double share_total = 0;
  for (int k = 0; k < num_models; ++k) share_total += kModels[k].share;
  double demand_tokens[kMaxModelsUsed] = {}, demand_requests[kMaxModelsUsed] = {};
  data.ReserveRequests(static_cast<std::size_t>(spec.requests));
  Rng caps(spec.seed * 0x9E3779B97F4A7C15ull + 101);  // the capability stream
  std::vector<kernels::RequestRow> later;             // with capabilities: added after the endpoints
  std::vector<std::vector<std::string>> later_needs;
  if (spec.capabilities) {
    later.reserve(static_cast<std::size_t>(spec.requests));
    later_needs.reserve(static_cast<std::size_t>(spec.requests));
  }
  for (std::int64_t i = 0; i < spec.requests; ++i) {
    kernels::RequestRow row;
    row.id = "r" + std::to_string(i);
    row.tenant = "tenant-" + std::to_string(rng.Below(std::max(1, spec.tenants)));
    const double u = rng.Uniform() * share_total;
    int model = 0;
    for (double acc = 0; model < num_models - 1; ++model) {
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
    if (spec.capabilities) {
      later_needs.emplace_back();
      DrawRequirements(caps, spec.long_contexts, &row, &later_needs.back());
    }
    demand_tokens[model] += row.tokens_in + row.tokens_out;
    demand_requests[model] += 1;
    if (spec.capabilities) {
      // Interned now, in the order AddRequest() would.
      data.tenants.Intern(row.tenant);
      data.models.Intern(row.model);
      if (!row.zone.empty()) data.zones.Intern(row.zone);
      later.push_back(std::move(row));
    } else {
      data.AddRequest(row);
    }
  }

  // Endpoints: models round-robin over regions (each model from its own
  // first region), one more deployment kind per region each time a model
  // wraps around them, then jittered prices, latencies and capacities.
  std::vector<kernels::EndpointRow> rows;
  std::vector<double> capacity_factor;
  int per_model[kMaxModelsUsed] = {};
  for (int e = 0; e < spec.endpoints; ++e) {
    const int model = e % num_models;
    const int slot = e / num_models;
    const RegionSpec& region = kRegions[(slot + model * 3) % num_regions];
    // The small footprint keeps its one kind (its batches are unchanged).
    const DeploymentKind& kind = kKinds[wide ? (slot / num_regions) % kNumKinds : 0];
    const ModelSpec& ms = kModels[model];
    kernels::EndpointRow row;
    row.cloud = region.cloud;
    row.region = region.region;
    row.zone = region.zone;
    row.model = ms.name;
    row.id = std::string(kernels::CloudName(region.cloud)) + "-" + region.region + "-" + ms.name + kind.suffix + "-" +
             std::to_string(e);
    const double f = CloudPriceFactor(region.cloud) * (0.9 + 0.2 * rng.Uniform()) * kind.price;
    row.price_in_per_1k = ms.price_in * f;
    row.price_out_per_1k = ms.price_out * f;
    row.latency_p50_ms = std::round((250 + 600 * rng.Uniform()) * kind.latency);
    row.latency_p95_ms = std::round(row.latency_p50_ms * (1.6 + 1.8 * rng.Uniform()));
    row.healthy = rng.Uniform() >= spec.unhealthy;
    if (spec.capabilities) AddCapabilities(caps, kind, region, &row);
    ++per_model[model];
    rows.push_back(row);
    capacity_factor.push_back(kind.capacity);
  }
  // A model's capacity is its demand over `load`, whatever its kinds' mix.
  double factor_sum[kMaxModelsUsed] = {};
  for (std::size_t e = 0; e < rows.size(); ++e) factor_sum[e % num_models] += capacity_factor[e];
  for (std::size_t e = 0; e < rows.size(); ++e) {
    kernels::EndpointRow& row = rows[e];
    const int model = static_cast<int>(e) % num_models;
    const double share_t = demand_tokens[model] / per_model[model] / spec.load;
    const double share_r = demand_requests[model] / per_model[model] / spec.load;
    const double jitter = (0.5 + rng.Uniform()) * capacity_factor[e] * per_model[model] / factor_sum[model];
    // window_s is 60, so per-minute limits equal the batch capacity.
    row.tpm_limit = spec.counts_only ? std::int64_t{1} << 40 : static_cast<std::int64_t>(std::ceil(share_t * jitter));
    row.rpm_limit = static_cast<std::int64_t>(std::ceil(share_r * (spec.counts_only ? jitter : 1.25 * jitter)));
    data.AddEndpoint(row);
  }
  if (spec.tenant_limits > 0) {
    double tokens = 0, usd = 0;
    for (int k = 0; k < num_models; ++k) {
      tokens += demand_tokens[k];
      usd += demand_tokens[k] * (kModels[k].price_in + kModels[k].price_out) / 2000.0;
    }
    const int t = std::max(1, spec.tenants);
    for (int k = 0; k < t; ++k) {
      const double f = spec.tenant_limits * (0.5 + static_cast<double>(k) / t);
      kernels::TenantLimit l;
      l.tokens = static_cast<std::int64_t>(std::ceil(f * tokens / t));
      l.requests = static_cast<std::int64_t>(std::ceil(f * static_cast<double>(spec.requests) / t));
      if (k % 2 == 1) l.budget_usd = f * usd / t;
      pol.tenant_limits["tenant-" + std::to_string(k)] = l;
    }
  }
  for (std::size_t i = 0; i < later.size(); ++i) {
    later[i].needs = data.InternNeeds(data.NeedsOf(later_needs[i]), Join(later_needs[i]));
    data.AddRequest(later[i]);
  }
  return data;
}

kernels::ProblemData WithRequestsOf(const kernels::ProblemData& data, const kernels::ProblemData& other,
                                    std::size_t begin, std::size_t end) {
  end = std::min(end, other.num_requests());
  begin = std::min(begin, end);
  kernels::ProblemData out = data;
  out.request_id.clear();
  out.rq_tenant.clear();
  out.rq_model.clear();
  out.rq_zone.clear();
  out.rq_tokens_in.clear();
  out.rq_tokens_out.clear();
  out.rq_slo.clear();
  out.rq_home.clear();
  out.rq_priority.clear();
  out.rq_needs.clear();
  out.ReserveRequests(end - begin);
  for (std::size_t i = begin; i < end; ++i) {
    kernels::RequestRow row;
    row.id = other.request_id[i];
    row.tenant = other.tenants.Name(other.rq_tenant[i]);
    row.model = other.models.Name(other.rq_model[i]);
    row.zone = other.rq_zone[i] < 0 ? std::string() : other.zones.Name(other.rq_zone[i]);
    row.tokens_in = other.rq_tokens_in[i];
    row.tokens_out = other.rq_tokens_out[i];
    row.slo_ms = other.rq_slo[i];
    row.home_cloud = other.rq_home[i];
    row.priority = other.rq_priority[i];
    if (!other.rq_needs.empty()) {
      const std::string& text = other.need_text[other.rq_needs[i]];
      row.needs = out.InternNeeds(out.NeedsOf(Split(text)), text);
    }
    out.AddRequest(row);
  }
  return out;
}

void TakeCapacity(const kernels::ProblemData& batch, const kernels::Solution& solution,
                  std::vector<std::int64_t>* tokens, std::vector<std::int64_t>* requests) {
  for (std::size_t i = 0; i < batch.num_requests(); ++i) {
    const std::int32_t p = solution.endpoint[i];
    if (p < 0) continue;
    (*tokens)[p] -= static_cast<std::int64_t>(batch.rq_tokens_in[i]) + batch.rq_tokens_out[i];
    (*requests)[p] -= 1;
  }
}

}  // namespace azimuth::bench
