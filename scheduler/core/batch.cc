// Copyright 2026 Azimuth authors.
#include "scheduler/core/batch.h"

#include <string_view>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace azimuth::scheduler {

namespace {

// Checks that an optional column is empty or has n values, then fills an
// empty one with `fill`.
template <typename T>
absl::Status OptionalColumn(std::vector<T>* column, std::size_t n, const char* name, T fill) {
  if (column->empty()) {
    column->assign(n, fill);
    return absl::OkStatus();
  }
  if (column->size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", name, "': has ", column->size(), " values for ", n, " requests (id)"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status RequiredColumn(const std::vector<T>& column, std::size_t n, const char* name) {
  if (column.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("field '", name, "': has ", column.size(), " values for ", n, " requests (id)"));
  }
  return absl::OkStatus();
}

absl::Status StringIndices(const std::vector<std::uint32_t>& column, std::size_t table, const char* name) {
  for (std::size_t i = 0; i < column.size(); ++i) {
    if (column[i] >= table) {
      return absl::InvalidArgumentError(absl::StrCat("field '", name, "[", i, "]': index ", column[i],
                                                     " is past the string table (", table, " strings)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> FeatureNames(absl::string_view list) {
  std::vector<std::string> names;
  for (absl::string_view part : absl::StrSplit(list, ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) names.emplace_back(part);
  }
  return names;
}

absl::StatusOr<BatchJob> ValidateBatch(RequestBatch batch, const BatchLimits& limits) {
  const std::size_t n = batch.id.size();
  if (static_cast<std::int64_t>(n) > limits.max_requests) {
    return absl::InvalidArgumentError(
        absl::StrCat("field 'id': ", n, " requests exceed the limit of ", limits.max_requests, " per message"));
  }
  RequestBatch& b = batch;
  for (absl::Status s : {RequiredColumn(b.model, n, "model"), RequiredColumn(b.tokens_in, n, "tokens_in"),
                         RequiredColumn(b.tokens_out, n, "tokens_out")}) {
    if (!s.ok()) return s;
  }
  // Indices are checked against the table as sent, before the empty string
  // below is added to it.
  const std::size_t table = b.strings.size();
  for (absl::Status s : {StringIndices(b.tenant, table, "tenant"), StringIndices(b.model, table, "model"),
                         StringIndices(b.zone, table, "zone"), StringIndices(b.requires, table, "requires")}) {
    if (!s.ok()) return s;
  }
  // An empty optional string column means "" for every request: intern it.
  std::uint32_t empty_string = 0;
  if (b.tenant.empty() || b.zone.empty() || b.requires.empty()) {
    empty_string = static_cast<std::uint32_t>(b.strings.size());
    b.strings.emplace_back();
  }
  for (absl::Status s :
       {OptionalColumn(&b.tenant, n, "tenant", empty_string), OptionalColumn(&b.zone, n, "zone", empty_string),
        OptionalColumn(&b.requires, n, "requires", empty_string), OptionalColumn(&b.slo_ms, n, "slo_ms", 0),
        OptionalColumn(&b.home_cloud, n, "home_cloud", 0),
        OptionalColumn<std::uint32_t>(&b.priority, n, "priority", 0u)}) {
    if (!s.ok()) return s;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (b.home_cloud[i] < 0 || b.home_cloud[i] >= kernels::kNumClouds) {
      return absl::InvalidArgumentError(
          absl::StrCat("field 'home_cloud[", i, "]': unknown Cloud enum value ", b.home_cloud[i]));
    }
  }

  BatchJob job;
  job.invalid.assign(n, 0);
  auto mark = [&](std::size_t i, const char* field, std::string message) {
    if (job.invalid[i]) return;
    job.invalid[i] = 1;
    job.errors.push_back({static_cast<std::int64_t>(i), field, std::move(message)});
  };
  std::unordered_set<std::string_view> seen;
  seen.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (b.id[i].empty()) {
      mark(i, "id", "must not be empty");
    } else if (b.id[i].size() > kMaxStringBytes) {
      mark(i, "id", absl::StrCat("is ", b.id[i].size(), " bytes, at most ", kMaxStringBytes));
    } else if (!seen.insert(std::string_view(b.id[i])).second) {
      mark(i, "id", absl::StrCat("duplicate id '", b.id[i], "' in this batch"));
    }
    if (b.strings[b.model[i]].empty()) mark(i, "model", "must not be empty");
    for (auto [column, field] :
         {std::pair{&b.tenant, "tenant"}, {&b.model, "model"}, {&b.zone, "zone"}, {&b.requires, "requires"}}) {
      const std::size_t bytes = b.strings[(*column)[i]].size();
      if (bytes > kMaxStringBytes) mark(i, field, absl::StrCat("is ", bytes, " bytes, at most ", kMaxStringBytes));
    }
    if (b.tokens_in[i] < 0) mark(i, "tokens_in", absl::StrCat("must be >= 0, got ", b.tokens_in[i]));
    if (b.tokens_out[i] < 0) mark(i, "tokens_out", absl::StrCat("must be >= 0, got ", b.tokens_out[i]));
    if (b.slo_ms[i] < 0) mark(i, "slo_ms", absl::StrCat("must be >= 0, got ", b.slo_ms[i]));
    if (b.priority[i] >= kernels::kNumPriorities) {
      mark(i, "priority", absl::StrCat("must be 0..3, got ", b.priority[i]));
    }
  }
  job.batch = std::move(batch);
  return job;
}

void CompactStrings(RequestBatch* batch) {
  RequestBatch& b = *batch;
  constexpr std::uint32_t kUnused = UINT32_MAX;
  std::vector<std::uint32_t> remap(b.strings.size(), kUnused);
  std::vector<std::string> kept;
  for (std::vector<std::uint32_t>* column : {&b.tenant, &b.model, &b.zone, &b.requires}) {
    for (std::uint32_t& index : *column) {
      if (remap[index] == kUnused) {
        remap[index] = static_cast<std::uint32_t>(kept.size());
        kept.push_back(std::move(b.strings[index]));
      }
      index = remap[index];
    }
  }
  b.strings = std::move(kept);
}

}  // namespace azimuth::scheduler
