// Copyright 2026 Azimuth authors.
#include "scheduler/cluster/cluster.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "azimuth/v1/policy.pb.h"
#include "azimuth/v1/telemetry.pb.h"
#include "scheduler/common/log.h"
#include "scheduler/common/policy.h"
#include "scheduler/common/status.h"
#include "scheduler/service/convert.h"

namespace azimuth::scheduler {

namespace {

// The scripts run atomically on the Redis server: each is one round trip and
// no other client sees a half-made change. Numbers go back to Redis through
// string.format('%d'), exact to 2^53 (capacities are clamped below it).
//
// lease: KEYS[1] the data generation (epoch: "<created_ms>-<random>"),
// KEYS[2] the time (ms) until which no new grants are made, KEYS[3] the
// window start (s) before which no new grants are made, KEYS[4..] one hash
// per (window, endpoint): gt/gr granted in all, t:<r>/r:<r> granted to
// replica r, ut:<r>/ur:<r> what r reported reserved, ct/cr the capacity.
// ARGV: replica, a new epoch, now_ms, grace_ms, live replicas, the epoch the
// replica knew, the window's start (s), how far ahead (s) grants are taken;
// then per key: ttl_ms, cap_t, cap_r, held_t, held_r, ask_t, ask_r, used_t,
// used_r, floor_t.
//
// A new epoch (Redis started empty) grants nothing for grace_ms. A replica
// that knew another epoch tells that Redis lost its data: every window that
// may have had grants before then gets none again (reservations made against
// grants Redis forgot, by replicas alive or dead, are unknown). A grant is at
// most what is left, and at most an even share of it among the live replicas
// (but at least one floor). Returns {epoch, then per key: mine_t, mine_r,
// left_t, left_r}.
constexpr const char* kLeaseScript = R"lua(
local function s(x) return string.format('%d', x) end
local now = tonumber(ARGV[3])
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[1], epoch)
  redis.call('SET', KEYS[2], s(now + tonumber(ARGV[4])))
end
if ARGV[6] ~= '' and ARGV[6] ~= epoch then
  local created = tonumber(string.match(epoch, '^(%d+)')) or now
  local before = math.floor(created / 1000) + tonumber(ARGV[8]) + 1
  if before > tonumber(redis.call('GET', KEYS[3]) or '0') then redis.call('SET', KEYS[3], s(before)) end
end
local frozen = now < tonumber(redis.call('GET', KEYS[2]) or '0') or
               tonumber(ARGV[7]) < tonumber(redis.call('GET', KEYS[3]) or '0')
local k = math.max(1, tonumber(ARGV[5]))
local me = ARGV[1]
local out = {epoch}
for i = 4, #KEYS do
  local h = KEYS[i]
  local a = 9 + (i - 4) * 10
  local cap_t, cap_r = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local held_t, held_r = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local ask_t, ask_r = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  local floor_t = tonumber(ARGV[a + 9])
  local mine_t = tonumber(redis.call('HGET', h, 't:' .. me) or '0')
  local mine_r = tonumber(redis.call('HGET', h, 'r:' .. me) or '0')
  local gt = tonumber(redis.call('HGET', h, 'gt') or '0')
  local gr = tonumber(redis.call('HGET', h, 'gr') or '0')
  -- What this replica holds but Redis lost is counted again first.
  if held_t > mine_t then gt = gt + held_t - mine_t; mine_t = held_t end
  if held_r > mine_r then gr = gr + held_r - mine_r; mine_r = held_r end
  if not frozen then
    local left_t, left_r = cap_t - gt, cap_r - gr
    if ask_t > 0 and left_t > 0 then
      local g = math.min(ask_t, left_t, math.max(math.ceil(left_t / k), floor_t))
      gt = gt + g; mine_t = mine_t + g
    end
    if ask_r > 0 and left_r > 0 then
      local g = math.min(ask_r, left_r, math.max(math.ceil(left_r / k), 1))
      gr = gr + g; mine_r = mine_r + g
    end
  end
  redis.call('HSET', h, 'gt', s(gt), 'gr', s(gr), 't:' .. me, s(mine_t), 'r:' .. me, s(mine_r),
             'ut:' .. me, ARGV[a + 7], 'ur:' .. me, ARGV[a + 8], 'ct', ARGV[a + 1], 'cr', ARGV[a + 2])
  redis.call('PEXPIRE', h, ARGV[a])
  out[#out + 1] = s(mine_t)
  out[#out + 1] = s(mine_r)
  out[#out + 1] = s(math.max(0, cap_t - gt))
  out[#out + 1] = s(math.max(0, cap_r - gr))
end
return out
)lua";

// stranded: KEYS one lease hash each (a finished window). Returns
// {granted_t, used_t, cap_t, granted_r, used_r, cap_r} summed over the keys.
constexpr const char* kStrandedScript = R"lua(
local function s(x) return string.format('%d', x) end
local sum = {0, 0, 0, 0, 0, 0}
for i = 1, #KEYS do
  local f = redis.call('HGETALL', KEYS[i])
  for j = 1, #f, 2 do
    local name, v = f[j], tonumber(f[j + 1]) or 0
    if name == 'gt' then sum[1] = sum[1] + v
    elseif name == 'ct' then sum[3] = sum[3] + v
    elseif name == 'gr' then sum[4] = sum[4] + v
    elseif name == 'cr' then sum[6] = sum[6] + v
    elseif string.sub(name, 1, 3) == 'ut:' then sum[2] = sum[2] + v
    elseif string.sub(name, 1, 3) == 'ur:' then sum[5] = sum[5] + v
    end
  end
end
for i = 1, 6 do sum[i] = s(sum[i]) end
return sum
)lua";

// telemetry_put: KEYS[1] samples (hash id -> bytes), KEYS[2] their
// timestamps, KEYS[3] the change counter, KEYS[4] changes (zset id by
// counter). ARGV: id, timestamp_ms, bytes. Stores the sample unless an
// equally new or newer one is there; returns its change number or 0.
constexpr const char* kTelemetryScript = R"lua(
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old and tonumber(old) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local n = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[4], n, ARGV[1])
return n
)lua";

// policy_put: KEYS[1] the policy's bytes, KEYS[2] its version. ARGV: bytes,
// '1' to set it only when there is none. Returns {version, bytes} as stored.
constexpr const char* kPolicyScript = R"lua(
local v = redis.call('GET', KEYS[2])
if ARGV[2] == '1' and v then return {tonumber(v), redis.call('GET', KEYS[1])} end
redis.call('SET', KEYS[1], ARGV[1])
return {redis.call('INCR', KEYS[2]), ARGV[1]}
)lua";

enum ScriptId { kLease = 0, kStranded = 1, kTelemetry = 2, kPolicy = 3 };
constexpr const char* kScripts[] = {kLeaseScript, kStrandedScript, kTelemetryScript, kPolicyScript};

// Lua numbers are doubles.
constexpr std::int64_t kMaxCount = std::int64_t{1} << 52;

std::int64_t NowMs() { return Engine::WallClockMs(); }

// How long before a window starts its grants are taken.
std::int64_t AheadSeconds(std::int64_t window_s) {
  return std::max<std::int64_t>(1, std::min<std::int64_t>(2, window_s / 4));
}

std::int64_t ToInt(const RedisReply& r) {
  if (r.type == RedisReply::Type::kInteger) return r.integer;
  std::int64_t v = 0;
  if (!absl::SimpleAtoi(r.str, &v)) return 0;
  return v;
}

}  // namespace

void Cluster::Demand::Observe(std::int64_t tokens, std::int64_t requests, double dt) {
  if (dt > 0) {
    const double alpha = 1 - std::exp(-dt / 1.0);
    tokens_per_s += alpha * (std::max<std::int64_t>(0, tokens - tokens_reserved) / dt - tokens_per_s);
    requests_per_s += alpha * (std::max<std::int64_t>(0, requests - requests_reserved) / dt - requests_per_s);
  }
  tokens_reserved = tokens;
  requests_reserved = requests;
}

void Cluster::Demand::NewWindow() {
  tokens_reserved = requests_reserved = 0;
  reported_tokens = reported_requests = -1;
}

Cluster::Cluster(ClusterOptions options, Engine* engine)
    : options_(std::move(options)), engine_(engine), nonce_(std::random_device{}()) {}

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Start(ClusterOptions options, Engine* engine) {
  if (!ValidReplicaId(options.replica_id)) {
    return absl::InvalidArgumentError("cluster: replica_id must not be empty, or contain spaces or '|'");
  }
  if (options.interval < std::chrono::milliseconds(kMinSyncIntervalMs) ||
      options.interval > std::chrono::milliseconds(kMaxSyncIntervalMs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster: sync_interval_ms must be in [", kMinSyncIntervalMs, ", ", kMaxSyncIntervalMs, "]"));
  }
  std::unique_ptr<Cluster> c(new Cluster(std::move(options), engine));
  engine->SetListener(c.get());
  c->thread_ = std::thread([cluster = c.get()] { cluster->Run(); });
  return c;
}

Cluster::~Cluster() { Stop(); }

void Cluster::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  engine_->SetListener(nullptr);
}

void Cluster::OnTelemetry(const EndpointSample& sample) {
  MutexLock lock(&mu_);
  // Only an endpoint's newest sample matters: the outbox holds at most one
  // per endpoint.
  auto [it, added] = outbox_telemetry_.emplace(sample.row.id, sample);
  if (!added && it->second.timestamp_ms <= sample.timestamp_ms) it->second = sample;
}

void Cluster::OnPolicy(const kernels::PolicyData& policy) {
  MutexLock lock(&mu_);
  outbox_policy_ = policy;
  outbox_policy_set_ = true;
}

void Cluster::OnShortage(bool capacity) {
  if ((capacity ? shortage_ : tenant_shortage_).exchange(true)) return;  // already told
  MutexLock lock(&mu_);
  cv_.SignalAll();
}

std::vector<Peer> Cluster::Peers() const {
  MutexLock lock(&mu_);
  return peers_;
}

ClusterStats Cluster::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

std::string Cluster::LeaseKey(std::int64_t window_start_s, const std::string& endpoint) const {
  return absl::StrCat(options_.key_prefix, "lease:", window_start_s, ":", endpoint);
}

void Cluster::Run() {
  for (;;) {
    const std::int64_t started = NowMs();
    absl::Status s = Sync();
    std::chrono::milliseconds wait = options_.interval;
    if (!s.ok()) {
      redis_.reset();
      backoff_ = std::min(std::chrono::milliseconds(2000),
                          backoff_.count() == 0 ? std::chrono::milliseconds(100) : backoff_ * 2);
      wait = backoff_;
      bool log = false;
      {
        MutexLock lock(&mu_);
        ++stats_.redis_errors;
        stats_.redis_up = false;
        log = !logged_down_;
      }
      if (log) {
        Log(absl::StrCat("cluster: ", s.message(),
                         "; deciding within the grants held, retrying with back-off up to 2 s"));
        logged_down_ = true;
      }
    } else {
      if (logged_down_) Log("cluster: redis reachable again; syncing");
      logged_down_ = false;
      backoff_ = std::chrono::milliseconds(0);
      MutexLock lock(&mu_);
      stats_.redis_up = true;
    }
    const std::chrono::milliseconds spent(NowMs() - started);
    MutexLock lock(&mu_);
    if (stopping_) return;
    // A shortage cuts the wait short, but never below a quarter interval,
    // and never while Redis is failing.
    const std::chrono::milliseconds least = s.ok() ? options_.interval / 4 : wait;
    if (spent < least) cv_.WaitFor(&mu_, least - spent);
    // The flag is read under mu_, and OnShortage() signals under it: no
    // shortage is missed between the check and the wait.
    if (spent < wait && !shortage_.load() && !tenant_shortage_.load() && !stopping_) {
      cv_.WaitFor(&mu_, wait - std::max(spent, least));
    }
    if (stopping_) return;
  }
}

absl::Status Cluster::Connect() {
  AZ_ASSIGN_OR_RETURN(redis_, RedisConnection::Connect(options_.redis));
  shas_.clear();
  epoch_check_needed_ = true;
  for (const char* script : kScripts) {
    AZ_ASSIGN_OR_RETURN(RedisReply r, redis_->Command({"SCRIPT", "LOAD", script}));
    if (r.is_error()) return absl::UnavailableError(absl::StrCat("redis: SCRIPT LOAD: ", r.str));
    shas_.push_back(r.str);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RedisReply>> Cluster::Scripts(int which, const std::vector<std::string>& keys,
                                                         const std::vector<std::vector<std::string>>& calls) {
  std::vector<std::vector<std::string>> commands;
  commands.reserve(calls.size());
  for (const std::vector<std::string>& args : calls) {
    std::vector<std::string>& c = commands.emplace_back();
    c.reserve(3 + keys.size() + args.size());
    c.push_back("EVALSHA");
    c.push_back(shas_[which]);
    c.push_back(std::to_string(keys.size()));
    c.insert(c.end(), keys.begin(), keys.end());
    c.insert(c.end(), args.begin(), args.end());
  }
  AZ_ASSIGN_OR_RETURN(std::vector<RedisReply> replies, redis_->Pipeline(commands));
  if (std::any_of(replies.begin(), replies.end(),
                  [](const RedisReply& r) { return r.is_error() && r.str.rfind("NOSCRIPT", 0) == 0; })) {
    // Redis restarted (or flushed its scripts) since Connect(). The calls
    // share the script, so none of them ran (only the telemetry script is
    // pipelined, and storing a sample twice stores it once): load the script
    // and run them all again.
    AZ_ASSIGN_OR_RETURN(RedisReply loaded, redis_->Command({"SCRIPT", "LOAD", kScripts[which]}));
    if (loaded.is_error()) return absl::UnavailableError(absl::StrCat("redis: SCRIPT LOAD: ", loaded.str));
    shas_[which] = loaded.str;
    for (std::vector<std::string>& c : commands) c[1] = loaded.str;
    AZ_ASSIGN_OR_RETURN(replies, redis_->Pipeline(commands));
  }
  for (const RedisReply& r : replies) {
    if (r.is_error()) return absl::UnavailableError(absl::StrCat("redis: script failed: ", r.str));
  }
  return replies;
}

absl::StatusOr<RedisReply> Cluster::Script(int which, const std::vector<std::string>& keys,
                                           const std::vector<std::string>& args) {
  AZ_ASSIGN_OR_RETURN(std::vector<RedisReply> replies, Scripts(which, keys, {args}));
  return std::move(replies.front());
}

absl::Status Cluster::Sync() {
  if (!redis_ || !redis_->ok()) AZ_RETURN_IF_ERROR(Connect());
  const std::int64_t now_ms = NowMs();
  AZ_RETURN_IF_ERROR(Heartbeat(now_ms));
  if (!policy_seeded_) {
    // First contact: the cluster's policy wins over the config file's.
    AZ_RETURN_IF_ERROR(Script(kPolicy, {Key("policy"), Key("policy:version")},
                              {PolicyToProto(engine_->policy()).SerializeAsString(), "1"})
                           .status());
    AZ_RETURN_IF_ERROR(PollPolicy());
    policy_seeded_ = true;
  }
  const LeaseState state = engine_->Leases();
  AZ_RETURN_IF_ERROR(Lease(state, now_ms));
  AZ_RETURN_IF_ERROR(Publish());
  AZ_RETURN_IF_ERROR(PollTelemetry());
  AZ_RETURN_IF_ERROR(PollPolicy());
  if (stranded_window_s_ >= 0 &&
      now_ms / 1000 >= stranded_window_s_ + state.window_s + std::min<std::int64_t>(2, state.window_s / 4 + 1)) {
    AZ_RETURN_IF_ERROR(MeasureStranded(stranded_window_s_, stranded_ids_));
    stranded_window_s_ = -1;
  }
  last_sync_ms_ = now_ms;
  return absl::OkStatus();
}

absl::Status Cluster::Heartbeat(std::int64_t now_ms) {
  // Four times a second: replicas that start together soon know of each
  // other (grants are sized by how many there are).
  if (now_ms - last_heartbeat_ms_ < 250) return absl::OkStatus();
  AZ_ASSIGN_OR_RETURN(std::vector<RedisReply> r,
                      redis_->Pipeline({{"HSET", Key("replicas"), options_.replica_id,
                                         absl::StrCat(now_ms, "|", options_.advertise_address)},
                                        {"HGETALL", Key("replicas")}}));
  if (r[1].type != RedisReply::Type::kArray) return absl::UnavailableError("redis: HGETALL replicas: unexpected reply");
  std::vector<Peer> peers;
  std::vector<std::string> gone;
  int live = 0;
  for (std::size_t i = 0; i + 1 < r[1].elements.size(); i += 2) {
    const std::string& id = r[1].elements[i].str;
    const std::string& value = r[1].elements[i + 1].str;
    const std::size_t bar = value.find('|');
    std::int64_t seen = 0;
    if (bar == std::string::npos || !absl::SimpleAtoi(value.substr(0, bar), &seen)) continue;
    const double age_s = (now_ms - seen) / 1000.0;
    if (age_s > 60 * options_.replica_ttl_s) gone.push_back(id);
    if (age_s > options_.replica_ttl_s) continue;
    ++live;
    if (id != options_.replica_id) peers.push_back(Peer{id, value.substr(bar + 1)});
  }
  if (!gone.empty()) {
    std::vector<std::string> hdel = {"HDEL", Key("replicas")};
    hdel.insert(hdel.end(), gone.begin(), gone.end());
    AZ_RETURN_IF_ERROR(redis_->Command(hdel).status());
  }
  last_heartbeat_ms_ = now_ms;
  MutexLock lock(&mu_);
  peers_ = std::move(peers);
  stats_.live_replicas = std::max(1, live);
  return absl::OkStatus();
}

namespace {

// A tenant's rows: its tokens and requests ("tr"), its budget in micro-USD
// ("usd", as tokens; no requests).
constexpr const char* kTenantRows[] = {"tr", "usd"};

std::int64_t MicroUsd(double usd, bool up) {
  const double v = std::clamp(usd * 1e6, 0.0, static_cast<double>(kMaxCount));
  return static_cast<std::int64_t>(up ? std::ceil(v) : std::floor(v));
}

}  // namespace

absl::Status Cluster::Lease(const LeaseState& state, std::int64_t now_ms) {
  const std::size_t m = state.ids.size();
  demand_.resize(m);
  if (window_start_s_ != state.window_start_s) {
    // A new window: the last one's waste is measured once every replica has
    // reported (it lapses by itself).
    if (window_start_s_ >= 0) {
      stranded_window_s_ = window_start_s_;
      // Endpoints added since have no key for that window: they add nothing.
      stranded_ids_ = state.ids;
    }
    for (Demand& d : demand_) d.NewWindow();
    // Tenants not seen since the last window are forgotten (their rates with
    // them): the map stays as small as the tenants in use.
    absl::node_hash_map<std::string, Demand> kept;
    for (const TenantLedger::Lease& l : state.tenant_leases) {
      for (const char* row : kTenantRows) {
        const std::string name = absl::StrCat(row, ":", l.tenant);
        const auto it = tenant_demand_.find(name);
        if (it == tenant_demand_.end()) continue;
        it->second.NewWindow();
        kept.emplace(name, it->second);
      }
    }
    tenant_demand_.swap(kept);
    window_start_s_ = state.window_start_s;
  }
  // The rates of use since the last sync.
  const double dt = last_sync_ms_ > 0 ? std::max(1e-3, (now_ms - last_sync_ms_) / 1000.0) : 0;
  for (std::size_t p = 0; p < m; ++p) demand_[p].Observe(state.tokens_reserved[p], state.requests_reserved[p], dt);
  for (const TenantLedger::Lease& l : state.tenant_leases) {
    tenant_demand_[absl::StrCat("tr:", l.tenant)].Observe(l.used.tokens, l.used.requests, dt);
    tenant_demand_[absl::StrCat("usd:", l.tenant)].Observe(MicroUsd(l.used.usd, true), l.used.requests, dt);
  }
  // Every endpoint held goes into the call when the epoch must be checked
  // again (after a reconnect, and every second): if Redis lost its data,
  // what this replica holds is counted again at once.
  const bool all = epoch_.empty() || epoch_check_needed_ || now_ms - last_epoch_check_ms_ >= 1000;
  // Decisions since the last sync that found no capacity in the grants.
  const bool shortage = shortage_.exchange(false);
  tenant_shortage_.store(false);
  AZ_RETURN_IF_ERROR(LeaseWindow(state, state.window_start_s, false, all, shortage, now_ms));
  // Ahead of the roll, the next window's grant, so that its first requests
  // find capacity.
  if (now_ms / 1000 >= state.window_start_s + state.window_s - AheadSeconds(state.window_s)) {
    AZ_RETURN_IF_ERROR(LeaseWindow(state, state.window_start_s + state.window_s, true, all, false, now_ms));
  }
  if (all) {
    last_epoch_check_ms_ = now_ms;
    epoch_check_needed_ = false;
  }
  return absl::OkStatus();
}

// One lease hash in a call: an endpoint's tokens (t) and requests (r), a
// tenant's tokens and requests, or a tenant's budget (t, in micro-USD).
struct Cluster::Row {
  std::string key;
  std::int64_t cap_t = 0, cap_r = 0;      // the window's capacity, or the tenant's limit (0: none)
  std::int64_t held_t = 0, held_r = 0;    // granted to this replica
  std::int64_t used_t = 0, used_r = 0;    // reserved by it
  std::int64_t floor_t = 1;               // the smallest useful grant of t
  bool short_t = false, short_r = false;  // decisions ran out where this row binds
  Demand* demand = nullptr;
};

bool Cluster::AddRow(const Row& row, bool next, bool all, int live, std::int64_t ttl_ms, std::int64_t now_ms,
                     std::vector<std::string>* keys, std::vector<std::string>* args) {
  Demand& d = *row.demand;
  const std::int64_t head_t = row.held_t - row.used_t, head_r = row.held_r - row.used_r;
  // Short: the grant cannot take another request, or decisions ran out of
  // it where it binds (the measured rate then says nothing of the demand).
  // Then hold twice as much, and at least half an even share of what is
  // left (the script grants at most an even share).
  bool dry_t = false, dry_r = false;
  if (!next) {
    dry_t = row.held_t > 0 && (head_t < row.floor_t / 2 || row.short_t);
    dry_r = row.held_r > 0 && (head_r < 1 || row.short_r);
  }
  const std::int64_t target_t =
      std::max({row.floor_t, static_cast<std::int64_t>(std::ceil(d.tokens_per_s * options_.lease_horizon_s)),
                dry_t ? std::max(2 * row.held_t, row.held_t + d.left_tokens / (2 * live)) : std::int64_t{0}});
  const std::int64_t target_r =
      std::max({std::int64_t{1}, static_cast<std::int64_t>(std::ceil(d.requests_per_s * options_.lease_horizon_s)),
                dry_r ? std::max(2 * row.held_r, row.held_r + d.left_requests / (2 * live)) : std::int64_t{0}});
  const std::int64_t ask_t = row.cap_t > 0 && (dry_t || head_t < target_t / 2 + 1) ? target_t - head_t : 0;
  const std::int64_t ask_r = row.cap_r > 0 && (dry_r || head_r < target_r / 2 + 1) ? target_r - head_r : 0;
  const bool report =
      !next && (row.used_t != d.reported_tokens || row.used_r != d.reported_requests) && now_ms - d.reported_ms >= 1000;
  const bool holds = row.held_t > 0 || row.held_r > 0;
  if (ask_t <= 0 && ask_r <= 0 && !report && !(all && holds)) return false;
  keys->push_back(row.key);
  for (std::int64_t v :
       {ttl_ms, row.cap_t, row.cap_r, row.held_t, row.held_r, ask_t, ask_r, row.used_t, row.used_r, row.floor_t}) {
    args->push_back(std::to_string(v));
  }
  if (!next) {
    d.reported_tokens = row.used_t;
    d.reported_requests = row.used_r;
    d.reported_ms = now_ms;
  }
  return true;
}

absl::Status Cluster::LeaseWindow(const LeaseState& state, std::int64_t window_start_s, bool next, bool all,
                                  bool shortage, std::int64_t now_ms) {
  const std::size_t m = state.ids.size();
  int live = 1;
  {
    MutexLock lock(&mu_);
    live = std::max(1, stats_.live_replicas);
  }
  std::vector<std::string> keys = {Key("epoch"), Key("frozen_until"), Key("frozen_before")};
  std::vector<std::string> args = {options_.replica_id,
                                   absl::StrCat(now_ms, "-", nonce_),
                                   std::to_string(now_ms),
                                   std::to_string(static_cast<std::int64_t>(options_.recovery_grace_s * 1000)),
                                   std::to_string(live),
                                   epoch_,
                                   std::to_string(window_start_s),
                                   std::to_string(AheadSeconds(state.window_s))};
  // The rows in the call: an endpoint's index, or a tenant's index in
  // state.tenant_leases and which of its rows.
  struct Sent {
    std::size_t index;
    int tenant_row;  // -1: an endpoint
  };
  std::vector<Sent> rows;
  std::vector<Demand*> demands;
  // A grant lapses with its window; the key stays a window longer, for the
  // waste measurement.
  const std::int64_t ttl_ms = std::max<std::int64_t>(
      1000, (window_start_s + 2 * state.window_s) * 1000 - now_ms + 10 * options_.interval.count());
  for (std::size_t p = 0; p < m; ++p) {
    Demand& d = demand_[p];
    Row row;
    row.key = LeaseKey(window_start_s, state.ids[p]);
    row.cap_t = std::min(kMaxCount, state.tokens_capacity[p]);
    row.cap_r = std::min(kMaxCount, state.requests_capacity[p]);
    row.held_t = next ? state.next_tokens_granted[p] : state.tokens_granted[p];
    row.held_r = next ? state.next_requests_granted[p] : state.requests_granted[p];
    row.used_t = next ? 0 : state.tokens_reserved[p];
    row.used_r = next ? 0 : state.requests_reserved[p];
    // About two requests' tokens.
    row.floor_t = std::clamp<std::int64_t>(
        d.requests_reserved > 0 ? 2 * ((d.tokens_reserved + d.requests_reserved - 1) / d.requests_reserved) : 4096, 1,
        std::max<std::int64_t>(1, row.cap_t));
    // The solver priced this grant: it binds here.
    row.short_t = shortage && state.tokens_priced[p];
    row.short_r = shortage && state.requests_priced[p];
    row.demand = &d;
    if (AddRow(row, next, all, live, ttl_ms, now_ms, &keys, &args)) {
      rows.push_back({p, -1});
      demands.push_back(&d);
    }
  }
  // Tenants' limits are leased like capacity: the limit is the row's
  // capacity, shared by every replica.
  for (std::size_t k = 0; k < state.tenant_leases.size() && k < state.tenant_limits.size(); ++k) {
    const TenantLedger::Lease& l = state.tenant_leases[k];
    const kernels::TenantLimit& limit = state.tenant_limits[k];
    const TenantLedger::Grant& held = next ? l.next_held : l.held;
    for (int which = 0; which < 2; ++which) {
      Row row;
      row.key = absl::StrCat(options_.key_prefix, "tenant:", window_start_s, ":", kTenantRows[which], ":", l.tenant);
      const std::int64_t requests = next ? 0 : l.used.requests;
      if (which == 0) {
        if (limit.tokens <= 0 && limit.requests <= 0) continue;
        row.cap_t = std::clamp<std::int64_t>(limit.tokens, 0, kMaxCount);
        row.cap_r = std::clamp<std::int64_t>(limit.requests, 0, kMaxCount);
        row.held_t = held.tokens;
        row.held_r = held.requests;
        row.used_t = next ? 0 : l.used.tokens;
        row.used_r = requests;
      } else {
        if (limit.budget_usd <= 0) continue;
        row.cap_t = MicroUsd(limit.budget_usd, false);
        row.held_t = held.micro_usd;
        row.used_t = next ? 0 : MicroUsd(l.used.usd, true);
      }
      // About two requests' worth; before any use, a 64th of the limit.
      row.floor_t = std::clamp<std::int64_t>(
          requests > 0 ? 2 * ((row.used_t + requests - 1) / requests) : std::max<std::int64_t>(4096, row.cap_t / 64), 1,
          std::max<std::int64_t>(1, row.cap_t));
      row.short_t = row.short_r = !next && l.short_of_grant;
      Demand& d = tenant_demand_[absl::StrCat(kTenantRows[which], ":", l.tenant)];
      row.demand = &d;
      if (AddRow(row, next, all, live, ttl_ms, now_ms, &keys, &args)) {
        rows.push_back({k, which});
        demands.push_back(&d);
      }
    }
  }
  if (rows.empty() && !all) return absl::OkStatus();
  AZ_ASSIGN_OR_RETURN(RedisReply r, Script(kLease, keys, args));
  if (r.type != RedisReply::Type::kArray || r.elements.size() != 1 + 4 * rows.size()) {
    return absl::UnavailableError("redis: lease script: unexpected reply");
  }
  const std::string epoch = r.elements[0].str;
  const bool lost = !epoch_.empty() && epoch != epoch_;
  if (epoch_.empty() && epoch == args[1]) {
    Log(absl::StrCat("cluster: redis held no data (a new cluster, or one whose data were lost): no grants for ",
                     options_.recovery_grace_s, " s, while replicas that hold grants report"));
  }
  epoch_ = epoch;
  Grants g;
  g.window_start_s = window_start_s;
  g.tokens.assign(m, 0);
  g.requests.assign(m, 0);
  g.tokens_left.assign(m, -1);
  g.requests_left.assign(m, -1);
  absl::flat_hash_map<std::size_t, std::size_t> tenant_at;  // state.tenant_leases index -> g.tenants index
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const std::int64_t mine_t = ToInt(r.elements[1 + 4 * k]), mine_r = ToInt(r.elements[2 + 4 * k]);
    const std::int64_t left_t = ToInt(r.elements[3 + 4 * k]), left_r = ToInt(r.elements[4 + 4 * k]);
    if (!next) {
      demands[k]->left_tokens = left_t;
      demands[k]->left_requests = left_r;
    }
    const Sent& sent = rows[k];
    if (sent.tenant_row < 0) {
      g.tokens[sent.index] = mine_t;
      g.requests[sent.index] = mine_r;
      g.tokens_left[sent.index] = left_t;
      g.requests_left[sent.index] = left_r;
      continue;
    }
    auto [it, added] = tenant_at.emplace(sent.index, g.tenants.size());
    if (added) g.tenants.emplace_back(state.tenant_leases[sent.index].tenant, TenantLedger::Grant{});
    TenantLedger::Grant& grant = g.tenants[it->second].second;
    if (sent.tenant_row == 0) {
      grant.tokens = mine_t;
      grant.requests = mine_r;
    } else {
      grant.micro_usd = mine_t;
    }
  }
  engine_->SetGrants(g);
  {
    MutexLock lock(&mu_);
    ++stats_.lease_calls;
    if (!next) {
      std::int64_t granted_t = 0, granted_r = 0;
      for (std::size_t p = 0; p < m; ++p) {
        granted_t += std::max(g.tokens[p], state.tokens_granted[p]);
        granted_r += std::max(g.requests[p], state.requests_granted[p]);
      }
      stats_.tokens_granted = granted_t;
      stats_.requests_granted = granted_r;
    }
    if (lost) ++stats_.data_losses;
  }
  if (lost) {
    // This call told the cluster: no more grants for the windows Redis may
    // have granted before it lost them.
    Recovered();
  }
  return absl::OkStatus();
}

void Cluster::Recovered() {
  Log("cluster: redis lost its data (restarted empty?): deciding within the grants held until the next window; "
      "publishing telemetry and policy again");
  telemetry_cursor_ = 0;
  policy_version_ = 0;
  policy_seeded_ = false;
  const std::vector<EndpointState> endpoints = engine_->Endpoints();
  MutexLock lock(&mu_);
  for (const EndpointState& e : endpoints) {
    if (!e.pinned) outbox_telemetry_.emplace(e.sample.row.id, e.sample);
  }
}

absl::Status Cluster::Publish() {
  absl::flat_hash_map<std::string, EndpointSample> samples;
  bool policy_set = false;
  kernels::PolicyData policy;
  {
    MutexLock lock(&mu_);
    samples.swap(outbox_telemetry_);
    policy_set = outbox_policy_set_;
    policy = outbox_policy_;
    outbox_policy_set_ = false;
  }
  // What could not be published waits for the next sync, under whatever
  // arrived meanwhile (a newer sample of an endpoint wins).
  auto keep = [&] {
    MutexLock lock(&mu_);
    for (auto& [id, sample] : samples) {
      auto [it, added] = outbox_telemetry_.emplace(id, sample);
      if (!added && it->second.timestamp_ms < sample.timestamp_ms) it->second = std::move(sample);
    }
    if (policy_set && !outbox_policy_set_) {
      outbox_policy_ = policy;
      outbox_policy_set_ = true;
    }
  };
  if (!samples.empty()) {
    // One round trip for all of them.
    std::vector<std::vector<std::string>> calls;
    calls.reserve(samples.size());
    for (const auto& [id, sample] : samples) {
      calls.push_back({id, std::to_string(sample.timestamp_ms), ToProto(sample).SerializeAsString()});
    }
    absl::Status published =
        Scripts(kTelemetry, {Key("telemetry"), Key("telemetry:ts"), Key("telemetry:seq"), Key("telemetry:changes")},
                calls)
            .status();
    if (!published.ok()) {
      keep();
      return published;
    }
    MutexLock lock(&mu_);
    stats_.telemetry_published += static_cast<std::int64_t>(samples.size());
  }
  samples.clear();
  if (policy_set) {
    absl::StatusOr<RedisReply> r =
        Script(kPolicy, {Key("policy"), Key("policy:version")}, {PolicyToProto(policy).SerializeAsString(), "0"});
    if (!r.ok()) {
      keep();
      return r.status();
    }
    // Our own write: no need to read it back.
    if (r->elements.size() == 2) policy_version_ = ToInt(r->elements[0]);
  }
  return absl::OkStatus();
}

absl::Status Cluster::PollTelemetry() {
  for (;;) {
    AZ_ASSIGN_OR_RETURN(RedisReply changes, redis_->Command({"ZRANGEBYSCORE", Key("telemetry:changes"),
                                                             absl::StrCat("(", telemetry_cursor_), "+inf", "WITHSCORES",
                                                             "LIMIT", "0", "1024"}));
    if (changes.type != RedisReply::Type::kArray) {
      return absl::UnavailableError("redis: ZRANGEBYSCORE: unexpected reply");
    }
    if (changes.elements.empty()) return absl::OkStatus();
    std::vector<std::string> hmget = {"HMGET", Key("telemetry")};
    std::int64_t cursor = telemetry_cursor_;
    for (std::size_t i = 0; i + 1 < changes.elements.size(); i += 2) {
      hmget.push_back(changes.elements[i].str);
      double score = 0;
      if (absl::SimpleAtod(changes.elements[i + 1].str, &score)) {
        cursor = std::max(cursor, static_cast<std::int64_t>(score));
      }
    }
    AZ_ASSIGN_OR_RETURN(RedisReply samples, redis_->Command(hmget));
    std::int64_t applied_n = 0;
    for (const RedisReply& bytes : samples.elements) {
      v1::EndpointSample msg;
      if (bytes.is_nil() || !msg.ParseFromString(bytes.str)) continue;
      absl::StatusOr<EndpointSample> sample = FromProto(msg);
      if (!sample.ok()) continue;  // another replica validated it; a newer version may differ
      bool applied = false;
      if (engine_->SetReplicatedTelemetry(*sample, &applied).ok() && applied) ++applied_n;
    }
    telemetry_cursor_ = cursor;
    {
      MutexLock lock(&mu_);
      stats_.telemetry_applied += applied_n;
    }
    if (changes.elements.size() < 2 * 1024) return absl::OkStatus();
  }
}

absl::Status Cluster::PollPolicy() {
  AZ_ASSIGN_OR_RETURN(RedisReply version, redis_->Command({"GET", Key("policy:version")}));
  if (version.is_nil()) return absl::OkStatus();
  const std::int64_t v = ToInt(version);
  if (v == policy_version_) return absl::OkStatus();
  AZ_ASSIGN_OR_RETURN(std::vector<RedisReply> r,
                      redis_->Pipeline({{"GET", Key("policy")}, {"GET", Key("policy:version")}}));
  v1::Policy msg;
  if (r[0].is_nil() || !msg.ParseFromString(r[0].str)) return absl::OkStatus();
  absl::StatusOr<kernels::PolicyData> policy = PolicyFromProto(msg, "cluster policy");
  if (!policy.ok()) {
    Log(absl::StrCat("cluster: ignoring the cluster's policy: ", policy.status().message()));
    policy_version_ = ToInt(r[1]);
    return absl::OkStatus();
  }
  engine_->SetReplicatedPolicy(*policy);
  policy_version_ = ToInt(r[1]);
  MutexLock lock(&mu_);
  ++stats_.policies_applied;
  return absl::OkStatus();
}

absl::Status Cluster::MeasureStranded(std::int64_t window_start_s, const std::vector<std::string>& ids) {
  if (ids.empty()) return absl::OkStatus();
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (const std::string& id : ids) keys.push_back(LeaseKey(window_start_s, id));
  AZ_ASSIGN_OR_RETURN(RedisReply r, Script(kStranded, keys, {}));
  if (r.type != RedisReply::Type::kArray || r.elements.size() != 6) {
    return absl::UnavailableError("redis: stranded script: unexpected reply");
  }
  std::int64_t v[6];
  for (int i = 0; i < 6; ++i) v[i] = ToInt(r.elements[i]);
  MutexLock lock(&mu_);
  stats_.stranded_tokens = v[2] > 0 ? std::max<std::int64_t>(0, v[0] - v[1]) / static_cast<double>(v[2]) : 0;
  stats_.stranded_requests = v[5] > 0 ? std::max<std::int64_t>(0, v[3] - v[4]) / static_cast<double>(v[5]) : 0;
  return absl::OkStatus();
}

}  // namespace azimuth::scheduler
