// Copyright 2026 Azimuth authors.
//
// batch.h — the control plane's domain types for one call: a columnar batch
// of requests (strings interned into the batch's own table), its validation,
// and the decisions that answer it. The gRPC adapters convert protobuf
// messages to and from these; nothing here knows protobuf.
//
//   RequestBatch batch = ...;           // columns filled by the adapter
//   absl::StatusOr<BatchJob> job = ValidateBatch(std::move(batch), limits);
//   if (!job.ok()) return job.status();  // INVALID_ARGUMENT naming the column
//   // job->errors: the requests answered INVALID_REQUEST, with reasons.
#ifndef AZIMUTH_SCHEDULER_CORE_BATCH_H_
#define AZIMUTH_SCHEDULER_CORE_BATCH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "azimuth/kernels/problem.h"
#include "azimuth/kernels/solver.h"

namespace azimuth::scheduler {

// RequestBatch
//
// Request i is (id[i], strings[model[i]], tokens_in[i], ...). Optional columns
// (tenant, zone, slo_ms, home_cloud, priority) are empty or one per request.
// `home_cloud` holds raw enum values, checked by ValidateBatch().
struct RequestBatch {
  std::vector<std::string> id;
  std::vector<std::string> strings;
  std::vector<std::uint32_t> tenant, model, zone;
  std::vector<std::int32_t> tokens_in, tokens_out, slo_ms;
  std::vector<std::int32_t> home_cloud;
  std::vector<std::uint32_t> priority;
  // Index into `strings`: required features, ';'-separated ("" none).
  std::vector<std::uint32_t>
  requires;

  std::size_t size() const { return id.size(); }
};

// FeatureNames(): a `requires` string's names (blanks around each and empty
// entries dropped).
std::vector<std::string> FeatureNames(absl::string_view list);

// RequestError
//
// Why request `index` was answered INVALID_REQUEST.
struct RequestError {
  std::int64_t index;
  std::string field;
  std::string message;
};

// BatchJob
//
// A validated batch: every column has one value per request (defaults filled
// in) and `invalid[i]` marks the requests listed in `errors`.
struct BatchJob {
  RequestBatch batch;
  std::vector<std::uint8_t> invalid;
  std::vector<RequestError> errors;
};

// The longest request id, and the longest tenant, model or zone string a
// request may use, in bytes.
inline constexpr std::size_t kMaxStringBytes = 1024;

struct BatchLimits {
  std::int64_t max_requests = 4 << 20;
};

// ValidateBatch()
//
// INVALID_ARGUMENT naming the column for a malformed batch: a column length
// that is neither 0 (optional columns) nor the number of ids, an index past
// the string table, an unknown home_cloud enum value, more requests than
// `limits.max_requests`. Per-request problems (empty or duplicate id, empty
// model, negative tokens or SLO, priority above 3, an id or string longer
// than kMaxStringBytes) mark only that request.
absl::StatusOr<BatchJob> ValidateBatch(RequestBatch batch, const BatchLimits& limits);

// CompactStrings()
//
// Drops the strings of a validated batch's table that no request uses and
// renumbers the rest (a message may carry any number of unused strings;
// what is kept of it must not).
void CompactStrings(RequestBatch* batch);

// DecisionInfo
//
// How a call's requests were decided.
struct DecisionInfo {
  std::vector<std::uint64_t> batch_ids;  // solver batches; empty when online
  bool online = false;
  kernels::Backend backend = kernels::Backend::kCpu;
  double gap = 0;
  std::int64_t solver_requests = 0;
  int iterations = 0;
  double solve_ms = 0;
};

// Decisions
//
// The answer to one BatchJob, in request order.
struct Decisions {
  std::shared_ptr<const std::vector<std::string>> endpoint_ids;  // the table `endpoint` indexes
  std::vector<std::int32_t> endpoint;                            // -1: rejected
  std::vector<kernels::Reason> reason;
  std::vector<double> cost;
  std::vector<kernels::Cloud> cloud;                   // of the endpoint (unused when rejected)
  std::vector<kernels::Rule> waiver_rule;              // AZURE_WAIVER: the rule that excluded Azure
  std::vector<kernels::TenantLimitKind> tenant_limit;  // TENANT_LIMIT: which of the tenant's limits
  DecisionInfo info;
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_CORE_BATCH_H_
