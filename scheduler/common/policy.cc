// Copyright 2026 Azimuth authors.
#include "scheduler/common/policy.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "scheduler/common/status.h"

namespace azimuth::scheduler {

using kernels::Cloud;

absl::StatusOr<kernels::PolicyData> PolicyFromProto(const v1::Policy& msg, absl::string_view source) {
  auto bad = [&](absl::string_view field, absl::string_view reason) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": field '", field, "': ", reason));
  };
  kernels::PolicyData p;
  p.now = msg.now();
  if (msg.window_s() < 0 || msg.window_s() > 86400) return bad("window_s", "must be in [1, 86400] (0: default 60)");
  p.window_s = msg.window_s() == 0 ? 60 : msg.window_s();
  switch (msg.azure_first()) {
    case v1::STRICT:
      p.azure_first = kernels::AzureFirst::kStrict;
      break;
    case v1::WEIGHTED:
      p.azure_first = kernels::AzureFirst::kWeighted;
      break;
    case v1::OFF:
      p.azure_first = kernels::AzureFirst::kOff;
      break;
    default:
      return bad("azure_first", "must be STRICT, WEIGHTED or OFF");
  }
  if (!(msg.azure_discount() >= 0 && msg.azure_discount() <= 1)) return bad("azure_discount", "must be in [0, 1]");
  p.azure_discount = msg.azure_discount();
  for (const auto& [model, until] : msg.azure_first_until()) {
    if (model.empty()) return bad("azure_first_until", "model name must not be empty");
    p.azure_first_until[model] = until;
  }
  if (std::string why = OutOfRange(msg.latency_usd_per_ms(), kernels::kMaxLatencyUsdPerMs); !why.empty()) {
    return bad("latency_usd_per_ms", why);
  }
  p.latency_usd_per_ms = msg.latency_usd_per_ms();
  for (int i = 0; i < msg.egress_usd_per_1k_size(); ++i) {
    const v1::EgressPrice& e = msg.egress_usd_per_1k(i);
    const std::string field = absl::StrCat("egress_usd_per_1k[", i, "]");
    Cloud from, to;
    if (!kernels::ParseCloud(e.from(), &from))
      return bad(field + ".from", absl::StrCat("unknown cloud '", e.from(), "'"));
    if (!kernels::ParseCloud(e.to(), &to)) return bad(field + ".to", absl::StrCat("unknown cloud '", e.to(), "'"));
    if (std::string why = OutOfRange(e.usd(), kernels::kMaxPricePer1k); !why.empty()) return bad(field + ".usd", why);
    p.egress_usd_per_1k[static_cast<int>(from)][static_cast<int>(to)] = e.usd();
  }
  if (msg.reject_usd_size() != kernels::kNumPriorities) {
    return bad("reject_usd", absl::StrCat("needs 4 values (priorities 0-3), got ", msg.reject_usd_size()));
  }
  for (int k = 0; k < kernels::kNumPriorities; ++k) {
    const double v = msg.reject_usd(k);
    if (std::string why = OutOfRange(v, kernels::kMaxRejectUsd); !why.empty()) {
      return bad(absl::StrCat("reject_usd[", k, "]"), why);
    }
    if (v > 0 && v < kernels::kMinRejectUsd)
      return bad(absl::StrCat("reject_usd[", k, "]"), "must be 0 or at least 1e-12");
    p.reject_usd[k] = msg.reject_usd(k);
  }
  if (msg.telemetry_ttl_s() < 0 || msg.telemetry_ttl_s() > kMaxTelemetryTtlS) {
    return bad("telemetry_ttl_s", "must be in [0, 1000000000] (0: default 30)");
  }
  p.telemetry_ttl_s = msg.telemetry_ttl_s() == 0 ? 30 : msg.telemetry_ttl_s();
  auto limit = [&](const v1::TenantLimit& l, const std::string& field) -> absl::StatusOr<kernels::TenantLimit> {
    if (l.tokens() < 0 || l.tokens() > kernels::kMaxLimit) return bad(field + ".tokens", "must be in [0, 1e15]");
    if (l.requests() < 0 || l.requests() > kernels::kMaxLimit) {
      return bad(field + ".requests", "must be in [0, 1e15]");
    }
    if (std::string why = OutOfRange(l.budget_usd(), kernels::kMaxBudgetUsd); !why.empty()) {
      return bad(field + ".budget_usd", why);
    }
    return kernels::TenantLimit{l.tokens(), l.requests(), l.budget_usd()};
  };
  if (msg.tenant_limits_size() > kMaxTenantLimits) {
    return bad("tenant_limits", absl::StrCat("at most ", kMaxTenantLimits, " entries"));
  }
  for (int i = 0; i < msg.tenant_limits_size(); ++i) {
    const v1::TenantLimit& l = msg.tenant_limits(i);
    const std::string field = absl::StrCat("tenant_limits[", i, "]");
    if (l.tenant().size() > kMaxTenantNameBytes) {
      return bad(field + ".tenant", absl::StrCat("at most ", kMaxTenantNameBytes, " bytes"));
    }
    AZ_ASSIGN_OR_RETURN(const kernels::TenantLimit parsed, limit(l, field));
    if (!p.tenant_limits.emplace(l.tenant(), parsed).second) {
      return bad(field + ".tenant", absl::StrCat("tenant '", l.tenant(), "' listed twice"));
    }
  }
  if (!msg.default_tenant_limit().tenant().empty()) {
    return bad("default_tenant_limit.tenant", "must be empty (it applies to every tenant not listed)");
  }
  AZ_ASSIGN_OR_RETURN(p.default_tenant_limit, limit(msg.default_tenant_limit(), "default_tenant_limit"));
  p.fair_share = msg.fair_share();
  if (msg.tenant_weights_size() > kMaxTenantLimits) {
    return bad("tenant_weights", absl::StrCat("at most ", kMaxTenantLimits, " entries"));
  }
  for (const auto& [tenant, weight] : msg.tenant_weights()) {
    const std::string field = absl::StrCat("tenant_weights['", tenant.substr(0, 64), "']");
    if (tenant.size() > kMaxTenantNameBytes)
      return bad(field, absl::StrCat("tenant name: at most ", kMaxTenantNameBytes, " bytes"));
    if (!(weight > 0 && weight <= kernels::kMaxTenantWeight)) return bad(field, "must be in (0, 1e6]");
    p.tenant_weights[tenant] = weight;
  }
  return p;
}

v1::Policy PolicyToProto(const kernels::PolicyData& p) {
  v1::Policy msg;
  msg.set_now(p.now);
  msg.set_window_s(p.window_s);
  msg.set_azure_first(p.azure_first == kernels::AzureFirst::kStrict     ? v1::STRICT
                      : p.azure_first == kernels::AzureFirst::kWeighted ? v1::WEIGHTED
                                                                        : v1::OFF);
  msg.set_azure_discount(p.azure_discount);
  for (const auto& [model, until] : p.azure_first_until) (*msg.mutable_azure_first_until())[model] = until;
  msg.set_latency_usd_per_ms(p.latency_usd_per_ms);
  for (int a = 0; a < kernels::kNumClouds; ++a) {
    for (int b = 0; b < kernels::kNumClouds; ++b) {
      if (p.egress_usd_per_1k[a][b] == 0) continue;
      v1::EgressPrice* e = msg.add_egress_usd_per_1k();
      e->set_from(kernels::CloudName(static_cast<Cloud>(a)));
      e->set_to(kernels::CloudName(static_cast<Cloud>(b)));
      e->set_usd(p.egress_usd_per_1k[a][b]);
    }
  }
  for (double r : p.reject_usd) msg.add_reject_usd(r);
  msg.set_telemetry_ttl_s(p.telemetry_ttl_s);
  for (const auto& [tenant, l] : p.tenant_limits) {
    v1::TenantLimit* out = msg.add_tenant_limits();
    out->set_tenant(tenant);
    out->set_tokens(l.tokens);
    out->set_requests(l.requests);
    out->set_budget_usd(l.budget_usd);
  }
  if (!p.default_tenant_limit.unlimited()) {
    v1::TenantLimit* out = msg.mutable_default_tenant_limit();
    out->set_tokens(p.default_tenant_limit.tokens);
    out->set_requests(p.default_tenant_limit.requests);
    out->set_budget_usd(p.default_tenant_limit.budget_usd);
  }
  msg.set_fair_share(p.fair_share);
  for (const auto& [tenant, weight] : p.tenant_weights) (*msg.mutable_tenant_weights())[tenant] = weight;
  return msg;
}

kernels::PolicyData DefaultPolicy() {
  kernels::PolicyData p;
  p.window_s = 60;
  p.azure_first = kernels::AzureFirst::kStrict;
  p.azure_first_until["gpt-6"] = 1782592000;
  p.latency_usd_per_ms = 0.000001;
  p.egress_usd_per_1k[static_cast<int>(Cloud::kAws)][static_cast<int>(Cloud::kAzure)] = 0.0009;
  p.egress_usd_per_1k[static_cast<int>(Cloud::kAzure)][static_cast<int>(Cloud::kAws)] = 0.0009;
  const double reject[] = {0.05, 0.1, 0.5, 2.0};
  for (int k = 0; k < kernels::kNumPriorities; ++k) p.reject_usd[k] = reject[k];
  p.telemetry_ttl_s = 30;
  return p;
}

}  // namespace azimuth::scheduler
