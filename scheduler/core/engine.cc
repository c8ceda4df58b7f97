// Copyright 2026 Azimuth authors.
#include "scheduler/core/engine.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "scheduler/common/status.h"

namespace azimuth::scheduler {

using kernels::Reason;

namespace {

double RejectCost(const kernels::PolicyData& policy, std::uint32_t priority) {
  return policy.reject_usd[std::min<std::uint32_t>(priority, kernels::kNumPriorities - 1)];
}

kernels::Prices Padded(const kernels::Prices& prices, std::size_t m) {
  kernels::Prices p = prices;
  p.per_token.resize(m, 0.0);
  p.per_request.resize(m, 0.0);
  return p;
}

}  // namespace

std::int64_t Engine::WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Engine::Engine(EngineOptions options, Clock clock) : options_(options), clock_(std::move(clock)) {
  if (options_.leased) {
    ledger_.EnableLeases();
    tenants_.EnableLeases();
  }
}

void Engine::SetListener(EngineListener* listener) { listener_.store(listener); }

absl::Status Engine::ReportTelemetry(const EndpointSample& sample, bool pinned) {
  EndpointSample resolved;
  {
    MutexLock lock(&mu_);
    // An agent's sample older than the one held (from another agent, or
    // from another replica) changes nothing.
    bool applied = false;
    AZ_RETURN_IF_ERROR(store_.Apply(sample, clock_(), pinned, /*only_newer=*/!pinned, &applied));
    if (!applied || pinned) return absl::OkStatus();
    resolved = store_.Find(sample.row.id)->sample;
  }
  if (EngineListener* listener = listener_.load()) listener->OnTelemetry(resolved);
  return absl::OkStatus();
}

absl::Status Engine::SetReplicatedTelemetry(const EndpointSample& sample, bool* applied) {
  MutexLock lock(&mu_);
  return store_.Apply(sample, clock_(), /*pinned=*/false, /*only_newer=*/true, applied);
}

void Engine::SetPolicy(const kernels::PolicyData& policy) {
  SetReplicatedPolicy(policy);
  if (EngineListener* listener = listener_.load()) listener->OnPolicy(policy);
}

void Engine::SetReplicatedPolicy(const kernels::PolicyData& policy) {
  MutexLock lock(&mu_);
  policy_ = policy;
  ++policy_version_;
}

LeaseState Engine::Leases() const {
  MutexLock lock(&mu_);
  LeaseState out;
  const std::int64_t now_ms = clock_();
  const std::int64_t now_s = now_ms / 1000;
  const std::int64_t w = policy_.window_s;
  out.window_s = w;
  out.window_start_s = now_s - ((now_s % w) + w) % w;
  const bool current = ledger_.window_start_s() == out.window_start_s;
  const std::size_t m = store_.size();
  out.ids.resize(m);
  out.tokens_capacity.resize(m);
  out.requests_capacity.resize(m);
  out.tokens_reserved.assign(m, 0);
  out.requests_reserved.assign(m, 0);
  out.tokens_granted.assign(m, 0);
  out.requests_granted.assign(m, 0);
  out.next_tokens_granted.assign(m, 0);
  out.next_requests_granted.assign(m, 0);
  out.tokens_priced.assign(m, 0);
  out.requests_priced.assign(m, 0);
  if (last_solution_) {
    const kernels::Prices& prices = last_solution_->prices;
    for (std::size_t p = 0; p < m && p < prices.per_token.size() && p < prices.per_request.size(); ++p) {
      out.tokens_priced[p] = prices.per_token[p] > 0;
      out.requests_priced[p] = prices.per_request[p] > 0;
    }
  }
  if (current && tenants_.window_start_s() == out.window_start_s) out.tenant_leases = tenants_.Leases();
  if (current && tenants_.leased()) {
    // The tenants the policy names are leased before they are met, so that
    // a named tenant's first request on this replica finds a grant (the
    // first is small: see Cluster). A tenant only the default limit covers
    // is leased when it is first refused. Tenants are taken ahead only
    // while the ledger holds fewer than half the tenants it keeps, so that
    // named tenants that do not come leave room for those that do.
    absl::flat_hash_set<std::string> listed;
    for (const TenantLedger::Lease& l : out.tenant_leases) listed.insert(l.tenant);
    for (const auto& [tenant, limit] : policy_.tenant_limits) {
      if (out.tenant_leases.size() >= TenantLedger::kMaxLeasedTenants / 2) break;
      if (limit.unlimited() || listed.contains(tenant)) continue;
      out.tenant_leases.emplace_back().tenant = tenant;
    }
  }
  out.tenant_limits.reserve(out.tenant_leases.size());
  for (const TenantLedger::Lease& l : out.tenant_leases) out.tenant_limits.push_back(TenantLimitOf(l.tenant));
  for (std::size_t p = 0; p < m; ++p) {
    const TelemetryStore::Entry& e = store_.at(p);
    out.ids[p] = e.sample.row.id;
    // An endpoint that is unavailable needs no grant.
    const bool available = store_.Available(p, now_ms, policy_.telemetry_ttl_s);
    out.tokens_capacity[p] = available ? WindowTokenCapacity(e.sample, w) : 0;
    out.requests_capacity[p] = available ? WindowRequestCapacity(e.sample, w) : 0;
    if (current && p < ledger_.size()) {
      out.tokens_reserved[p] = ledger_.tokens_reserved(p);
      out.requests_reserved[p] = ledger_.requests_reserved(p);
      out.tokens_granted[p] = ledger_.tokens_granted(p);
      out.requests_granted[p] = ledger_.requests_granted(p);
      out.next_tokens_granted[p] = ledger_.next_tokens_granted(p);
      out.next_requests_granted[p] = ledger_.next_requests_granted(p);
    }
  }
  return out;
}

void Engine::SetGrants(const Grants& grants) {
  MutexLock lock(&mu_);
  ledger_.Resize(store_.size());
  ledger_.Roll(clock_() / 1000, policy_.window_s);
  for (std::size_t p = 0; p < grants.tokens.size() && p < grants.requests.size(); ++p) {
    ledger_.SetGrant(grants.window_start_s, p, grants.tokens[p], grants.requests[p]);
  }
  tenants_.Roll(ledger_.window_start_s());
  for (const auto& [tenant, grant] : grants.tenants) tenants_.SetGrant(grants.window_start_s, tenant, grant);
  if (grants.window_start_s == ledger_.window_start_s()) {
    cluster_window_s_ = grants.window_start_s;
    cluster_tokens_left_ = grants.tokens_left;
    cluster_requests_left_ = grants.requests_left;
  }
}

kernels::PolicyData Engine::policy() const {
  MutexLock lock(&mu_);
  return policy_;
}

BatchStats Engine::last_batch() const {
  MutexLock lock(&mu_);
  return last_batch_;
}

std::int64_t Engine::history_bytes() const {
  MutexLock lock(&history_mu_);
  return history_bytes_;
}

std::shared_ptr<const Engine::Context> Engine::CurrentContextLocked(std::int64_t now_ms) {
  const std::size_t m = store_.size();
  const std::int64_t now_s = now_ms / 1000;
  std::vector<std::uint8_t> available(m);
  for (std::size_t p = 0; p < m; ++p) available[p] = store_.Available(p, now_ms, policy_.telemetry_ttl_s);
  // Launch windows close with time: the gates are part of the context too.
  for (const auto& [model, until] : policy_.azure_first_until) available.push_back(now_s < until);
  ledger_.Resize(m);
  ledger_.Roll(now_s, policy_.window_s);
  if (context_ && context_->telemetry_version == store_.version() && context_->policy_version == policy_version_ &&
      context_->prices_version == prices_version_ && available == context_available_) {
    return context_;
  }
  auto ctx = std::make_shared<Context>();
  ctx->telemetry_version = store_.version();
  ctx->policy_version = policy_version_;
  ctx->prices_version = prices_version_;
  kernels::ProblemData& t = ctx->table;
  t.policy = policy_;
  t.policy.now = now_s;
  auto ids = std::make_shared<std::vector<std::string>>();
  ids->reserve(m);
  ctx->token_capacity.resize(m);
  ctx->request_capacity.resize(m);
  for (std::size_t p = 0; p < m; ++p) {
    const EndpointSample& s = store_.at(p).sample;
    kernels::EndpointRow row = s.row;
    row.healthy = available[p] != 0;
    t.AddEndpoint(row);
    ids->push_back(s.row.id);
    ctx->token_capacity[p] = WindowTokenCapacity(s, policy_.window_s);
    ctx->request_capacity[p] = WindowRequestCapacity(s, policy_.window_s);
  }
  ctx->ids = std::move(ids);
  kernels::Solution priced;
  const kernels::Solution* solution = nullptr;
  if (last_solution_) {
    priced.prices = Padded(last_solution_->prices, m);
    priced.strict_azure_price = last_solution_->strict_azure_price;
    priced.strict_reject_weight = last_solution_->strict_reject_weight;
    solution = &priced;
  }
  auto pricer = kernels::OnlinePricer::Create(t.View(), solution);
  if (!pricer.ok()) {
    // The store validates every sample and the policy is validated where it
    // is set, so this is a bug; fall back to zero prices.
    pricer = kernels::OnlinePricer::Create(t.View(), nullptr);
  }
  ctx->pricer = std::make_unique<kernels::OnlinePricer>(std::move(pricer).value());
  context_ = std::move(ctx);
  context_available_ = std::move(available);
  return context_;
}

void Engine::MapStrings(const Context& ctx, const RequestBatch& b, StringIds* ids) {
  ids->model.resize(b.strings.size());
  ids->zone.resize(b.strings.size());
  ids->needs.assign(b.strings.size(), kernels::Needs{});
  for (std::size_t k = 0; k < b.strings.size(); ++k) {
    const std::int32_t model = ctx.table.models.Find(b.strings[k]);
    const std::int32_t zone = b.strings[k].empty() ? -1 : ctx.table.zones.Find(b.strings[k]);
    ids->model[k] = model < 0 ? kernels::kUnknownId : model;
    ids->zone[k] = zone < -1 || (zone == -1 && !b.strings[k].empty()) ? kernels::kUnknownId : zone;
  }
  for (std::uint32_t k : b.requires) {
    if (k < b.strings.size() && !b.strings[k].empty()) ids->needs[k] = ctx.table.NeedsOf(FeatureNames(b.strings[k]));
  }
}

bool Engine::MapRequest(const RequestBatch& b, std::size_t i, const StringIds& ids, kernels::OnlineRequest* out) {
  out->model = ids.model[b.model[i]];
  out->zone = ids.zone[b.zone[i]];
  out->needs = i < b.requires.size() ? ids.needs[b.requires[i]] : kernels::Needs{};
  out->tokens_in = b.tokens_in[i];
  out->tokens_out = b.tokens_out[i];
  out->slo_ms = b.slo_ms[i];
  out->home_cloud = static_cast<kernels::Cloud>(b.home_cloud[i]);
  // Only Explain() maps requests that failed validation: keep the index valid.
  out->priority = static_cast<std::uint8_t>(std::min<std::uint32_t>(b.priority[i], kernels::kNumPriorities - 1));
  return out->model != kernels::kUnknownId && out->zone != kernels::kUnknownId;
}

kernels::TenantLimit Engine::TenantLimitOf(const std::string& tenant) const {
  const auto it = policy_.tenant_limits.find(tenant);
  return it == policy_.tenant_limits.end() ? policy_.default_tenant_limit : it->second;
}

void Engine::DecideOneLocked(const Context& ctx, const kernels::OnlineRequest& r, const std::string& tenant,
                             Decisions* out, std::size_t i) {
  const std::int64_t w = static_cast<std::int64_t>(r.tokens_in) + r.tokens_out;
  out->waiver_rule[i] = kernels::Rule::kEligible;
  out->tenant_limit[i] = kernels::TenantLimitKind::kNone;
  out->endpoint[i] = -1;
  out->cost[i] = RejectCost(policy_, r.priority);
  // The tenant's tokens and requests first: no endpoint can help then.
  const kernels::TenantLimit limit = TenantLimitOf(tenant);
  tenants_.Roll(ledger_.window_start_s());
  kernels::TenantLimitKind refused = tenants_.Check(tenant, limit, w, 0.0);
  if (refused != kernels::TenantLimitKind::kNone) {
    out->reason[i] = Reason::kTenantLimit;
    out->tenant_limit[i] = refused;
    tenants_.Want(tenant, limit);
    return;
  }
  const std::size_t m = ctx.token_capacity.size();
  tokens_left_.resize(m);
  requests_left_.resize(m);
  for (std::size_t p = 0; p < m; ++p) {
    tokens_left_[p] = ledger_.TokenLimit(p, ctx.token_capacity[p]) - ledger_.tokens_reserved(p);
    requests_left_[p] = ledger_.RequestLimit(p, ctx.request_capacity[p]) - ledger_.requests_reserved(p);
  }
  const double budget_left = tenants_.BudgetLeft(tenant, limit);
  const kernels::OnlineDecision d = ctx.pricer->Decide(r, tokens_left_, requests_left_, budget_left);
  if (d.endpoint >= 0 &&
      !ledger_.TryReserve(d.endpoint, w, ledger_.TokenLimit(d.endpoint, ctx.token_capacity[d.endpoint]),
                          ledger_.RequestLimit(d.endpoint, ctx.request_capacity[d.endpoint]))) {
    out->reason[i] = Reason::kCapacityExhausted;  // unreachable: Decide() only picks endpoints with room
    return;
  }
  out->reason[i] = d.reason;
  if (d.endpoint < 0) {
    if (d.reason == Reason::kTenantLimit) {
      out->tenant_limit[i] = kernels::TenantLimitKind::kBudget;
      tenants_.Want(tenant, limit);
    }
    return;
  }
  tenants_.Reserve(tenant, limit, w, d.cost);
  out->endpoint[i] = d.endpoint;
  out->cost[i] = d.cost;
  out->waiver_rule[i] = d.waiver_rule;
  out->cloud[i] = ctx.table.ep_cloud[d.endpoint];
}

std::int64_t Engine::RowBytes(const std::string& id) {
  // The id, its row in every column, its hash and its index entry.
  constexpr std::int64_t kRow = 8 * 4 + 1 + 8 + 8 + 32;
  return static_cast<std::int64_t>(sizeof(std::string) + (id.size() >= sizeof(std::string) ? id.capacity() + 1 : 0)) +
         kRow;
}

void Engine::Remember(std::uint64_t batch_id, std::shared_ptr<const Context> ctx, BatchJob* job, const Decisions& d) {
  if (options_.explain_history <= 0) return;
  const absl::Hash<std::string> hash;
  if (batch_id == 0 && job->batch.size() == 1) {
    bool appended = false;
    {
      MutexLock lock(&history_mu_);
      Record* block = history_.empty() ? nullptr : &history_.back();
      // Blocks stay small against the history, which drops whole records.
      const std::size_t cap = static_cast<std::size_t>(
          std::clamp<std::int64_t>(options_.explain_history / 16, 1, static_cast<std::int64_t>(kOnlineBlock)));
      if (block != nullptr && block->batch_id == 0 && block->context == ctx && block->endpoint.size() < cap) {
        const std::size_t strings = block->batch.strings.size();
        AppendRow(job->batch, block);
        std::int64_t bytes = RowBytes(job->batch.id[0]);
        for (std::size_t k = strings; k < block->batch.strings.size(); ++k) {
          bytes += 2 * static_cast<std::int64_t>(sizeof(std::string) + block->batch.strings[k].size()) + 16;
        }
        block->endpoint.push_back(d.endpoint[0]);
        block->reason.push_back(d.reason[0]);
        if (d.reason[0] == Reason::kTenantLimit || !block->tenant_limit.empty()) {
          block->tenant_limit.resize(block->reason.size() - 1, kernels::TenantLimitKind::kNone);
          block->tenant_limit.push_back(d.tenant_limit.empty() ? kernels::TenantLimitKind::kNone : d.tenant_limit[0]);
        }
        block->cost.push_back(d.cost[0]);
        block->id_hash.push_back(hash(job->batch.id[0]));
        block->bytes += bytes;
        history_bytes_ += bytes;
        ++history_requests_;
        index_[block->id_hash.back()] = Where{block->seq, static_cast<std::uint32_t>(block->endpoint.size() - 1)};
        appended = true;
      }
    }
    if (appended) {
      TrimHistory();
      return;
    }
  }
  // A new record, built outside the lock.
  Record rec;
  rec.batch_id = batch_id;
  rec.context = std::move(ctx);
  rec.batch = std::move(job->batch);
  CompactStrings(&rec.batch);
  rec.endpoint = d.endpoint;
  rec.reason = d.reason;
  rec.cost = d.cost;
  if (std::find(d.reason.begin(), d.reason.end(), Reason::kTenantLimit) != d.reason.end()) {
    rec.tenant_limit = d.tenant_limit;
  }
  const std::size_t n = rec.endpoint.size();
  rec.id_hash.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    rec.id_hash[i] = hash(rec.batch.id[i]);
    rec.bytes += RowBytes(rec.batch.id[i]);
  }
  for (const std::string& text : rec.batch.strings) {
    rec.bytes += static_cast<std::int64_t>(sizeof(std::string) + text.size());
  }
  if (batch_id == 0) {
    // An online record can become a block: index its strings.
    for (std::size_t k = 0; k < rec.batch.strings.size(); ++k) {
      rec.strings.emplace(rec.batch.strings[k], static_cast<std::uint32_t>(k));
      rec.bytes += static_cast<std::int64_t>(sizeof(std::string) + rec.batch.strings[k].size()) + 16;
    }
  }
  std::uint64_t seq;
  {
    MutexLock lock(&history_mu_);
    seq = rec.seq = first_seq_ + history_.size();
    history_requests_ += static_cast<std::int64_t>(n);
    history_bytes_ += rec.bytes;
    history_.push_back(std::move(rec));
  }
  // The index in chunks, so that a large batch does not hold up Explain()
  // and online decisions; the call is answered only after this returns.
  for (std::size_t begin = 0; begin < n; begin += kIndexChunk) {
    MutexLock lock(&history_mu_);
    if (seq < first_seq_) break;  // already dropped again
    const Record& r = history_[seq - first_seq_];
    const std::size_t end = std::min(n, begin + kIndexChunk);
    for (std::size_t i = begin; i < end; ++i) index_[r.id_hash[i]] = Where{seq, static_cast<std::uint32_t>(i)};
  }
  TrimHistory();
}

void Engine::TrimHistory() {
  std::vector<Record> dropped;
  {
    MutexLock lock(&history_mu_);
    while ((history_.size() > 1 && history_requests_ > options_.explain_history) ||
           (!history_.empty() && history_bytes_ > options_.explain_history_bytes)) {
      history_requests_ -= static_cast<std::int64_t>(history_.front().endpoint.size());
      history_bytes_ -= history_.front().bytes;
      dropped.push_back(std::move(history_.front()));
      history_.pop_front();
      ++first_seq_;
    }
  }
  // Index entries of dropped records are unreachable already (their seq is
  // below first_seq_); erase them in chunks, unless a later decision took
  // the id over.
  for (const Record& rec : dropped) {
    for (std::size_t begin = 0; begin < rec.id_hash.size(); begin += kIndexChunk) {
      MutexLock lock(&history_mu_);
      const std::size_t end = std::min(rec.id_hash.size(), begin + kIndexChunk);
      for (std::size_t i = begin; i < end; ++i) {
        const auto it = index_.find(rec.id_hash[i]);
        if (it != index_.end() && it->second.seq == rec.seq) index_.erase(it);
      }
    }
  }
}

void Engine::AppendRow(const RequestBatch& one, Record* block) {
  RequestBatch& b = block->batch;
  auto intern = [&](std::uint32_t index) {
    const auto [it, added] = block->strings.emplace(one.strings[index], static_cast<std::uint32_t>(b.strings.size()));
    if (added) b.strings.push_back(one.strings[index]);
    return it->second;
  };
  b.id.push_back(one.id[0]);
  b.tenant.push_back(intern(one.tenant[0]));
  b.model.push_back(intern(one.model[0]));
  b.zone.push_back(intern(one.zone[0]));
  b.tokens_in.push_back(one.tokens_in[0]);
  b.tokens_out.push_back(one.tokens_out[0]);
  b.slo_ms.push_back(one.slo_ms[0]);
  b.home_cloud.push_back(one.home_cloud[0]);
  b.priority.push_back(one.priority[0]);
  b.requires.push_back(intern(one.requires[0]));
}

Decisions Engine::DecideOnline(BatchJob* job) {
  const RequestBatch& b = job->batch;
  const std::size_t n = b.size();
  Decisions d;
  d.endpoint.assign(n, -1);
  d.reason.assign(n, Reason::kInvalidRequest);
  d.cost.assign(n, 0.0);
  d.cloud.assign(n, kernels::Cloud::kOther);
  d.waiver_rule.assign(n, kernels::Rule::kEligible);
  d.tenant_limit.assign(n, kernels::TenantLimitKind::kNone);
  d.info.online = true;
  MutexLock lock(&mu_);
  std::shared_ptr<const Context> ctx = CurrentContextLocked(clock_());
  StringIds ids;
  MapStrings(*ctx, b, &ids);
  for (std::size_t i = 0; i < n; ++i) {
    d.cost[i] = RejectCost(policy_, b.priority[i]);
    if (job->invalid[i]) continue;
    kernels::OnlineRequest r;
    if (!MapRequest(b, i, ids, &r)) {
      d.reason[i] = Reason::kNoEligibleEndpoint;
      continue;
    }
    DecideOneLocked(*ctx, r, b.strings[b.tenant[i]], &d, i);
  }
  d.endpoint_ids = ctx->ids;
  if (last_solution_) d.info.backend = last_solution_->backend;
  lock.Release();
  NoteShortage(d);
  Remember(0, std::move(ctx), job, d);
  return d;
}

void Engine::NoteShortage(const Decisions& d) const {
  EngineListener* listener = listener_.load();
  if (!options_.leased || listener == nullptr) return;
  if (std::find(d.reason.begin(), d.reason.end(), Reason::kCapacityExhausted) != d.reason.end()) {
    listener->OnShortage(true);
  } else if (std::find(d.reason.begin(), d.reason.end(), Reason::kTenantLimit) != d.reason.end()) {
    listener->OnShortage(false);
  }
}

void Engine::WantTenantsLocked(const RequestBatch& batch, const Decisions& d) {
  if (!tenants_.leased()) return;
  for (std::size_t i = 0; i < d.reason.size() && i < batch.size(); ++i) {
    if (d.reason[i] != Reason::kTenantLimit) continue;
    const std::string& tenant = batch.strings[batch.tenant[i]];
    tenants_.Want(tenant, TenantLimitOf(tenant));
  }
}

std::vector<TenantState> Engine::Tenants() const {
  MutexLock lock(&mu_);
  std::vector<TenantState> out;
  const std::int64_t now_s = clock_() / 1000;
  if (tenants_.window_start_s() < 0 || tenants_.window_start_s() + policy_.window_s <= now_s) return out;
  for (const TenantLedger::Lease& l : tenants_.Leases()) {
    TenantState& t = out.emplace_back();
    t.tenant = l.tenant;
    t.limit = TenantLimitOf(l.tenant);
    t.used = l.used;
    t.leased = tenants_.leased();
    t.granted = l.held;
  }
  return out;
}

absl::Status Engine::DecideBatch(const std::vector<BatchJob*>& jobs, std::vector<Decisions>* out) {
  std::shared_ptr<const Context> ctx;
  std::vector<std::int64_t> tokens_left, requests_left;
  std::optional<kernels::Prices> warm;
  double warm_azure_price = 0, warm_reject_weight = 0;  // the warm prices' strict tiers
  TenantLedger tenants;                                 // what tenants had used when the batch was taken
  {
    MutexLock lock(&mu_);
    ctx = CurrentContextLocked(clock_());
    tenants_.Roll(ledger_.window_start_s());
    tenants = tenants_;
    const std::size_t m = ctx->token_capacity.size();
    tokens_left.resize(m);
    requests_left.resize(m);
    for (std::size_t p = 0; p < m; ++p) {
      tokens_left[p] =
          std::max<std::int64_t>(0, ledger_.TokenLimit(p, ctx->token_capacity[p]) - ledger_.tokens_reserved(p));
      requests_left[p] =
          std::max<std::int64_t>(0, ledger_.RequestLimit(p, ctx->request_capacity[p]) - ledger_.requests_reserved(p));
    }
    if (last_solution_ && !last_solution_->prices.per_token.empty()) {
      warm = Padded(last_solution_->prices, m);
      warm_azure_price = last_solution_->strict_azure_price;
      warm_reject_weight = last_solution_->strict_reject_weight;
    }
  }

  // The solver's batch: the endpoint table with the capacity left in the
  // ledger (window_s = 60 makes capacity = limit exactly), and every request
  // that can be eligible somewhere.
  kernels::ProblemData data = ctx->table;
  data.ep_tpm = tokens_left;
  data.ep_rpm = requests_left;
  data.policy.window_s = 60;
  std::size_t total = 0;
  for (const BatchJob* job : jobs) total += job->batch.size();
  data.rq_model.reserve(total);
  data.rq_zone.reserve(total);
  data.rq_tokens_in.reserve(total);
  data.rq_tokens_out.reserve(total);
  data.rq_slo.reserve(total);
  data.rq_home.reserve(total);
  data.rq_priority.reserve(total);
  data.rq_needs.reserve(total);
  bool any_needs = false;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> where;  // (job, request) of solver row k
  where.reserve(total);
  // Requests beyond the batch's kMaxNeedSets distinct requirement sets are
  // decided online once the batch is solved.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> later;
  out->assign(jobs.size(), Decisions{});
  StringIds ids;
  // Tenants with limits get what is left of them as the batch's limits; one
  // with a limit spent is answered at once.
  data.tenants = kernels::Interner();
  data.rq_tenant.reserve(total);
  data.policy.tenant_limits.clear();
  data.policy.default_tenant_limit = kernels::TenantLimit{};
  std::vector<kernels::TenantLimitKind> spent;  // by data.tenants id
  auto tenant_id = [&](const std::string& name) {
    const std::size_t known = data.tenants.size();
    const std::int32_t id = data.tenants.Intern(name);
    if (static_cast<std::size_t>(id) == known) {
      const auto it = ctx->table.policy.tenant_limits.find(name);
      const kernels::TenantLimit limit =
          it == ctx->table.policy.tenant_limits.end() ? ctx->table.policy.default_tenant_limit : it->second;
      kernels::TenantLimit room;
      spent.push_back(tenants.Room(name, limit, &room));
      if (spent.back() == kernels::TenantLimitKind::kNone && !limit.unlimited()) data.policy.tenant_limits[name] = room;
    }
    return id;
  };
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const RequestBatch& b = jobs[j]->batch;
    const std::size_t n = b.size();
    Decisions& d = (*out)[j];
    d.endpoint.assign(n, -1);
    d.reason.assign(n, Reason::kInvalidRequest);
    d.cost.assign(n, 0.0);
    d.cloud.assign(n, kernels::Cloud::kOther);
    d.waiver_rule.assign(n, kernels::Rule::kEligible);
    d.tenant_limit.assign(n, kernels::TenantLimitKind::kNone);
    MapStrings(*ctx, b, &ids);
    for (std::size_t i = 0; i < n; ++i) {
      d.cost[i] = RejectCost(data.policy, b.priority[i]);
      if (jobs[j]->invalid[i]) continue;
      kernels::OnlineRequest r;
      if (!MapRequest(b, i, ids, &r)) {
        d.reason[i] = Reason::kNoEligibleEndpoint;
        continue;
      }
      const std::int32_t tenant = tenant_id(b.strings[b.tenant[i]]);
      if (spent[tenant] != kernels::TenantLimitKind::kNone) {
        d.reason[i] = Reason::kTenantLimit;
        d.tenant_limit[i] = spent[tenant];
        continue;
      }
      const std::int32_t needs = data.InternNeeds(r.needs);
      if (needs < 0) {
        later.emplace_back(static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(i));
        continue;
      }
      any_needs = any_needs || needs != 0;
      data.rq_needs.push_back(needs);
      data.rq_tenant.push_back(tenant);
      data.rq_model.push_back(r.model);
      data.rq_zone.push_back(r.zone);
      data.rq_tokens_in.push_back(r.tokens_in);
      data.rq_tokens_out.push_back(r.tokens_out);
      data.rq_slo.push_back(r.slo_ms);
      data.rq_home.push_back(r.home_cloud);
      data.rq_priority.push_back(r.priority);
      where.emplace_back(static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(i));
    }
  }
  if (!any_needs) data.rq_needs.clear();  // the solver's path without requirements

  kernels::SolverOptions options;
  options.backend = options_.backend;
  options.repair_rounds = options_.repair_rounds;
  options.repair_target_gap = options_.repair_target_gap;
  options.bound_passes = options_.bound_passes;
  if (warm) {
    options.initial_prices = std::move(warm);
    options.initial_strict_azure_price = warm_azure_price;
    options.initial_strict_reject_weight = warm_reject_weight;
    options.max_iterations = options_.warm_iterations;
    options.warm_target_gap = options_.warm_target_gap;
  }
  AZ_ASSIGN_OR_RETURN(kernels::Solution solution, SolveBatch(data.View(), options));

  MutexLock lock(&mu_);
  std::shared_ptr<const Context> now_ctx = CurrentContextLocked(clock_());
  std::uint32_t mapped_job = UINT32_MAX;  // the job `ids` were mapped for (against now_ctx)
  auto decide_online = [&](std::uint32_t j, std::uint32_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Decisions& d = (*out)[j];
    kernels::OnlineRequest r;
    const RequestBatch& b = jobs[j]->batch;
    if (mapped_job != j) {
      MapStrings(*now_ctx, b, &ids);
      mapped_job = j;
    }
    if (MapRequest(b, i, ids, &r)) {
      DecideOneLocked(*now_ctx, r, b.strings[b.tenant[i]], &d, i);
    } else {
      d.reason[i] = Reason::kNoEligibleEndpoint;
    }
  };
  tenants_.Roll(ledger_.window_start_s());
  for (std::size_t k = 0; k < where.size(); ++k) {
    const auto [j, i] = where[k];
    Decisions& d = (*out)[j];
    const std::int32_t p = solution.endpoint[k];
    const std::int64_t w = static_cast<std::int64_t>(data.rq_tokens_in[k]) + data.rq_tokens_out[k];
    const std::string& tenant = data.tenants.Name(data.rq_tenant[k]);
    const kernels::TenantLimit limit = TenantLimitOf(tenant);
    if (p < 0) {
      d.reason[i] = solution.reason[k];
      d.cost[i] = solution.cost[k];
      if (!solution.tenant_limit.empty()) d.tenant_limit[i] = solution.tenant_limit[k];
    } else if (now_ctx->table.ep_available[p] &&
               tenants_.Check(tenant, limit, w, solution.cost[k]) == kernels::TenantLimitKind::kNone &&
               ledger_.TryReserve(p, w, ledger_.TokenLimit(p, now_ctx->token_capacity[p]),
                                  ledger_.RequestLimit(p, now_ctx->request_capacity[p]))) {
      tenants_.Reserve(tenant, limit, w, solution.cost[k]);
      d.endpoint[i] = p;
      d.reason[i] = solution.reason[k];
      d.cost[i] = solution.cost[k];
      d.waiver_rule[i] = solution.waiver_rule[k];
      d.cloud[i] = now_ctx->table.ep_cloud[p];
    } else {
      // An online decision took the room (an endpoint's or the tenant's)
      // meanwhile, or the endpoint went away: decide this one online.
      decide_online(j, i);
    }
  }
  for (const auto& [j, i] : later) decide_online(j, i);
  for (std::size_t j = 0; j < jobs.size(); ++j) WantTenantsLocked(jobs[j]->batch, (*out)[j]);
  // The new prices: online decisions and the next batch start from them.
  kernels::Solution kept;
  kept.prices = std::move(solution.prices);
  kept.strict_azure_price = solution.strict_azure_price;
  kept.strict_reject_weight = solution.strict_reject_weight;
  kept.backend = solution.backend;
  last_solution_ = std::move(kept);
  ++prices_version_;
  std::shared_ptr<const Context> priced = CurrentContextLocked(clock_());
  const std::uint64_t batch_id = next_batch_id_++;
  last_batch_ = BatchStats{batch_id, solution.gap, solution.solve_ms, static_cast<std::int64_t>(where.size())};
  lock.Release();
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    Decisions& d = (*out)[j];
    NoteShortage(d);
    d.endpoint_ids = priced->ids;
    d.info.batch_ids = {batch_id};
    d.info.backend = solution.backend;
    d.info.gap = solution.gap;
    d.info.solver_requests = static_cast<std::int64_t>(where.size());
    d.info.iterations = solution.iterations;
    d.info.solve_ms = solution.solve_ms;
    Remember(batch_id, priced, jobs[j], d);
  }
  return absl::OkStatus();
}

absl::StatusOr<Explained> Engine::Explain(const std::string& request_id) const {
  Explained e;
  std::shared_ptr<const Context> ctx;
  RequestBatch one;  // the request's row, its strings alone
  {
    MutexLock lock(&history_mu_);
    const auto it = index_.find(absl::Hash<std::string>{}(request_id));
    if (it != index_.end() && it->second.seq >= first_seq_) {
      const Record& rec = history_[it->second.seq - first_seq_];
      const std::uint32_t i = it->second.row;
      const RequestBatch& b = rec.batch;
      if (b.id[i] == request_id) {  // not another id of the same hash
        ctx = rec.context;
        e.reason = rec.reason[i];
        e.cost = rec.cost[i];
        if (i < rec.tenant_limit.size()) e.tenant_limit = rec.tenant_limit[i];
        e.tenant = b.strings[b.tenant[i]];
        e.batch_id = rec.batch_id;
        if (rec.endpoint[i] >= 0) e.endpoint = (*ctx->ids)[rec.endpoint[i]];
        one.id = {b.id[i]};
        one.strings = {b.strings[b.tenant[i]], b.strings[b.model[i]], b.strings[b.zone[i]],
                       i < b.requires.size() ? b.strings[b.requires[i]] : std::string()};
        one.tenant = {0};
        one.model = {1};
        one.zone = {2};
        one.requires = {3};
        one.tokens_in = {b.tokens_in[i]};
        one.tokens_out = {b.tokens_out[i]};
        one.slo_ms = {b.slo_ms[i]};
        one.home_cloud = {b.home_cloud[i]};
        one.priority = {b.priority[i]};
      }
    }
  }
  if (!ctx) {
    return absl::NotFoundError(
        absl::StrCat("request '", request_id, "' is not among the last ", options_.explain_history, " decisions"));
  }
  e.request_id = request_id;
  e.model = one.strings[1];
  e.zone = one.strings[2];
  StringIds ids;
  MapStrings(*ctx, one, &ids);
  MapRequest(one, 0, ids, &e.request);
  e.requires = FeatureNames(one.strings[3]);
  e.endpoint_ids = *ctx->ids;
  e.endpoint_clouds = ctx->table.ep_cloud;
  // A request that failed validation was never priced.
  if (e.reason != Reason::kInvalidRequest) e.explanation = ctx->pricer->Explain(e.request);
  return e;
}

std::vector<EndpointState> Engine::Endpoints() const {
  MutexLock lock(&mu_);
  const std::int64_t now_ms = clock_();
  std::vector<EndpointState> out;
  out.reserve(store_.size());
  const bool same_window = ledger_.window_start_s() >= 0 && ledger_.window_start_s() + policy_.window_s > now_ms / 1000;
  for (std::size_t p = 0; p < store_.size(); ++p) {
    EndpointState s;
    s.sample = store_.at(p).sample;
    s.pinned = store_.at(p).pinned;
    s.age_s = store_.AgeSeconds(p, now_ms);
    s.available = store_.Available(p, now_ms, policy_.telemetry_ttl_s);
    s.window_start_s = ledger_.window_start_s();
    s.tokens_capacity = WindowTokenCapacity(s.sample, policy_.window_s);
    s.requests_capacity = WindowRequestCapacity(s.sample, policy_.window_s);
    if (same_window && p < ledger_.size()) {
      s.tokens_reserved = ledger_.tokens_reserved(p);
      s.requests_reserved = ledger_.requests_reserved(p);
      s.tokens_granted = ledger_.tokens_granted(p);
      s.requests_granted = ledger_.requests_granted(p);
    }
    s.leased = ledger_.leased();
    if (s.leased && same_window && cluster_window_s_ == ledger_.window_start_s() && p < cluster_tokens_left_.size() &&
        p < cluster_requests_left_.size()) {
      s.tokens_left_cluster = cluster_tokens_left_[p];
      s.requests_left_cluster = cluster_requests_left_[p];
    }
    if (last_solution_ && p < last_solution_->prices.per_token.size()) {
      s.token_price = last_solution_->prices.per_token[p];
      s.request_price = last_solution_->prices.per_request[p];
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace azimuth::scheduler
