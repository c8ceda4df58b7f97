// Copyright 2026 Azimuth authors.
#include "scheduler/service/convert.h"

#include "absl/strings/str_cat.h"

namespace azimuth::scheduler {

RequestBatch FromProto(const v1::RequestBatch& msg) {
  RequestBatch b;
  b.id.assign(msg.id().begin(), msg.id().end());
  b.strings.assign(msg.strings().begin(), msg.strings().end());
  b.tenant.assign(msg.tenant().begin(), msg.tenant().end());
  b.model.assign(msg.model().begin(), msg.model().end());
  b.zone.assign(msg.zone().begin(), msg.zone().end());
  b.tokens_in.assign(msg.tokens_in().begin(), msg.tokens_in().end());
  b.tokens_out.assign(msg.tokens_out().begin(), msg.tokens_out().end());
  b.slo_ms.assign(msg.slo_ms().begin(), msg.slo_ms().end());
  b.home_cloud.assign(msg.home_cloud().begin(), msg.home_cloud().end());
  b.priority.assign(msg.priority().begin(), msg.priority().end());
  b.requires.assign(msg.requires().begin(), msg.requires().end());
  return b;
}

absl::StatusOr<EndpointSample> FromProto(const v1::EndpointSample& msg) {
  EndpointSample s;
  kernels::EndpointRow& r = s.row;
  r.id = msg.id();
  if (msg.cloud() < 0 || msg.cloud() >= kernels::kNumClouds) {
    return absl::InvalidArgumentError(
        absl::StrCat("endpoint '", msg.id(), "': field 'cloud': unknown Cloud enum value ", msg.cloud()));
  }
  r.cloud = static_cast<kernels::Cloud>(msg.cloud());
  r.region = msg.region();
  r.zone = msg.zone();
  r.model = msg.model();
  r.price_in_per_1k = msg.price_in_per_1k();
  r.price_out_per_1k = msg.price_out_per_1k();
  r.latency_p50_ms = msg.latency_p50_ms();
  r.latency_p95_ms = msg.latency_p95_ms();
  r.tpm_limit = msg.tpm_limit();
  r.rpm_limit = msg.rpm_limit();
  r.healthy = msg.healthy();
  r.max_context_tokens = msg.max_context_tokens();
  r.features.assign(msg.features().begin(), msg.features().end());
  s.tpm_in_use = msg.tpm_in_use();
  s.rpm_in_use = msg.rpm_in_use();
  s.timestamp_ms = msg.timestamp_ms();
  if (absl::Status status = ValidateSample(s); !status.ok()) return status;
  return s;
}

v1::EndpointSample ToProto(const EndpointSample& s) {
  v1::EndpointSample msg;
  const kernels::EndpointRow& r = s.row;
  msg.set_id(r.id);
  msg.set_cloud(static_cast<v1::Cloud>(r.cloud));
  msg.set_region(r.region);
  msg.set_zone(r.zone);
  msg.set_model(r.model);
  msg.set_price_in_per_1k(r.price_in_per_1k);
  msg.set_price_out_per_1k(r.price_out_per_1k);
  msg.set_latency_p50_ms(r.latency_p50_ms);
  msg.set_latency_p95_ms(r.latency_p95_ms);
  msg.set_tpm_limit(r.tpm_limit);
  msg.set_rpm_limit(r.rpm_limit);
  msg.set_tpm_in_use(s.tpm_in_use);
  msg.set_rpm_in_use(s.rpm_in_use);
  msg.set_healthy(r.healthy);
  msg.set_timestamp_ms(s.timestamp_ms);
  msg.set_max_context_tokens(r.max_context_tokens);
  for (const std::string& name : r.features) msg.add_features(name);
  return msg;
}

EndpointSample EndpointSampleAt(const kernels::ProblemData& d, std::size_t p) {
  EndpointSample s;
  s.row.id = d.endpoint_id[p];
  s.row.region = d.endpoint_region[p];
  s.row.cloud = d.ep_cloud[p];
  s.row.zone = d.ep_zone[p] < 0 ? "" : d.zones.Name(d.ep_zone[p]);
  s.row.model = d.models.Name(d.ep_model[p]);
  s.row.price_in_per_1k = d.ep_price_in[p];
  s.row.price_out_per_1k = d.ep_price_out[p];
  s.row.latency_p50_ms = d.ep_p50[p];
  s.row.latency_p95_ms = d.ep_p95[p];
  s.row.tpm_limit = d.ep_tpm[p];
  s.row.rpm_limit = d.ep_rpm[p];
  s.row.healthy = d.ep_available[p] != 0;
  s.row.max_context_tokens = d.ep_max_context[p];
  for (std::size_t k = 0; k < d.features.size(); ++k) {
    if (d.ep_features[p] & (std::uint64_t{1} << k))
      s.row.features.push_back(d.features.Name(static_cast<std::int32_t>(k)));
  }
  return s;
}

v1::RequestBatch ToRequestBatch(const kernels::ProblemData& d, std::size_t begin, std::size_t end) {
  v1::RequestBatch b;
  // One string table: models, then zones, then tenants.
  const auto zones_at = static_cast<std::uint32_t>(d.models.size());
  const auto tenants_at = zones_at + static_cast<std::uint32_t>(d.zones.size());
  for (std::size_t k = 0; k < d.models.size(); ++k) b.add_strings(d.models.Name(static_cast<std::int32_t>(k)));
  for (std::size_t k = 0; k < d.zones.size(); ++k) b.add_strings(d.zones.Name(static_cast<std::int32_t>(k)));
  for (std::size_t k = 0; k < d.tenants.size(); ++k) b.add_strings(d.tenants.Name(static_cast<std::int32_t>(k)));
  const auto any_zone = static_cast<std::uint32_t>(b.strings_size());
  b.add_strings("");
  // Requirement sets, as ';'-separated names (as the batch named them).
  const auto needs_at = static_cast<std::uint32_t>(b.strings_size());
  if (!d.rq_needs.empty()) {
    for (const std::string& names : d.need_text) b.add_strings(names);
  }
  const int n = static_cast<int>(end - begin);
  b.mutable_id()->Reserve(n);
  for (std::size_t i = begin; i < end; ++i) {
    b.add_id(d.request_id.empty() ? absl::StrCat("r", i) : d.request_id[i]);
    b.add_model(static_cast<std::uint32_t>(d.rq_model[i]));
    b.add_zone(d.rq_zone[i] < 0 ? any_zone : zones_at + static_cast<std::uint32_t>(d.rq_zone[i]));
    b.add_tenant(d.rq_tenant[i] < 0 ? any_zone : tenants_at + static_cast<std::uint32_t>(d.rq_tenant[i]));
    b.add_tokens_in(d.rq_tokens_in[i]);
    b.add_tokens_out(d.rq_tokens_out[i]);
    b.add_slo_ms(d.rq_slo[i]);
    b.add_home_cloud(static_cast<v1::Cloud>(d.rq_home[i]));
    b.add_priority(d.rq_priority[i]);
    if (!d.rq_needs.empty()) b.add_requires(needs_at + static_cast<std::uint32_t>(d.rq_needs[i]));
  }
  return b;
}

}  // namespace azimuth::scheduler
