// Copyright 2026 Azimuth authors.
#include "scheduler/offline/offline_io.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_set>
#include <vector>

#include <google/protobuf/util/json_util.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "azimuth/v1/policy.pb.h"
#include "scheduler/common/io.h"
#include "scheduler/common/policy.h"
#include "scheduler/common/status.h"
#include "scheduler/offline/csv.h"

namespace azimuth::scheduler {

using kernels::Cloud;

const char* const kEndpointColumns[12] = {"id",
                                          "cloud",
                                          "region",
                                          "zone",
                                          "model",
                                          "price_in_per_1k",
                                          "price_out_per_1k",
                                          "latency_p50_ms",
                                          "latency_p95_ms",
                                          "tpm_limit",
                                          "rpm_limit",
                                          "healthy"};
const char* const kRequestColumns[9] = {"id",     "tenant", "model",      "tokens_in", "tokens_out",
                                        "slo_ms", "zone",   "home_cloud", "priority"};
const char* const kEndpointOptionalColumns[2] = {"max_context_tokens", "features"};
const char* const kRequestOptionalColumns[1] = {"requires"};

namespace {

constexpr std::int64_t kMaxInt32 = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kMaxLimit = std::int64_t{1} << 50;
constexpr std::size_t kMaxFeatureNameBytes = 256;

absl::StatusOr<Cloud> CloudField(const CsvRow& row, absl::string_view column) {
  Cloud cloud;
  const std::string text(row.Text(column));
  if (!kernels::ParseCloud(text, &cloud)) {
    return row.Error(column, absl::StrCat("unknown cloud '", text, "' (azure, aws, gcp, oci or other)"));
  }
  return cloud;
}

// Feature names separated by ';' (blanks around a name ignored, empty list
// allowed), each unique in the list.
absl::StatusOr<std::vector<std::string>> FeatureList(const CsvRow& row, absl::string_view column) {
  std::vector<std::string> names;
  for (absl::string_view part : absl::StrSplit(row.Text(column), ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) continue;
    if (part.size() > kMaxFeatureNameBytes) {
      return row.Error(column, absl::StrCat("feature name longer than ", kMaxFeatureNameBytes, " bytes"));
    }
    if (std::find(names.begin(), names.end(), part) != names.end()) {
      return row.Error(column, absl::StrCat("feature '", part, "' named twice"));
    }
    names.emplace_back(part);
  }
  return names;
}

absl::Status RequireText(const CsvRow& row, absl::string_view column) {
  if (row.Text(column).empty()) return row.Error(column, "must not be empty");
  return absl::OkStatus();
}

template <std::size_t N>
std::vector<std::string> Columns(const char* const (&names)[N]) {
  return std::vector<std::string>(names, names + N);
}

void AppendCsvField(std::string* out, absl::string_view field) {
  if (field.find_first_of(",\"\n\r") == absl::string_view::npos) {
    out->append(field.data(), field.size());
    return;
  }
  out->push_back('"');
  for (char c : field) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void AppendNumber(std::string* out, double value) {
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, res.ptr);
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open for writing"));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadEndpointsCsv(const std::string& path, kernels::ProblemData* data) {
  AZ_ASSIGN_OR_RETURN(CsvFile file, CsvFile::Open(path, Columns(kEndpointColumns), Columns(kEndpointOptionalColumns)));
  std::unordered_set<std::string> ids(data->endpoint_id.begin(), data->endpoint_id.end());
  CsvRow row;
  while (file.Next(&row)) {
    kernels::EndpointRow e;
    AZ_RETURN_IF_ERROR(RequireText(row, "id"));
    AZ_RETURN_IF_ERROR(RequireText(row, "model"));
    e.id = std::string(row.Text("id"));
    if (!ids.insert(e.id).second) return row.Error("id", absl::StrCat("duplicate endpoint id '", e.id, "'"));
    AZ_ASSIGN_OR_RETURN(e.cloud, CloudField(row, "cloud"));
    e.region = std::string(row.Text("region"));
    e.zone = std::string(row.Text("zone"));
    e.model = std::string(row.Text("model"));
    AZ_ASSIGN_OR_RETURN(e.price_in_per_1k, row.NonNegativeDouble("price_in_per_1k"));
    AZ_ASSIGN_OR_RETURN(e.price_out_per_1k, row.NonNegativeDouble("price_out_per_1k"));
    AZ_ASSIGN_OR_RETURN(e.latency_p50_ms, row.NonNegativeDouble("latency_p50_ms"));
    AZ_ASSIGN_OR_RETURN(e.latency_p95_ms, row.NonNegativeDouble("latency_p95_ms"));
    AZ_ASSIGN_OR_RETURN(e.tpm_limit, row.Int64("tpm_limit", 0, kMaxLimit));
    AZ_ASSIGN_OR_RETURN(e.rpm_limit, row.Int64("rpm_limit", 0, kMaxLimit));
    AZ_ASSIGN_OR_RETURN(e.healthy, row.Bool("healthy"));
    if (!row.Text("max_context_tokens").empty()) {
      AZ_ASSIGN_OR_RETURN(e.max_context_tokens, row.Int64("max_context_tokens", 0, kernels::kMaxContextTokens));
    }
    AZ_ASSIGN_OR_RETURN(e.features, FeatureList(row, "features"));
    if (data->num_endpoints() >= kernels::kMaxEndpoints) {
      return row.Error("id", absl::StrCat("more than ", kernels::kMaxEndpoints, " endpoints"));
    }
    if (!data->AddEndpoint(e)) {
      return row.Error("features", absl::StrCat("more than ", kernels::kMaxFeatures,
                                                " distinct feature names in the endpoint table"));
    }
  }
  return file.status();
}

absl::Status ReadRequestsCsv(const std::string& path, kernels::ProblemData* data) {
  AZ_ASSIGN_OR_RETURN(CsvFile file, CsvFile::Open(path, Columns(kRequestColumns), Columns(kRequestOptionalColumns)));
  data->ReserveRequests(data->num_requests() + static_cast<std::size_t>(file.approximate_rows()));
  absl::flat_hash_set<absl::string_view> ids;
  ids.reserve(static_cast<std::size_t>(file.approximate_rows()));
  CsvRow row;
  kernels::RequestRow r;
  while (file.Next(&row)) {
    AZ_RETURN_IF_ERROR(RequireText(row, "id"));
    AZ_RETURN_IF_ERROR(RequireText(row, "model"));
    // The views point into the file's buffer, which outlives this loop.
    if (!ids.insert(row.Text("id")).second) {
      return row.Error("id", absl::StrCat("duplicate request id '", row.Text("id"), "'"));
    }
    {
      const absl::string_view t = row.Text("id");
      r.id.assign(t.data(), t.size());
    }
    {
      const absl::string_view t = row.Text("tenant");
      r.tenant.assign(t.data(), t.size());
    }
    {
      const absl::string_view t = row.Text("model");
      r.model.assign(t.data(), t.size());
    }
    {
      const absl::string_view t = row.Text("zone");
      r.zone.assign(t.data(), t.size());
    }
    AZ_ASSIGN_OR_RETURN(const std::int64_t tin, row.Int64("tokens_in", 0, kMaxInt32));
    AZ_ASSIGN_OR_RETURN(const std::int64_t tout, row.Int64("tokens_out", 0, kMaxInt32));
    AZ_ASSIGN_OR_RETURN(const std::int64_t slo, row.Int64("slo_ms", 0, kMaxInt32));
    AZ_ASSIGN_OR_RETURN(const std::int64_t priority, row.Int64("priority", 0, 3));
    AZ_ASSIGN_OR_RETURN(r.home_cloud, CloudField(row, "home_cloud"));
    r.tokens_in = static_cast<std::int32_t>(tin);
    r.tokens_out = static_cast<std::int32_t>(tout);
    r.slo_ms = static_cast<std::int32_t>(slo);
    r.priority = static_cast<std::uint8_t>(priority);
    if (data->models.Find(r.model) < 0 && data->models.size() >= static_cast<std::size_t>(kernels::kMaxModels)) {
      return row.Error("model", absl::StrCat("more than ", kernels::kMaxModels, " distinct models"));
    }
    if (!r.zone.empty() && data->zones.Find(r.zone) < 0 &&
        data->zones.size() >= static_cast<std::size_t>(kernels::kMaxZones)) {
      return row.Error("zone", absl::StrCat("more than ", kernels::kMaxZones, " distinct zones"));
    }
    r.needs = 0;
    if (!row.Text("requires").empty()) {
      AZ_ASSIGN_OR_RETURN(const std::vector<std::string> names, FeatureList(row, "requires"));
      r.needs = data->InternNeeds(data->NeedsOf(names), absl::StrJoin(names, ";"));
      if (r.needs < 0) {
        return row.Error("requires", absl::StrCat("more than ", kernels::kMaxNeedSets,
                                                  " distinct sets of required features in one batch"));
      }
    }
    data->AddRequest(r);
  }
  return file.status();
}

absl::Status ParsePolicyJson(const std::string& json, const std::string& source, kernels::PolicyData* policy) {
  v1::Policy msg;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &msg, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a valid azimuth.v1.Policy: ", parsed.message().as_string()));
  }
  AZ_ASSIGN_OR_RETURN(*policy, PolicyFromProto(msg, source));
  return absl::OkStatus();
}

absl::Status ReadPolicyJson(const std::string& path, kernels::PolicyData* policy) {
  AZ_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path, "policy file"));
  return ParsePolicyJson(text, path, policy);
}

absl::Status WriteAssignmentsCsv(const std::string& path, const kernels::ProblemData& data,
                                 const kernels::Solution& solution) {
  std::string out = "id,endpoint,reason,cost\n";
  out.reserve(out.size() + data.request_id.size() * 48);
  for (std::size_t i = 0; i < data.request_id.size(); ++i) {
    AppendCsvField(&out, data.request_id[i]);
    out.push_back(',');
    if (solution.endpoint[i] >= 0) AppendCsvField(&out, data.endpoint_id[solution.endpoint[i]]);
    out.push_back(',');
    out.append(kernels::ReasonName(solution.reason[i]));
    out.push_back(',');
    AppendNumber(&out, solution.cost[i]);
    out.push_back('\n');
  }
  return WriteFile(path, out);
}

std::string SummaryJson(const kernels::Solution& s) {
  std::string out = "{";
  auto num = [&](const char* key, double v, bool last = false) {
    absl::StrAppend(&out, "\"", key, "\": ");
    if (std::isfinite(v))
      AppendNumber(&out, v);
    else
      out.append("null");
    if (!last) out.append(", ");
  };
  num("objective_usd", s.objective_usd);
  num("assign_cost_usd", s.assign_cost_usd);
  num("reject_cost_usd", s.reject_cost_usd);
  num("azure_token_share", s.azure_token_share);
  num("lower_bound_usd", s.lower_bound_usd);
  num("gap", s.gap);
  absl::StrAppend(&out, "\"assigned\": ", s.assigned, ", \"rejected\": ", s.rejected,
                  ", \"iterations\": ", s.iterations, ", ");
  num("solve_ms", s.solve_ms);
  absl::StrAppend(&out, "\"backend\": \"", kernels::BackendName(s.backend), "\"}\n");
  return out;
}

absl::Status WriteSummaryJson(const std::string& path, const kernels::Solution& solution) {
  return WriteFile(path, SummaryJson(solution));
}

absl::Status WriteEndpointsCsv(const std::string& path, const kernels::ProblemData& d) {
  std::string out;
  for (int c = 0; c < 12; ++c) absl::StrAppend(&out, c ? "," : "", kEndpointColumns[c]);
  // The optional columns only when some endpoint has capabilities, so that
  // tables without them keep their shape.
  bool capabilities = false;
  for (std::size_t p = 0; p < d.num_endpoints(); ++p) capabilities |= d.ep_max_context[p] > 0 || d.ep_features[p] != 0;
  if (capabilities) absl::StrAppend(&out, ",", kEndpointOptionalColumns[0], ",", kEndpointOptionalColumns[1]);
  out.push_back('\n');
  for (std::size_t p = 0; p < d.num_endpoints(); ++p) {
    AppendCsvField(&out, d.endpoint_id[p]);
    absl::StrAppend(&out, ",", kernels::CloudName(d.ep_cloud[p]), ",");
    AppendCsvField(&out, d.endpoint_region[p]);
    out.push_back(',');
    if (d.ep_zone[p] >= 0) AppendCsvField(&out, d.zones.Name(d.ep_zone[p]));
    out.push_back(',');
    AppendCsvField(&out, d.models.Name(d.ep_model[p]));
    for (double v : {d.ep_price_in[p], d.ep_price_out[p], d.ep_p50[p], d.ep_p95[p]}) {
      out.push_back(',');
      AppendNumber(&out, v);
    }
    absl::StrAppend(&out, ",", d.ep_tpm[p], ",", d.ep_rpm[p], ",", d.ep_available[p] ? "true" : "false");
    if (capabilities) {
      absl::StrAppend(&out, ",", d.ep_max_context[p], ",");
      AppendCsvField(&out, absl::StrJoin(d.FeatureNamesOf(d.ep_features[p]), ";"));
    }
    out.push_back('\n');
  }
  return WriteFile(path, out);
}

absl::Status WriteRequestsCsv(const std::string& path, const kernels::ProblemData& d) {
  std::string out;
  for (int c = 0; c < 9; ++c) absl::StrAppend(&out, c ? "," : "", kRequestColumns[c]);
  const bool needs = !d.rq_needs.empty();
  if (needs) absl::StrAppend(&out, ",", kRequestOptionalColumns[0]);
  out.push_back('\n');
  out.reserve(d.num_requests() * 64);
  for (std::size_t i = 0; i < d.num_requests(); ++i) {
    AppendCsvField(&out, d.request_id[i]);
    out.push_back(',');
    AppendCsvField(&out, d.tenants.Name(d.rq_tenant[i]));
    out.push_back(',');
    AppendCsvField(&out, d.models.Name(d.rq_model[i]));
    absl::StrAppend(&out, ",", d.rq_tokens_in[i], ",", d.rq_tokens_out[i], ",", d.rq_slo[i], ",");
    if (d.rq_zone[i] >= 0) AppendCsvField(&out, d.zones.Name(d.rq_zone[i]));
    absl::StrAppend(&out, ",", kernels::CloudName(d.rq_home[i]), ",", d.rq_priority[i]);
    if (needs) {
      out.push_back(',');
      AppendCsvField(&out, d.need_text[d.rq_needs[i]]);
    }
    out.push_back('\n');
  }
  return WriteFile(path, out);
}

std::string PolicyJson(const kernels::PolicyData& p) { return MessageJson(PolicyToProto(p), /*all_fields=*/true); }

}  // namespace azimuth::scheduler
