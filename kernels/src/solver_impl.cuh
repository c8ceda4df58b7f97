// Copyright 2026 Azimuth authors.
//
// solver_impl.cuh — the solver's parallel phases, written once on Thrust
// execution policies and instantiated for each backend:
//   src/omp/solver_omp.cc  (host compiler, Thrust OpenMP backend)
//   src/cuda/solver_cuda.cu (nvcc, Thrust CUDA backend)
// A backend is a small traits struct: its execution policy, its vector type,
// and how many chunks a deterministic reduction splits into.
//
// Phases: (1) group requests by class, token bucket and input-share bucket
// (one sort, reduce by key); (2) per-group eligibility (evaluated once per
// eligibility class) and compact lists of options (eligible endpoints with
// room for the group's smallest request: Room), and the blocks of the
// eligibility graph (its connected components: prices of different blocks
// do not interact); (3) smoothed dual ascent, on a coarse level that merges
// share buckets (reduce by key over the groups) while the temperature is
// high (strict mode: its first decade), and on the fine groups below (a warm start
// first probes its prices at the final temperature): each pass computes
// softmin loads, curvature and the smoothed dual value per block with a
// two-level reduction, chunks of each block's groups then a combine in
// fixed chunk order (no float atomics, so results are reproducible; the
// number of chunks grows with the groups), and the host takes a
// backtracking Newton price step per block; (4) each group's smoothed split
// at the final prices is rounded along its members' exact preference, and
// one exact pass over all requests gives the dual value (the certified
// bound) and admission keys; (5) admission per endpoint by descending
// regret (what the next-best option, another endpoint or rejection, costs
// more under the prices) with exact integer prefix sums over both
// capacities. The host then fills the capacity left (solver.cc).
#ifndef AZIMUTH_KERNELS_SRC_SOLVER_IMPL_CUH_
#define AZIMUTH_KERNELS_SRC_SOLVER_IMPL_CUH_

#include <thrust/binary_search.h>
#include <thrust/copy.h>
#include <thrust/count.h>
#include <thrust/for_each.h>
#include <thrust/functional.h>
#include <thrust/gather.h>
#include <thrust/iterator/constant_iterator.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/discard_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/iterator/zip_iterator.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>
#include <thrust/transform.h>
#include <thrust/tuple.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <vector>

#include "model.cuh"
#include "prepared.h"

namespace azimuth::kernels::internal {

// Upload()/Download(): host <-> backend copies.
template <typename Backend, typename T>
typename Backend::template Vector<T> Upload(const T* data, std::size_t n) {
  return typename Backend::template Vector<T>(data, data + n);
}
template <typename T, typename V>
std::vector<T> Download(const V& v) {
  std::vector<T> out(v.size());
  if (!out.empty()) thrust::copy(v.begin(), v.end(), out.begin());  // Thrust's copy binds *out.begin() even when empty
  return out;
}
// An empty vector's data() binds a reference to null in Thrust (UBSan
// reports it on every empty solve): empty vectors give nullptr directly.
template <typename T, typename V>
T* RawOf(V& v) {
  return v.empty() ? nullptr : thrust::raw_pointer_cast(v.data());
}
template <typename T, typename V>
const T* RawOf(const V& v) {
  return v.empty() ? nullptr : thrust::raw_pointer_cast(v.data());
}

// DeviceModel: the backend's copy of a HostModel's tables.
template <typename Backend>
struct DeviceModel {
  template <typename T>
  using Vec = typename Backend::template Vector<T>;
  Vec<std::int32_t> ep_model, ep_zone, ep_p95_rank;
  Vec<std::uint8_t> ep_available, ep_azure, launch_gated, need_unknown;
  Vec<std::uint64_t> ep_features, need_features;
  Vec<std::int32_t> ep_ctx_rank;
  Vec<std::int64_t> ctx_sorted;
  Vec<double> p95_sorted, cost_in, cost_out, cost_fixed, eff_in, eff_out, eff_fixed;
  Vec<std::int64_t> cap_tokens, cap_requests;
  std::int64_t least_tokens = 0, least_requests = 0;  // the least capacities
  ModelView view;

  explicit DeviceModel(const HostModel& h) {
    auto up = [](const auto& v) {
      using T = typename std::decay_t<decltype(v)>::value_type;
      return Upload<Backend, T>(v.data(), v.size());
    };
    ep_model = up(h.ep_model);
    ep_zone = up(h.ep_zone);
    ep_p95_rank = up(h.ep_p95_rank);
    ep_available = up(h.ep_available);
    ep_azure = up(h.ep_azure);
    launch_gated = up(h.launch_gated);
    ep_features = up(h.ep_features);
    ep_ctx_rank = up(h.ep_ctx_rank);
    ctx_sorted = up(h.ctx_sorted);
    need_features = up(h.need_features);
    need_unknown = up(h.need_unknown);
    p95_sorted = up(h.p95_sorted);
    cost_in = up(h.cost_in);
    cost_out = up(h.cost_out);
    cost_fixed = up(h.cost_fixed);
    eff_in = up(h.eff_in);
    eff_out = up(h.eff_out);
    eff_fixed = up(h.eff_fixed);
    cap_tokens = up(h.cap_tokens);
    cap_requests = up(h.cap_requests);
    if (!h.cap_tokens.empty()) {
      least_tokens = *std::min_element(h.cap_tokens.begin(), h.cap_tokens.end());
      least_requests = *std::min_element(h.cap_requests.begin(), h.cap_requests.end());
    }
    view = h.View();
    view.ep_model = RawOf<std::int32_t>(ep_model);
    view.ep_zone = RawOf<std::int32_t>(ep_zone);
    view.ep_p95_rank = RawOf<std::int32_t>(ep_p95_rank);
    view.ep_available = RawOf<std::uint8_t>(ep_available);
    view.ep_azure = RawOf<std::uint8_t>(ep_azure);
    view.launch_gated = RawOf<std::uint8_t>(launch_gated);
    view.ep_features = RawOf<std::uint64_t>(ep_features);
    view.ep_ctx_rank = RawOf<std::int32_t>(ep_ctx_rank);
    view.ctx_sorted = RawOf<std::int64_t>(ctx_sorted);
    view.need_features = RawOf<std::uint64_t>(need_features);
    view.need_unknown = RawOf<std::uint8_t>(need_unknown);
    view.p95_sorted = RawOf<double>(p95_sorted);
    view.cost_in = RawOf<double>(cost_in);
    view.cost_out = RawOf<double>(cost_out);
    view.cost_fixed = RawOf<double>(cost_fixed);
    view.eff_in = RawOf<double>(eff_in);
    view.eff_out = RawOf<double>(eff_out);
    view.eff_fixed = RawOf<double>(eff_fixed);
  }
};

// Device request columns.
struct RequestCols {
  const std::int32_t* model;
  const std::int32_t* zone;
  const std::int32_t* tokens_in;
  const std::int32_t* tokens_out;
  const std::int32_t* slo_ms;
  const std::uint8_t* home;  // Cloud values
  const std::uint8_t* priority;
  const std::int32_t* needs;  // null: no requirements in the batch
};

struct GroupKeyOf {
  ModelView m;
  RequestCols r;
  AZ_HD std::uint64_t operator()(std::int64_t i) const {
    const std::int64_t tin = r.tokens_in[i], w = tin + r.tokens_out[i];
    const RequestClass c = ClassOf(m, r.model[i], r.zone[i], r.slo_ms[i], w, r.home[i], r.priority[i],
                                   r.needs != nullptr ? r.needs[i] : 0);
    return PackKey(c, WeightBucket(w), ShareBucket(tin, w));
  }
};

struct TokensAt {
  const std::int32_t* tokens;
  AZ_HD std::int64_t operator()(std::int32_t i) const { return tokens[i]; }
};

// IsHead: 1 where a sorted key (above its lowest `shift` bits) starts a run.
struct IsHead {
  const std::uint64_t* keys;
  int shift = 0;
  AZ_HD std::int32_t operator()(std::int64_t i) const {
    return (i == 0 || (keys[i] >> shift) != (keys[i - 1] >> shift)) ? 1 : 0;
  }
};

// With tenant prices, the grouping key of request k in key order (`rank`
// holds the 1-based rank of its key above the share bits, IsHead's scan):
// [rank : 38][slot : kSlotBits][share bucket : 6]. A priced tenant's
// requests group apart, and merging share buckets (CoarseKey) still keeps
// them apart.
struct GroupingKey {
  const std::uint64_t* keys;
  const std::int32_t* order;
  const std::int32_t* slot;  // by request
  std::uint64_t* rank;       // in: the rank; out: the grouping key
  AZ_HD void operator()(std::int64_t k) const {
    rank[k] = ((rank[k] - 1) << (kShareBits + kSlotBits)) | (static_cast<std::uint64_t>(slot[order[k]]) << kShareBits) |
              (keys[k] & kShareMask);
  }
};
struct SlotOf {
  AZ_HD std::int32_t operator()(std::uint64_t grouping_key) const {
    return static_cast<std::int32_t>((grouping_key >> kShareBits) & kMaxSlots);
  }
};
// A group's sums in one reduction: its count, its input and output tokens,
// and its smallest request (Room). GroupRow is a request's row, by its
// position in `order`.
using GroupSums = thrust::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
struct GroupRow {
  const std::int32_t* tin;
  const std::int32_t* tout;
  const std::int32_t* order;
  AZ_HD GroupSums operator()(std::int64_t s) const {
    const std::int32_t i = order[s];
    const std::int64_t a = tin[i], b = tout[i];
    return GroupSums(1, a, b, a + b);
  }
};
struct AddGroupSums {
  AZ_HD GroupSums operator()(const GroupSums& x, const GroupSums& y) const {
    const std::int64_t lx = thrust::get<3>(x), ly = thrust::get<3>(y);
    return GroupSums(thrust::get<0>(x) + thrust::get<0>(y), thrust::get<1>(x) + thrust::get<1>(y),
                     thrust::get<2>(x) + thrust::get<2>(y), lx < ly ? lx : ly);
  }
};

struct MeanOf {
  AZ_HD double operator()(std::int64_t sum, std::int64_t count) const {
    return static_cast<double>(sum) / static_cast<double>(count);
  }
};

struct ScatterGroup {
  const std::int32_t* order;
  const std::int32_t* gid;
  std::int32_t* group_of;
  AZ_HD void operator()(std::int64_t i) const { group_of[order[i]] = gid[i]; }
};

// Groups with the same eligibility class (kEligibilityShift) are contiguous
// in key order. Each class evaluates the rules once, into its row of
// `elig` ([classes x M]) and its compact list of eligible endpoints; a group
// takes its class's list, less the endpoints without room for it (Room).
// Before, every group scanned an M-wide row of its own: at 512 endpoints,
// 40,960 requests made 29,624 groups, and their 15 MB of rows were half a
// server batch's time.
struct IsClassHead {
  const std::uint64_t* key;
  AZ_HD std::int32_t operator()(std::int64_t g) const {
    return (g == 0 || (key[g] >> kEligibilityShift) != (key[g - 1] >> kEligibilityShift)) ? 1 : 0;
  }
};
// Each class's first group (row[g] is group g's class).
struct ClassFirst {
  const std::uint64_t* key;
  const std::int32_t* row;
  std::int32_t* first;
  AZ_HD void operator()(std::int64_t g) const {
    if (IsClassHead{key}(g)) first[row[g]] = static_cast<std::int32_t>(g);
  }
};
// Class c's row of elig, flags and number of eligible endpoints (into
// count[c + 1]).
struct ClassSetup {
  ModelView m;
  const std::uint64_t* key;
  const std::int32_t* first;
  std::uint8_t* elig;
  std::uint8_t* flags;
  std::int64_t* count;
  AZ_HD void operator()(std::int64_t c) const {
    std::uint8_t* row = elig + c * m.num_endpoints;
    flags[c] = ClassEligibility(m, UnpackClass(m, key[first[c]]), row);
    std::int64_t n = 0;
    for (std::int32_t p = 0; p < m.num_endpoints; ++p) n += row[p];
    count[c + 1] = n;
  }
};
struct ClassList {
  const std::uint8_t* elig;
  std::int32_t num_endpoints;
  const std::int64_t* off;
  std::int32_t* list;
  AZ_HD void operator()(std::int64_t c) const {
    const std::uint8_t* row = elig + c * num_endpoints;
    std::int64_t k = off[c];
    for (std::int32_t p = 0; p < num_endpoints; ++p) {
      if (row[p]) list[k++] = p;
    }
  }
};
// Room: an endpoint is an option of a group (in its compact list) when it
// is eligible and has room for the group's smallest request: no integer
// answer can place a request where it does not fit, so the bound stays valid
// without such options. The eligibility rules (and so the reasons, the
// waiver and Explain) are the rules' alone. Without this, an endpoint a
// warm batch found full (its room 0, or a few tokens) held its old options,
// its load over that room was a relative overload of 1e6, and the solve
// restarted cold and ran to its pass cap.
// With `all` (every endpoint has room for every group's smallest request,
// the usual case) a group's options are its class's list.
struct Room {
  const std::int64_t* tokens;    // [M]
  const std::int64_t* requests;  // [M]
  const std::int64_t* min_w;     // [G]: the group's smallest request (tokens)
  bool all;
  AZ_HD bool Fits(std::int64_t g, std::int32_t p) const { return requests[p] >= 1 && tokens[p] >= min_w[g]; }
};
// Each group's flags and number of options (into eoff[g + 1]).
struct CountEligible {
  const std::int32_t* row;
  const std::uint8_t* class_flags;
  const std::int64_t* class_off;
  const std::int32_t* class_list;
  Room room;
  std::uint8_t* flags;
  std::int64_t* eoff;
  AZ_HD void operator()(std::int64_t g) const {
    const std::int32_t c = row[g];
    flags[g] = class_flags[c];
    std::int64_t n = room.all ? class_off[c + 1] - class_off[c] : 0;
    for (std::int64_t k = class_off[c]; !room.all && k < class_off[c + 1]; ++k) n += room.Fits(g, class_list[k]);
    eoff[g + 1] = n;
  }
};
struct ListEligible {
  const std::int32_t* row;
  const std::int64_t* class_off;
  const std::int32_t* class_list;
  Room room;
  const std::int64_t* eoff;
  std::int32_t* elist;
  AZ_HD void operator()(std::int64_t g) const {
    const std::int32_t c = row[g];
    std::int64_t k = eoff[g];
    for (std::int64_t j = class_off[c]; j < class_off[c + 1]; ++j) {
      const std::int32_t p = class_list[j];
      if (room.all || room.Fits(g, p)) elist[k++] = p;
    }
  }
};

// The single-request level of the certificate's passes (RunPhases): request
// i in group order takes its fine group's eligible list.
struct ListLength {
  const std::int32_t* gid;  // fine group of each request, in group order
  const std::int64_t* eoff;
  AZ_HD std::int64_t operator()(std::int64_t i) const { return eoff[gid[i] + 1] - eoff[gid[i]]; }
};
struct CopyList {
  const std::int32_t* gid;
  const std::int64_t* eoff;
  const std::int32_t* elist;
  const std::int64_t* out_off;
  std::int32_t* out;
  AZ_HD void operator()(std::int64_t i) const {
    const std::int64_t from = eoff[gid[i]], to = eoff[gid[i] + 1];
    for (std::int64_t k = from; k < to; ++k) out[out_off[i] + (k - from)] = elist[k];
  }
};

// BlockOfGroup: the block of a group's eligible endpoints (all of them are
// in one), or the empty block when it has none.
struct BlockOfGroup {
  const std::int64_t* eoff;
  const std::int32_t* elist;
  const std::int32_t* block_of;
  std::int32_t empty_block;
  AZ_HD std::int32_t operator()(std::int64_t g) const {
    return eoff[g + 1] > eoff[g] ? block_of[elist[eoff[g]]] : empty_block;
  }
};

// Groups a price-pass chunk takes in a row (PassLayout).
inline constexpr std::int64_t kRun = 32;

// PassLayout: the chunks of a price pass (the first level of its
// reduction). Groups are ordered by block (key order within one); a block's
// groups are dealt in runs of kRun to its chunks in turn (so each chunk gets
// its share of every class) and every chunk accumulates its block's sums
// only: the block's loads, the smoothed dual's request term and the block's
// curvature (Blocks). The combine then adds each sum over its block's chunks
// in chunk order. The number of chunks grows with the number of groups (up
// to the backend's kMaxPassChunks), and no result depends on how the
// backend schedules them.
template <typename Backend>
struct PassLayout {
  template <typename T>
  using Vec = typename Backend::template Vector<T>;
  std::int64_t chunks = 0;
  std::int64_t sums_width = 0;
  Vec<std::int32_t> order;         // [G]: groups by block
  Vec<std::int32_t> local;         // [M]: endpoint index within its block
  Vec<std::int32_t> schedule;      // [C]: the chunk the i-th task takes (ranks interleaved across blocks)
  Vec<std::int32_t> chunk_block;   // [C]
  Vec<std::int64_t> chunk_offset;  // [C + 1]: a chunk's partial sums
  Vec<std::int64_t> block_first;   // [B + 1]: block b's groups are order[block_first[b] ..]
  Vec<std::int32_t> block_chunk;   // [B + 1]: block b's chunks are block_chunk[b] ..
  Vec<std::int64_t> block_offset;  // [B + 1]: block b's sums
  Vec<std::int32_t> block_start;   // [B + 1]: Blocks::start
  Vec<std::uint8_t> block_dense;   // [B]

  PassLayout(const Blocks& blocks, const Vec<std::int64_t>& eoff, const Vec<std::int32_t>& elist, std::int64_t groups) {
    const auto policy = Backend::Policy();
    const std::int32_t nb = blocks.count;
    Vec<std::int32_t> block_of = Upload<Backend>(blocks.block_of.data(), blocks.block_of.size());
    Vec<std::int32_t> key(groups);
    order.resize(groups);
    const thrust::counting_iterator<std::int64_t> iota(0);
    thrust::transform(
        policy, iota, iota + groups, key.begin(),
        BlockOfGroup{RawOf<std::int64_t>(eoff), RawOf<std::int32_t>(elist), RawOf<std::int32_t>(block_of), nb - 1});
    thrust::sequence(policy, order.begin(), order.end());
    thrust::stable_sort_by_key(policy, key.begin(), key.end(), order.begin());
    Vec<std::int64_t> first(nb + 1);
    thrust::lower_bound(policy, key.begin(), key.end(), iota, iota + nb + 1, first.begin());
    const std::vector<std::int64_t> gfirst = Download<std::int64_t>(first);
    // Chunks of about `per` groups, fewer where a block's sums are wide.
    constexpr std::int64_t kMaxBlockPartial = std::int64_t{1} << 22;  // doubles per block
    const std::int64_t per =
        std::max<std::int64_t>(Backend::kMinChunk, (groups + Backend::kMaxPassChunks - 1) / Backend::kMaxPassChunks);
    std::vector<std::int32_t> c_block, b_chunk(nb + 1, 0);
    std::vector<std::int64_t> c_offset(1, 0);
    for (std::int32_t b = 0; b < nb; ++b) {
      const std::int64_t width = blocks.offset[b + 1] - blocks.offset[b];
      const std::int64_t ng = gfirst[b + 1] - gfirst[b];
      const std::int64_t want = (ng + per - 1) / per;
      const std::int64_t c = std::min(want, std::max<std::int64_t>(1, kMaxBlockPartial / width));
      for (std::int64_t j = 0; j < c; ++j) {
        c_block.push_back(b);
        c_offset.push_back(c_offset.back() + width);
      }
      b_chunk[b + 1] = static_cast<std::int32_t>(c_block.size());
    }
    chunks = static_cast<std::int64_t>(c_block.size());
    // Tasks take the blocks' chunks rank by rank, so that a backend that
    // hands each thread a contiguous range of tasks (OpenMP's static
    // schedule) gets a share of every block, whatever their costs.
    std::vector<std::int32_t> tasks;
    tasks.reserve(c_block.size());
    for (std::int32_t rank = 0; static_cast<std::int64_t>(tasks.size()) < chunks; ++rank) {
      for (std::int32_t b = 0; b < nb; ++b) {
        if (rank < b_chunk[b + 1] - b_chunk[b]) tasks.push_back(b_chunk[b] + rank);
      }
    }
    schedule = Upload<Backend>(tasks.data(), tasks.size());
    sums_width = blocks.offset[nb];
    block_first = std::move(first);
    local = Upload<Backend>(blocks.local.data(), blocks.local.size());
    chunk_block = Upload<Backend>(c_block.data(), c_block.size());
    chunk_offset = Upload<Backend>(c_offset.data(), c_offset.size());
    block_chunk = Upload<Backend>(b_chunk.data(), b_chunk.size());
    block_offset = Upload<Backend>(blocks.offset.data(), blocks.offset.size());
    block_start = Upload<Backend>(blocks.start.data(), blocks.start.size());
    block_dense = Upload<Backend>(blocks.dense.data(), blocks.dense.size());
  }
  std::int64_t partial_width() const { return chunks ? static_cast<std::int64_t>(chunk_offset.back()) : 0; }
};

// An option whose softmin weight is below exp(-kDeadShare) of its group's
// best (1.4e-11) counts as dead: no exp, no load, no curvature. At 36 (the
// double's epsilon) the passes and gaps of nine batches (8k-100k requests x
// 64-1,024 endpoints, cold and warm) were the same, and the price phase 6%
// slower (100,000 x 256); at 20, two of them took more passes.
inline constexpr double kDeadShare = 25.0;

// TenantShifts: what a group's tenant prices take off its rejection cost
// (TenantShift of its slot's prices at the group's mean tokens and least
// true cost; prepared.h, TenantPricing). Without slots, nothing.
struct TenantShifts {
  const std::int32_t* slot = nullptr;  // [G]
  const double* price = nullptr;       // [3 x slots]
  const double* least_usd = nullptr;   // [G]
  AZ_HD double Of(std::int64_t g, double w) const { return slot == nullptr ? 0.0 : Of(g, w, least_usd[g]); }
  // A member's own: its tokens and least true cost (+inf: no endpoint).
  AZ_HD double Of(std::int64_t g, double w, double least) const {
    return slot == nullptr ? 0.0 : TenantShift(price + 3 * slot[g], w, least < HUGE_VAL ? least : 0.0);
  }
};

// PricePass: one chunk of one block's groups (PassLayout) accumulates into
// its partial sums the softmin loads (tokens, requests), the smoothed dual's
// request term (sum of n * softmin) and the curvature of the smoothed dual:
// in a dense block, the full matrix
//   S = sum_g n_g (diag(pi_g) - pi_g pi_g^T) (x) [[w^2, w], [w, 1]]
// over the block's price coordinates (2i: per token, 2i+1: per request),
// built from each group's live options; otherwise only its 2x2 diagonal
// blocks; and the loads' tangent in the temperature (BlockWidth), which
// UpdatePrices' predictor needs. `scratch`, `live` and `spread` (each live
// option's priced cost over the temperature) hold one row per group (its
// eligible pairs).
// With `curvature` false only the loads and the value are summed (the
// curvature and tangent slots are left as they were): a halved step's trial
// needs no more (RunPrices), and at warm temperatures, where most of a
// dense block's options are live, that is 40% of a full pass (100,000 x 256
// strict: 4.8 against 12.5 ms).
// With tenant prices (TenantShifts) a priced tenant's group weighs its
// rejection at EffReject less its shift, and `reject_share`, when given,
// gets each group's share of rejection (UpdateTenantPrices' sums).
struct PricePass {
  ModelView m;
  const std::uint64_t* key;
  const std::int64_t* count;
  const double* tin;
  const double* tout;
  const std::int64_t* eoff;  // group g's eligible endpoints: elist[eoff[g] .. eoff[g + 1])
  const std::int32_t* elist;
  const double* lam;
  const double* mu;
  double tau;
  const std::int32_t* order;
  const std::int32_t* local;
  const std::int32_t* schedule;
  const std::int32_t* chunk_block;
  const std::int64_t* chunk_offset;
  const std::int64_t* block_first;
  const std::int32_t* block_chunk;
  const std::int32_t* block_start;
  const std::uint8_t* block_dense;
  double* scratch;
  std::int32_t* live;
  float* spread;
  double* partial;
  bool curvature;
  TenantShifts shifts;
  double* reject_share;  // [G], or null: each group's share of rejection (TenantPhase)

  AZ_HD void operator()(std::int64_t task) const {
    const std::int32_t c = schedule[task];
    const std::int32_t b = chunk_block[c], nm = block_start[b + 1] - block_start[b];
    const std::int64_t rank = c - block_chunk[b];  // among the block's chunks
    const std::int64_t stride = static_cast<std::int64_t>(block_chunk[b + 1] - block_chunk[b]) * kRun;
    const bool dense = block_dense[b] != 0;
    double* acc = partial + chunk_offset[c];
    double* value = acc + 2 * nm;
    double* curv = acc + 2 * nm + 1;
    double* tangent = acc + TangentAt(nm, dense);
    const std::int64_t width = curvature ? chunk_offset[c + 1] - chunk_offset[c] : 2 * nm + 1;
    for (std::int64_t k = 0; k < width; ++k) acc[k] = 0;
    const std::int64_t first = block_first[b], ng = block_first[b + 1] - first;
    for (std::int64_t run = rank * kRun; run < ng; run += stride) {
      const std::int64_t run_end = run + kRun < ng ? run + kRun : ng;
      for (std::int64_t t = run; t < run_end; ++t) {
        const std::int32_t g = order[first + t];
        const RequestClass cls = UnpackClass(m, key[g]);
        const double a = tin[g], bt = tout[g], w = a + bt, n = static_cast<double>(count[g]);
        const std::int32_t* e = elist + eoff[g];
        const std::int64_t ne = eoff[g + 1] - eoff[g];
        double* rc = scratch + eoff[g];
        std::int32_t* lv = live + eoff[g];
        float* xs = spread + eoff[g];
        const double reject = EffReject(m, cls.priority, w) - shifts.Of(g, w);
        double best = reject;
        for (std::int64_t q = 0; q < ne; ++q) {
          rc[q] = PricedCost(m, cls.home, a, bt, e[q], lam, mu);
          best = rc[q] < best ? rc[q] : best;
        }
        const double reject_x = (reject - best) / tau, reject_weight = exp(-reject_x);
        double z = reject_weight, zx = reject_weight * reject_x;
        for (std::int64_t q = 0; q < ne; ++q) {
          const double x = (rc[q] - best) / tau;
          rc[q] = 0.0;
          if (x < kDeadShare) {
            rc[q] = exp(-x);
            if (curvature) xs[q] = static_cast<float>(x);
          }
          z += rc[q];
          zx += rc[q] * x;
        }
        const double x_bar = zx / z;
        *value += n * (best - tau * log(z));  // the group's smoothed minimum
        if (reject_share != nullptr) reject_share[g] = reject_weight / z;
        // The live options, compacted to the front of the group's rows:
        // their shares in rc, their local indices (ascending) in lv.
        std::int64_t k = 0;
        for (std::int64_t q = 0; q < ne; ++q) {
          if (rc[q] == 0.0) continue;
          const std::int32_t i = local[e[q]];
          const double pi = rc[q] / z;
          acc[i] += n * pi * w;
          acc[nm + i] += n * pi;
          if (!curvature) continue;
          const double t = n * pi * (static_cast<double>(xs[q]) - x_bar);
          tangent[i] += t * w;
          tangent[nm + i] += t;
          if (!dense) {
            const double v = n * pi * (1.0 - pi);
            curv[i] += v * w * w;
            curv[nm + i] += v * w;
            curv[2 * nm + i] += v;
          } else {
            rc[k] = pi;
            lv[k] = i;
            ++k;
          }
        }
        // (lv[x], lv[y]) with x <= y is an upper-triangle pair: the diagonal
        // one gets n px (1 - px), the others -n px py, times (w^2, w, 1).
        for (std::int64_t x = 0; x < k; ++x) {
          double* row = curv + 3 * PackedPair(nm, lv[x], 0);
          const double px = rc[x], c = n * px, cw = c * w, cww = cw * w, own = 1.0 - px;
          double* diag = row + 3 * lv[x];
          diag[0] += cww * own;
          diag[1] += cw * own;
          diag[2] += c * own;
          for (std::int64_t y = x + 1; y < k; ++y) {
            const double py = rc[y];
            double* entry = row + 3 * lv[y];
            entry[0] -= cww * py;
            entry[1] -= cw * py;
            entry[2] -= c * py;
          }
        }
      }
    }
  }
};

// CombineChunks: sum s of the pass (in its block's layout) is the sum of
// that slot over the block's chunks, in chunk order.
struct CombineChunks {
  const double* partial;
  const std::int64_t* chunk_offset;
  const std::int32_t* block_chunk;
  const std::int64_t* block_offset;
  std::int32_t blocks;
  double* out;
  AZ_HD void operator()(std::int64_t s) const {
    std::int32_t lo = 0, hi = blocks;  // the block b with block_offset[b] <= s < block_offset[b + 1]
    while (hi - lo > 1) {
      const std::int32_t mid = (lo + hi) / 2;
      if (block_offset[mid] <= s)
        lo = mid;
      else
        hi = mid;
    }
    const std::int64_t slot = s - block_offset[lo];
    double t = 0;
    for (std::int32_t c = block_chunk[lo]; c < block_chunk[lo + 1]; ++c) t += partial[chunk_offset[c] + slot];
    out[s] = t;
  }
};

// GroupRows: a level's per-group columns (Level::Rows).
struct GroupRows {
  const std::uint64_t* key;
  const double* tin;
  const double* tout;
  const std::int64_t* eoff;  // group g's options: elist[eoff[g] .. eoff[g + 1])
  const std::int32_t* elist;
};

// GroupSplit: the smoothed split of each group over its options at the
// final prices and temperature (the fractional primal the dual ascent
// converged to), as shares per eligible endpoint (aligned with the group's
// eligible list; the rest is rejection), and the group's two largest options
// (endpoint index, or -1 for rejection).
struct GroupSplit {
  ModelView m;
  GroupRows rows;
  const double* lam;
  const double* mu;
  double tau;
  double* share;  // [pairs]
  std::int32_t* top;
  TenantShifts shifts;
  AZ_HD void operator()(std::int64_t g) const {
    const RequestClass cls = UnpackClass(m, rows.key[g]);
    const double a = rows.tin[g], b = rows.tout[g], w = a + b;
    const std::int32_t* e = rows.elist + rows.eoff[g];
    const std::int64_t ne = rows.eoff[g + 1] - rows.eoff[g];
    double* s = share + rows.eoff[g];
    const double reject = EffReject(m, cls.priority, w) - shifts.Of(g, w);
    double best = reject;
    for (std::int64_t q = 0; q < ne; ++q) {
      s[q] = PricedCost(m, cls.home, a, b, e[q], lam, mu);
      if (s[q] < best) best = s[q];
    }
    double z = exp(-(reject - best) / tau);
    for (std::int64_t q = 0; q < ne; ++q) {
      const double x = (s[q] - best) / tau;
      s[q] = x < kDeadShare ? exp(-x) : 0.0;
      z += s[q];
    }
    double first = exp(-(reject - best) / tau) / z, second = -1;
    std::int32_t t1 = -1, t2 = -1;
    for (std::int64_t q = 0; q < ne; ++q) {
      s[q] /= z;
      if (s[q] > first) {
        second = first;
        t2 = t1;
        first = s[q];
        t1 = e[q];
      } else if (s[q] > second) {
        second = s[q];
        t2 = e[q];
      }
    }
    top[2 * g] = t1;
    top[2 * g + 1] = second > 0 ? t2 : t1;
  }
};

// MemberKey: orders the members of each group by how much more they prefer
// the group's first option to its second, exactly (own token counts, final
// prices): key [group : 32][d = rc(first) - rc(second), ascending : 32].
struct MemberKey {
  ModelView m;
  RequestCols r;
  const std::int32_t* order;
  const std::int32_t* gid;
  const std::uint64_t* gkey;
  const std::int32_t* top;
  const double* lam;
  const double* mu;
  std::uint64_t* mkey;
  TenantShifts shifts;
  AZ_HD double Priced(std::int32_t g, const RequestClass& c, double tin, double tout, std::int32_t p) const {
    const double w = tin + tout;
    return p < 0 ? EffReject(m, c.priority, w) - shifts.Of(g, w) : PricedCost(m, c.home, tin, tout, p, lam, mu);
  }
  AZ_HD void operator()(std::int64_t s) const {
    const std::int32_t i = order[s], g = gid[s];
    const RequestClass c = UnpackClass(m, gkey[g]);
    const double tin = r.tokens_in[i], tout = r.tokens_out[i];
    const float d = static_cast<float>(Priced(g, c, tin, tout, top[2 * g]) - Priced(g, c, tin, tout, top[2 * g + 1]));
    std::uint32_t bits;
    memcpy(&bits, &d, sizeof(bits));
    bits = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
    mkey[s] = (static_cast<std::uint64_t>(g) << 32) | bits;
  }
};

// SplitRound: systematic rounding of each group's split over its members in
// MemberKey order: member j of n goes to the option whose cumulative share
// n*sum(pi) first exceeds j + 1/2, so each option gets its share to within
// one request. Options go: the group's first option, the other eligible
// endpoints, rejection, the group's second option last; so the members that
// prefer the first option most take it, those that prefer the second most
// take that.
struct SplitRound {
  const std::int32_t* order;
  const std::int32_t* gid;
  const std::int64_t* gstart;
  const std::int64_t* count;
  const std::int64_t* eoff;
  const std::int32_t* elist;
  const double* share;  // [pairs]
  const std::int32_t* top;
  std::int32_t* choice;
  AZ_HD void operator()(std::int64_t s) const {
    const std::int32_t g = gid[s];
    const double j = static_cast<double>(s - gstart[g]) + 0.5, n = static_cast<double>(count[g]);
    const std::int32_t* e = elist + eoff[g];
    const double* sh = share + eoff[g];
    const std::int64_t ne = eoff[g + 1] - eoff[g];
    const std::int32_t first = top[2 * g], second = top[2 * g + 1];
    double endpoints_share = 0, first_share = 0;
    for (std::int64_t q = 0; q < ne; ++q) {
      endpoints_share += sh[q];
      if (e[q] == first) first_share = sh[q];
    }
    const double reject_share = endpoints_share < 1 ? 1 - endpoints_share : 0.0;
    // Options in sequence: k = -1 is `first`, 0..ne-1 the others, ne rejection.
    double c = 0;
    std::int32_t out = second;
    for (std::int64_t k = -1; k <= ne; ++k) {
      std::int32_t option;
      double part;
      if (k < 0) {
        option = first;
        part = first < 0 ? reject_share : first_share;
      } else if (k < ne) {
        option = e[k];
        if (option == first || option == second) continue;
        part = sh[k];
      } else {
        option = -1;
        if (first == -1 || second == -1) continue;
        part = reject_share;
      }
      c += n * part;
      if (part > 0 && j < c) {
        out = option;
        break;
      }
    }
    choice[order[s]] = out;
  }
};

struct GroupStart {
  const std::int32_t* gid;
  std::int64_t* gstart;
  AZ_HD void operator()(std::int64_t s) const {
    if (s == 0 || gid[s] != gid[s - 1]) gstart[gid[s]] = s;
  }
};

// FinalPass: the exact priced minimum of every request (its term of the dual
// bound) and the admission key of its rounded choice:
// [endpoint + 1 : 16][descending regret : 48]: the regret is what the
// next-best option (another eligible endpoint or rejection, less the
// request's own TenantShift where its tenant is priced) costs more under
// the prices, so an overfull endpoint evicts the requests that lose least.
// With akey null, the dual terms only (the certificate's own prices).
struct FinalPass {
  ModelView m;
  RequestCols r;
  const std::int32_t* group_of;
  const std::uint64_t* gkey;
  const std::int64_t* eoff;
  const std::int32_t* elist;
  const double* lam;
  const double* mu;
  const std::int32_t* choice;
  double* best;
  std::uint64_t* akey;
  // With tenant limits (else null): the priced minimum over the endpoints
  // alone, and the least true cost among them (+inf without any).
  double* assign_min = nullptr;
  double* true_min = nullptr;
  // The groups' tenant slots and prices (TenantPricing; empty: none).
  TenantShifts shifts = {};
  AZ_HD void operator()(std::int64_t i) const {
    const std::int32_t g = group_of[i];
    const RequestClass cls = UnpackClass(m, gkey[g]);
    const double tin = r.tokens_in[i], tout = r.tokens_out[i], w = tin + tout;
    const std::int32_t p = choice[i];
    const double reject = EffReject(m, cls.priority, w);
    double low = reject, other = HUGE_VAL, here = reject;
    double a_min = HUGE_VAL, t_min = HUGE_VAL;
    for (std::int64_t q = eoff[g]; q < eoff[g + 1]; ++q) {
      const double rc = PricedCost(m, cls.home, tin, tout, elist[q], lam, mu);
      low = rc < low ? rc : low;
      a_min = rc < a_min ? rc : a_min;
      if (true_min != nullptr) {
        const double tc = TrueCost(m, cls.home, tin, tout, elist[q]);
        t_min = tc < t_min ? tc : t_min;
      }
      if (elist[q] == p) {
        here = rc;
      } else {
        other = rc < other ? rc : other;
      }
    }
    best[i] = low;
    if (assign_min != nullptr) assign_min[i] = a_min;
    if (true_min != nullptr) true_min[i] = t_min;
    if (akey == nullptr) return;
    const double shift = true_min != nullptr ? shifts.Of(g, w, t_min) : shifts.Of(g, w);
    other = reject - shift < other ? reject - shift : other;
    double gain = p >= 0 ? other - here : 0.0;
    gain = gain > 0 ? gain : 0.0;
    std::uint64_t bits;
    memcpy(&bits, &gain, sizeof(bits));
    const std::uint64_t descending = (static_cast<std::uint64_t>(1) << 48) - 1 - (bits >> 16);
    akey[i] = p < 0 ? 0 : (static_cast<std::uint64_t>(p + 1) << 48) | descending;
  }
};

struct SegmentOf {
  AZ_HD std::uint32_t operator()(std::uint64_t k) const { return static_cast<std::uint32_t>(k >> 48); }
};

struct Admit {
  const std::uint64_t* akey;
  const std::int32_t* order;
  const std::int64_t* prefix_tokens;
  const std::int64_t* prefix_count;
  const std::int64_t* cap_tokens;
  const std::int64_t* cap_requests;
  std::int32_t* endpoint;
  AZ_HD void operator()(std::int64_t i) const {
    const std::int32_t seg = static_cast<std::int32_t>(akey[i] >> 48);
    std::int32_t out = -1;
    if (seg > 0) {
      const std::int32_t p = seg - 1;
      out = (prefix_tokens[i] <= cap_tokens[p] && prefix_count[i] <= cap_requests[p]) ? p : -2;
    }
    endpoint[order[i]] = out;
  }
};

// A request's tokens, by its position in `order`.
struct TotalTokens {
  const std::int32_t* tin;
  const std::int32_t* tout;
  const std::int32_t* order;
  AZ_HD std::int64_t operator()(std::int64_t i) const {
    const std::int32_t j = order[i];
    return static_cast<std::int64_t>(tin[j]) + tout[j];
  }
};

struct SumRange {
  const double* data;
  std::int64_t n;
  std::int64_t chunk;
  double* out;
  AZ_HD void operator()(std::int64_t c) const {
    double t = 0;
    const std::int64_t end = (c + 1) * chunk < n ? (c + 1) * chunk : n;
    for (std::int64_t i = c * chunk; i < end; ++i) t += data[i];
    out[c] = t;
  }
};

// DeterministicSum(): chunked, combined in order on the host.
template <typename Backend>
double DeterministicSum(const double* data, std::int64_t n) {
  if (n == 0) return 0;
  const std::int64_t chunk = std::max<std::int64_t>(4096, (n + Backend::kMaxChunks - 1) / Backend::kMaxChunks);
  const std::int64_t chunks = (n + chunk - 1) / chunk;
  typename Backend::template Vector<double> partial(chunks);
  thrust::for_each_n(Backend::Policy(), thrust::counting_iterator<std::int64_t>(0), chunks,
                     SumRange{data, n, chunk, RawOf<double>(partial)});
  double total = 0;
  for (double v : Download<double>(partial)) total += v;
  return total;
}

// The price phase cools from half the mean cheapest assignment cost down to
// this fraction of it, on coarse groups until kSwitchTemperature.
inline constexpr double kFinalTemperature = 1e-5;
inline constexpr double kSwitchTemperature = 1e-2;
// Strict mode leaves the coarse level at this fraction of its start.
inline constexpr double kStrictSwitch = 0.1;
// A warm start whose probe nearly clears the loads starts over this many
// times warmer than the final temperature; one whose probe overloads an
// endpoint by more than kFarOverload (relative) solves cold from its prices
// (see RunPhases).
inline constexpr double kWarmReheat = 16;
inline constexpr double kFarOverload = 10.0;
// Near the final temperature the smoothed dual is nearly piecewise linear
// and Newton steps can fail for good: there (within kStopNear of it), loads
// that do not nearly clear within kStuckPasses passes of a cooling end the
// level at the prices of the last temperature where they did (any prices
// >= 0 give a valid certificate; the rounding uses the temperature the
// level ended at). Before, such a solve spent its passes up to the cap on
// steps that were all rejected (20,000 x 1,024, weighted: passes 196-400).
inline constexpr int kStuckPasses = 16;
inline constexpr double kStopNear = 10;
// SolverOptions::bound_passes' automatic choice: in strict mode, on batches
// up to kAutoBoundMaxRequests (see RunPhases, step 3b).
inline constexpr int kAutoBoundPasses = 10;
inline constexpr std::int64_t kAutoBoundMaxRequests = 200000;

// Level: one aggregation of the requests into groups, with each group's
// count, mean token counts, eligibility and compact eligible-endpoint list.
template <typename Backend>
struct Level {
  template <typename T>
  using Vec = typename Backend::template Vector<T>;
  std::int64_t groups = 0;
  std::int64_t pairs = 0;
  Vec<std::uint64_t> key;
  Vec<std::int64_t> count;
  Vec<double> tin, tout;
  Vec<std::int64_t> min_w;  // the group's smallest request (tokens)
  Vec<std::int32_t> head;   // the group's eligibility class: its row of elig
  Vec<std::uint8_t> elig;   // [classes x M]
  Vec<std::uint8_t> flags;
  Vec<std::int64_t> eoff;
  Vec<std::int32_t> elist;
  // With tenant prices (TenantPricing): the grouping key (key rank, slot,
  // share bucket: GroupingKey), each group's slot and its least true cost
  // over its options (TenantShifts); empty otherwise.
  Vec<std::uint64_t> sortkey;
  Vec<std::int32_t> slot;
  Vec<double> least_usd;
  GroupRows Rows() const {
    return {RawOf<std::uint64_t>(key), RawOf<double>(tin), RawOf<double>(tout), RawOf<std::int64_t>(eoff),
            RawOf<std::int32_t>(elist)};
  }
  TenantShifts Shifts(const double* price) const {
    if (slot.empty()) return {};
    return {RawOf<std::int32_t>(slot), price, RawOf<double>(least_usd)};
  }
};

// The coarse key of a fine group key: input-share buckets merged by 8.
struct CoarseKey {
  AZ_HD std::uint64_t operator()(std::uint64_t k) const {
    return (k & ~kShareMask) | ((k & kShareMask) / kCoarseShareMerge);
  }
};

// GroupLeastUsd: a group's least true cost over its options, at its mean
// token counts (0 without any): TenantShifts' budget term.
struct GroupLeastUsd {
  ModelView m;
  GroupRows rows;
  double* out;
  AZ_HD void operator()(std::int64_t g) const {
    const std::int32_t home = UnpackClass(m, rows.key[g]).home;
    double low = HUGE_VAL;
    for (std::int64_t k = rows.eoff[g]; k < rows.eoff[g + 1]; ++k) {
      const double c = TrueCost(m, home, rows.tin[g], rows.tout[g], rows.elist[k]);
      low = c < low ? c : low;
    }
    out[g] = low < HUGE_VAL ? low : 0.0;
  }
};

// FinishLevel(): means, eligibility and the lists of options (Room) from
// keys, counts, token sums and smallest requests (and, with slots, each
// group's least true cost).
template <typename Policy, typename Backend>
void FinishLevel(const Policy& policy, const DeviceModel<Backend>& dm,
                 const typename Backend::template Vector<std::int64_t>& sum_in,
                 const typename Backend::template Vector<std::int64_t>& sum_out, Level<Backend>* lv) {
  const ModelView& m = dm.view;
  const std::int64_t groups = lv->groups;
  const std::int64_t largest = groups ? thrust::reduce(policy, lv->min_w.begin(), lv->min_w.end(), std::int64_t{0},
                                                       thrust::maximum<std::int64_t>())
                                      : 0;
  const Room room{RawOf<std::int64_t>(dm.cap_tokens), RawOf<std::int64_t>(dm.cap_requests),
                  RawOf<std::int64_t>(lv->min_w), dm.least_tokens >= largest && dm.least_requests >= 1};
  const std::int32_t nm = m.num_endpoints;
  const thrust::counting_iterator<std::int64_t> iota(0);
  lv->tin.resize(groups);
  lv->tout.resize(groups);
  thrust::transform(policy, sum_in.begin(), sum_in.end(), lv->count.begin(), lv->tin.begin(), MeanOf{});
  thrust::transform(policy, sum_out.begin(), sum_out.end(), lv->count.begin(), lv->tout.begin(), MeanOf{});
  // The eligibility classes (IsClassHead): their rows and lists, then each
  // group's options from its class's list.
  lv->head.resize(groups);
  const auto class_head = thrust::make_transform_iterator(iota, IsClassHead{RawOf<std::uint64_t>(lv->key)});
  thrust::inclusive_scan(policy, class_head, class_head + groups, lv->head.begin());
  const std::int64_t classes = groups ? static_cast<std::int64_t>(lv->head.back()) : 0;
  thrust::transform(policy, lv->head.begin(), lv->head.end(), lv->head.begin(), thrust::placeholders::_1 - 1);
  typename Backend::template Vector<std::int32_t> first(classes), class_list;
  typename Backend::template Vector<std::uint8_t> class_flags(classes);
  typename Backend::template Vector<std::int64_t> class_off(classes + 1, 0);
  thrust::for_each_n(
      policy, iota, groups,
      ClassFirst{RawOf<std::uint64_t>(lv->key), RawOf<std::int32_t>(lv->head), RawOf<std::int32_t>(first)});
  lv->elig.resize(classes * nm);
  thrust::for_each_n(
      policy, iota, classes,
      ClassSetup{m, RawOf<std::uint64_t>(lv->key), RawOf<std::int32_t>(first), RawOf<std::uint8_t>(lv->elig),
                 RawOf<std::uint8_t>(class_flags), RawOf<std::int64_t>(class_off)});
  thrust::inclusive_scan(policy, class_off.begin() + 1, class_off.end(), class_off.begin() + 1);
  class_list.resize(classes ? static_cast<std::int64_t>(class_off.back()) : 0);
  thrust::for_each_n(
      policy, iota, classes,
      ClassList{RawOf<std::uint8_t>(lv->elig), nm, RawOf<std::int64_t>(class_off), RawOf<std::int32_t>(class_list)});
  lv->flags.resize(groups);
  lv->eoff.assign(groups + 1, 0);
  thrust::for_each_n(policy, iota, groups,
                     CountEligible{RawOf<std::int32_t>(lv->head), RawOf<std::uint8_t>(class_flags),
                                   RawOf<std::int64_t>(class_off), RawOf<std::int32_t>(class_list), room,
                                   RawOf<std::uint8_t>(lv->flags), RawOf<std::int64_t>(lv->eoff)});
  thrust::inclusive_scan(policy, lv->eoff.begin() + 1, lv->eoff.end(), lv->eoff.begin() + 1);
  lv->pairs = lv->eoff.back();
  lv->elist.resize(lv->pairs);
  thrust::for_each_n(
      policy, iota, groups,
      ListEligible{RawOf<std::int32_t>(lv->head), RawOf<std::int64_t>(class_off), RawOf<std::int32_t>(class_list), room,
                   RawOf<std::int64_t>(lv->eoff), RawOf<std::int32_t>(lv->elist)});
  if (!lv->slot.empty()) {
    lv->least_usd.resize(groups);
    thrust::for_each_n(policy, iota, groups, GroupLeastUsd{m, lv->Rows(), RawOf<double>(lv->least_usd)});
  }
}

// TemperatureScales: where the price phase starts and ends. The end is a
// fraction of the mean cost of a request's cheapest eligible assignment
// (forced rejections do not move prices). The start is half of that, except
// in strict mode, where the Azure tier price separates the options far more:
// there it is half the mean cost over all eligible options, so the prices
// resolve the tiers while the split is still soft.
// The coarse level runs down to `coarse_until`: a fixed fraction of the
// cost scale; in strict mode after the first decade of cooling instead,
// while its tier prices (far above the cost scale) settle: below that the
// merged share buckets are a poor guide to the tiers' fine split, and a
// later switch costs more passes than the coarse ones save (measured at
// 1M x 1024: 400 passes, the cap, with the usual switch; 248 with this one).
struct TemperatureScales {
  double start;
  double final;
  double coarse_until;
};

// GroupCostStats: per group, its requests' mean cost over their eligible
// options and their cheapest option (count x each, into [0, G) and [G, 2G)),
// and its count where it has an option ([2G, 3G)).
struct GroupCostStats {
  ModelView m;
  const std::uint64_t* key;
  const std::int64_t* count;
  const double* tin;
  const double* tout;
  const std::int64_t* eoff;
  const std::int32_t* elist;
  std::int64_t groups;
  double* out;
  AZ_HD void operator()(std::int64_t g) const {
    const std::int32_t home = UnpackClass(m, key[g]).home;
    double sum = 0, low = 0;
    for (std::int64_t k = eoff[g]; k < eoff[g + 1]; ++k) {
      const double cost = EffCost(m, home, tin[g], tout[g], elist[k]);
      sum += cost;
      low = (k == eoff[g] || cost < low) ? cost : low;
    }
    const std::int64_t options = eoff[g + 1] - eoff[g];
    const double n = options > 0 ? static_cast<double>(count[g]) : 0.0;
    out[g] = options > 0 ? n * sum / static_cast<double>(options) : 0.0;
    out[groups + g] = n * low;
    out[2 * groups + g] = n;
  }
};

template <typename Backend>
TemperatureScales Temperatures(const HostModel& host, const ModelView& m, const Level<Backend>& lv) {
  const std::int64_t groups = lv.groups;
  typename Backend::template Vector<double> stats(3 * groups);
  double* raw = RawOf<double>(stats);
  thrust::for_each_n(
      Backend::Policy(), thrust::counting_iterator<std::int64_t>(0), groups,
      GroupCostStats{m, RawOf<std::uint64_t>(lv.key), RawOf<std::int64_t>(lv.count), RawOf<double>(lv.tin),
                     RawOf<double>(lv.tout), RawOf<std::int64_t>(lv.eoff), RawOf<std::int32_t>(lv.elist), groups, raw});
  const double mean = DeterministicSum<Backend>(raw, groups);
  const double cheapest = DeterministicSum<Backend>(raw + groups, groups);
  const double counted = DeterministicSum<Backend>(raw + 2 * groups, groups);
  const bool tiered = host.strict_azure_price > 0;
  const double scale = counted == 0 ? 1e-12 : std::max(cheapest / counted, 1e-12);
  const double start = counted == 0 ? 1e-12 : 0.5 * (tiered ? std::max(mean / counted, scale) : scale);
  const double coarse_until = scale * kSwitchTemperature;
  return {start, scale * kFinalTemperature, tiered ? std::max(coarse_until, kStrictSwitch * start) : coarse_until};
}

// Bids: a warm start's correction of the endpoints its probe found off.
//
// Under binding quotas a server's batches each find endpoints that the
// window's earlier batches left with little room: at the last batch's
// prices their load is tens of times their room (up to 500x), and the
// probe sent the batch back to a cold solve. A Newton step sees only the
// groups a price splits and cannot move those prices at a cool
// temperature. Each such endpoint instead bids: it takes the price at which,
// every other price held, its load meets its capacity in the resource most
// off (per token, or per request). That is the load-weighted quantile of
// the price changes at which its groups' preference for it flips (the
// auction algorithm's bid, an exact coordinate step of the unsmoothed
// dual), with the marginal group split at the temperature. An endpoint idle
// with a price lowers it the same way. All endpoints bid at once from the
// same prices, so neighbours' bids interact; a probe after each round
// measures, and RunPrices goes on from the best probe.
inline constexpr std::int8_t kBidTokens = 1, kBidRequests = 2;

// BidKey: a bidder's option sorts by its endpoint and then by falling
// threshold (as a float: the order only; the value travels in theta).
// kNotBidding: an option of an endpoint that does not bid.
inline constexpr std::uint64_t kNotBidding = ~std::uint64_t{0};
AZ_HD inline std::uint64_t BidKey(std::int32_t p, double theta) {
  const float f = static_cast<float>(theta);
  std::uint32_t u;
  memcpy(&u, &f, sizeof u);
  u = (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);  // rises with f
  return (static_cast<std::uint64_t>(p) << 32) | ~u;
}

// BidThresholds: for each option of a group whose endpoint bids, the price
// change (in the bid's resource) at which the group's preference for that
// endpoint flips: (its best other option's priced cost - its own) / the
// units it takes there; positive while the group prefers the endpoint. And
// each option's sort key (BidKey).
struct BidThresholds {
  ModelView m;
  GroupRows rows;
  const std::int64_t* count;
  const double* lam;
  const double* mu;
  TenantShifts shifts;
  const std::int8_t* bid;  // [M]: 0, kBidTokens or kBidRequests
  std::uint64_t* sort_key;
  double* theta;
  double* weight;  // the group's load in the bid's units
  double* unit;    // what one request takes of them
  AZ_HD void operator()(std::int64_t g) const {
    const RequestClass cls = UnpackClass(m, rows.key[g]);
    const double a = rows.tin[g], bt = rows.tout[g], w = a + bt, n = static_cast<double>(count[g]);
    const std::int64_t lo = rows.eoff[g], hi = rows.eoff[g + 1];
    double best = EffReject(m, cls.priority, w) - shifts.Of(g, w), second = HUGE_VAL;
    std::int64_t arg = -1;  // rejection
    for (std::int64_t k = lo; k < hi; ++k) {
      const double c = PricedCost(m, cls.home, a, bt, rows.elist[k], lam, mu);
      theta[k] = c;  // for the loop below
      if (c < best) {
        second = best;
        best = c;
        arg = k;
      } else if (c < second) {
        second = c;
      }
    }
    for (std::int64_t k = lo; k < hi; ++k) {
      const std::int32_t p = rows.elist[k];
      if (bid[p] == 0) {
        sort_key[k] = kNotBidding;
        continue;
      }
      const double u = bid[p] == kBidTokens ? w : 1.0;
      theta[k] = ((k == arg ? second : best) - theta[k]) / u;
      sort_key[k] = BidKey(p, theta[k]);
      weight[k] = n * u;
      unit[k] = u;
    }
  }
};

struct IsBidder {
  AZ_HD bool operator()(std::uint64_t key) const { return key != kNotBidding; }
};
struct BidderOf {
  AZ_HD std::int32_t operator()(std::uint64_t key) const { return static_cast<std::int32_t>(key >> 32); }
};

// BidPrice: bidder b's price change, from its options sorted by endpoint
// and then by falling threshold, with `cum` the running load within each
// endpoint: the marginal option is the first whose running load reaches the
// capacity, split so that its share at temperature tau makes up the rest.
// -inf: the endpoint's whole demand is below its capacity (price to zero).
struct BidPrice {
  const std::int32_t* bidder;  // [B] endpoints, ascending
  const std::int64_t* first;   // [B + 1]: bidder b's options are [first[b], first[b + 1])
  const double* target;        // [M]: the capacity in the bid's resource
  const double* theta;
  const double* weight;
  const double* unit;
  const double* cum;
  double tau;
  double* delta;  // [B]
  AZ_HD void operator()(std::int64_t b) const {
    const double want = target[bidder[b]];
    const std::int64_t begin = first[b];
    std::int64_t lo = begin, hi = first[b + 1];
    if (lo == hi || cum[hi - 1] < want) {
      delta[b] = -HUGE_VAL;
      return;
    }
    while (lo < hi) {  // the first k with cum[k] >= want
      const std::int64_t mid = lo + (hi - lo) / 2;
      if (cum[mid] < want)
        lo = mid + 1;
      else
        hi = mid;
    }
    const double before = lo > begin ? cum[lo - 1] : 0.0;
    double s = (want - before) / weight[lo];
    s = s < 1e-6 ? 1e-6 : (s > 1.0 - 1e-6 ? 1.0 - 1e-6 : s);
    delta[b] = theta[lo] + tau * log((1.0 - s) / s) / unit[lo];
  }
};

// Bid(): one round of bids from a pass's sums `loads` (the block layout of
// UpdatePrices) at *lam, *mu and temperature tau: every endpoint one of
// whose loads is off by more than `off` (relative; idle capacity counts
// where it has a price) bids. Returns the number of bidders.
template <typename Backend>
std::int32_t Bid(const HostModel& host, const Blocks& blocks, const ModelView& m, const Level<Backend>& lv,
                 TenantShifts shifts, const std::vector<double>& loads, double tau, double off,
                 std::vector<double>* lam, std::vector<double>* mu) {
  using F64 = typename Backend::template Vector<double>;
  using I32 = typename Backend::template Vector<std::int32_t>;
  using I64 = typename Backend::template Vector<std::int64_t>;
  using U64 = typename Backend::template Vector<std::uint64_t>;
  const auto policy = Backend::Policy();
  const thrust::counting_iterator<std::int64_t> iota(0);
  const std::int32_t nm = host.num_endpoints;
  std::vector<std::int8_t> bid(nm, 0);
  std::vector<double> target(nm, 0.0);
  std::vector<std::int32_t> bidders;
  for (std::int32_t p = 0; p < nm; ++p) {  // ascending, as BidPrice needs
    const std::int32_t k = blocks.block_of[p], size = blocks.Size(k);
    const double* d = loads.data() + blocks.offset[k] + blocks.local[p];
    const double cap_t = static_cast<double>(host.cap_tokens[p]), cap_r = static_cast<double>(host.cap_requests[p]);
    const double el = CapacityViolation(host, d[0], cap_t, (*lam)[p], true);
    const double em = CapacityViolation(host, d[size], cap_r, (*mu)[p], false);
    if (std::max(el, em) <= off) continue;
    bid[p] = el >= em ? kBidTokens : kBidRequests;
    target[p] = el >= em ? cap_t : cap_r;
    bidders.push_back(p);
  }
  if (bidders.empty()) return 0;
  const auto d_bid = Upload<Backend>(bid.data(), bid.size());
  const F64 d_lam(lam->begin(), lam->end()), d_mu(mu->begin(), mu->end());
  U64 sort_key(lv.pairs);
  F64 theta(lv.pairs), weight(lv.pairs), unit(lv.pairs);
  thrust::for_each_n(
      policy, iota, lv.groups,
      BidThresholds{m, lv.Rows(), RawOf<std::int64_t>(lv.count), RawOf<double>(d_lam), RawOf<double>(d_mu), shifts,
                    RawOf<std::int8_t>(d_bid), RawOf<std::uint64_t>(sort_key), RawOf<double>(theta),
                    RawOf<double>(weight), RawOf<double>(unit)});
  // The bidders' options, by endpoint and then by falling threshold.
  const std::int64_t kept = thrust::count_if(policy, sort_key.begin(), sort_key.end(), IsBidder{});
  const std::int64_t nb = static_cast<std::int64_t>(bidders.size());
  std::vector<double> step(nb, -HUGE_VAL);  // no options kept: every bidder's price falls to 0, as in BidPrice
  if (kept > 0) {  // (empty device ranges are not handed to Thrust: its OpenMP copy_if binds a null reference)
    I64 idx(kept);
    U64 key(kept);
    thrust::copy_if(policy, iota, iota + lv.pairs, sort_key.begin(), idx.begin(), IsBidder{});
    thrust::gather(policy, idx.begin(), idx.end(), sort_key.begin(), key.begin());
    thrust::sort_by_key(policy, key.begin(), key.end(), idx.begin());
    F64 th(kept), wt(kept), un(kept), cum(kept);
    I32 ep(kept);
    thrust::transform(policy, key.begin(), key.end(), ep.begin(), BidderOf{});
    thrust::gather(policy, idx.begin(), idx.end(), theta.begin(), th.begin());
    thrust::gather(policy, idx.begin(), idx.end(), weight.begin(), wt.begin());
    thrust::gather(policy, idx.begin(), idx.end(), unit.begin(), un.begin());
    thrust::inclusive_scan_by_key(policy, ep.begin(), ep.end(), wt.begin(), cum.begin());
    const auto d_bidders = Upload<Backend>(bidders.data(), bidders.size());
    const auto d_target = Upload<Backend>(target.data(), target.size());
    I64 first(nb + 1, kept);  // every option kept is a bidder's: bidder b's end is b + 1's start
    F64 delta(nb);
    thrust::lower_bound(policy, ep.begin(), ep.end(), d_bidders.begin(), d_bidders.end(), first.begin());
    thrust::for_each_n(
        policy, iota, nb,
        BidPrice{RawOf<std::int32_t>(d_bidders), RawOf<std::int64_t>(first), RawOf<double>(d_target), RawOf<double>(th),
                 RawOf<double>(wt), RawOf<double>(un), RawOf<double>(cum), tau, RawOf<double>(delta)});
    step = Download<double>(delta);
  }
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::int32_t p = bidders[b];
    double& price = bid[p] == kBidTokens ? (*lam)[p] : (*mu)[p];
    price = std::max(0.0, price + step[b]);
  }
  return static_cast<std::int32_t>(nb);
}

// RunPrices(): price passes over one level from temperature *tau, cooling by
// kCooling whenever the loads have nearly cleared, until the temperature
// falls to `tau_stop` (> 0: hand over to a finer level) or, at `tau_min`,
// the loads clear to the tolerance. With `reheat` given, the first pass is a
// probe of warm prices at *tau: unless its loads already clear to the
// tolerance (then it is the last pass), its step is dropped, the endpoints
// off bid (Bid(), up to kBidRounds rounds, each probed, while the probes
// improve), and from the best probe's prices the passes start over warmer
// (a cool temperature is too sharp to correct even small price errors in
// few Newton steps): at `reheat.near` when the loads nearly clear
// (kCoolAt), at `reheat.restart` when no load exceeds its capacity by more
// than `reheat.far`. Whenever the loads then do not nearly clear within
// kSettlePasses, the temperature rises to the next of those, and then to
// `reheat.ceiling`: prices far from the batch's wander at a cool
// temperature. A probe overloaded beyond `reheat.far` (after the bids)
// returns, its step dropped and *tau at the ceiling: the caller solves cold
// from those prices. With `reheat.cut_short` (the quick look) the best
// probe may end the level there (see Reheat). Near the final temperature
// a level whose loads no longer settle ends early (kStuckPasses).
// `tenant_price` (by slot, TenantPricing; null: none) shifts the level's
// priced groups, and outside strict mode moves with the endpoint prices
// toward `tenant_limit`. Returns the passes made.
struct Reheat {
  double near = 0;  // 0: no probe
  double restart = 0;
  double ceiling = 0;
  double far = 0;
  // Set: end at the best probe after the bids (Solve's quick look), and
  // say so here, when it nearly clears the loads (kCoolAt) or a bid
  // improved on the first probe (and it is within `far`). Warm batches of
  // another draw, whose bids only made loads 0.4-1.7 off worse, took the
  // quick look to no avail: 15-60% more time for the same answers (24,576
  // requests, 64 and 512 endpoints, solver_benchmark --warm 1). Requiring
  // an improving bid alone cost the server a quarter of its throughput at
  // 512 endpoints (1.37M decisions/s against 1.83M).
  bool* cut_short = nullptr;
  double Above(double tau) const { return tau < near ? near : (tau < restart ? restart : ceiling); }
};

template <typename Backend>
int RunPrices(const HostModel& host, const Blocks& blocks, const ModelView& m, const Level<Backend>& lv,
              const SolverOptions& options, double tau_min, double tau_stop, Reheat reheat, int passes_before,
              double* tau, std::vector<double>* lam, std::vector<double>* mu, std::vector<double>* tenant_price,
              const std::vector<double>* tenant_limit) {
  using F64 = typename Backend::template Vector<double>;
  const auto policy = Backend::Policy();
  const std::int32_t nm = host.num_endpoints;
  const std::int64_t groups = lv.groups;
  if (groups == 0 || nm == 0) return 0;
  const thrust::counting_iterator<std::int64_t> iota(0);
  PassLayout<Backend> layout(blocks, lv.eoff, lv.elist, groups);
  F64 scratch(lv.pairs), partial(layout.partial_width()), sums(layout.sums_width), d_lam(nm), d_mu(nm);
  // The priced tenants' prices move with the endpoints' (TenantPhase),
  // except in strict mode, where they stay at the given ones: there the
  // joint steps were halved pass after pass and the look ran to its pass
  // cap (100,000 x 64, 100 tenants: 400 passes, 2.6e-3 certified, against
  // 88 passes and 6.0e-3 with the prices held).
  const bool tenant_step =
      tenant_price != nullptr && tenant_limit != nullptr && !lv.slot.empty() && host.strict_azure_price == 0;
  std::optional<TenantPhase> tp;
  F64 d_tprice, rshare;
  std::vector<double> shares, base_shares, base_tprice;
  if (tenant_price != nullptr) d_tprice.assign(tenant_price->begin(), tenant_price->end());
  if (tenant_step) {
    tp.emplace(Download<std::int32_t>(lv.slot), Download<std::int64_t>(lv.count), Download<double>(lv.tin),
               Download<double>(lv.tout), Download<double>(lv.least_usd), *tenant_limit);
    rshare.resize(groups);
    shares.resize(groups);
    base_shares.resize(groups);
    base_tprice = *tenant_price;
  }
  typename Backend::template Vector<std::int32_t> live(lv.pairs);
  typename Backend::template Vector<float> spread(lv.pairs);
  std::vector<double> loads(layout.sums_width), base_loads(layout.sums_width);
  // The loads have nearly cleared when no endpoint is off by more than
  // kCoolAt (relative). Without the predictor (below) each cooling threw
  // them off by about 0.5, and a damped Newton pass takes two thirds of
  // what is left away: at 0.02, four passes a temperature; at 0.04, three
  // where the fourth pass mattered little (10-25% fewer passes over the
  // robustness set of 14 batches, 8k-200k requests x 64-1,024 endpoints, the
  // same gaps; from 0.06 on some solves took twice the passes).
  constexpr double kCoolAt = 0.04, kCooling = 0.7;
  // Loads that clear to the tolerance above the final temperature (nothing
  // binds, or the prices are already right) cool ten times faster: a warm
  // server batch whose probe found one idle endpoint with a price restarted
  // at the coarse level's end and spent its 33 passes cooling by 0.7 with
  // every load clear. Over the robustness set no pass clears that early.
  constexpr double kClearedCooling = 0.1;
  constexpr int kMaxHalvings = 8;
  // Backtracking: a step is kept only if the smoothed dual value did not
  // fall (at an unchanged temperature); otherwise it is halved.
  std::vector<double> base_lam = *lam, base_mu = *mu;
  double base_value = -std::numeric_limits<double>::infinity(), base_tau = *tau;
  constexpr int kSettlePasses = 30;
  int halvings = 0, it = 0;
  // Bid rounds after a failed probe (Bids), and the best probe's prices.
  constexpr int kBidRounds = 4;
  int bids = 0, best_round = 0;
  double best_probe = HUGE_VAL;
  std::vector<double> probe_lam, probe_mu;
  // The step's reach (UpdatePrices): once a step that had to be halved h
  // times is kept, the next ones reach twice as far as it did, and each
  // full step kept widens the reach eightfold. A halved Newton step had
  // left its quadratic model behind, most often along a direction of little
  // curvature (a block's prices together against its rejections), and the
  // next full step took the same direction again: pass after pass of eight
  // halvings where the loads sat a few percent from clearing, to the pass
  // cap. Over the robustness set (8,000 and 20,000 requests x 64 endpoints
  // at loads 0.6, 0.9 and 1.5, three modes) no solve reaches the cap (one
  // did without the reach), 1,610 passes in all (before the predictor,
  // 2,522); widening x 2 or x 4 took 1,560-1,564 passes, but 100,000 x 256
  // weighted 140-159 (x 8: 113).
  // Never below half a temperature (well inside the quadratic model; a
  // reach of zero, from a step along lam * w + mu = constant, would stay
  // zero).
  constexpr double kReachGrowth = 8, kLeastReach = 0.5;
  double reach = HUGE_VAL, last_reach = 0;  // HUGE_VAL: no bound (and x 8 stays so)
  bool diagonal = false;                    // the next step uses the curvature's diagonal only
  bool settling = false;
  int settle_passes = 0;
  // The prices at the last temperature whose loads nearly cleared (see
  // kStuckPasses).
  std::vector<double> settled_lam, settled_mu, settled_tprice;
  double stall_best = HUGE_VAL, stall_tau = 0;  // see tenant_moving below
  bool tenant_moving = tenant_step;             // the tenant prices step with the endpoints'
  int stall_since = 0;
  double settled_tau = 0;
  int at_tau = 0;  // passes since the temperature last fell
  // One pass at *lam, *mu and *tau into `loads` (and the curvature with
  // `curvature`).
  auto run_pass = [&](bool curvature) {
    thrust::copy(lam->begin(), lam->end(), d_lam.begin());
    thrust::copy(mu->begin(), mu->end(), d_mu.begin());
    if (tenant_step) thrust::copy(tenant_price->begin(), tenant_price->end(), d_tprice.begin());
    thrust::for_each_n(policy, iota, layout.chunks,
                       PricePass{m,
                                 RawOf<std::uint64_t>(lv.key),
                                 RawOf<std::int64_t>(lv.count),
                                 RawOf<double>(lv.tin),
                                 RawOf<double>(lv.tout),
                                 RawOf<std::int64_t>(lv.eoff),
                                 RawOf<std::int32_t>(lv.elist),
                                 RawOf<double>(d_lam),
                                 RawOf<double>(d_mu),
                                 *tau,
                                 RawOf<std::int32_t>(layout.order),
                                 RawOf<std::int32_t>(layout.local),
                                 RawOf<std::int32_t>(layout.schedule),
                                 RawOf<std::int32_t>(layout.chunk_block),
                                 RawOf<std::int64_t>(layout.chunk_offset),
                                 RawOf<std::int64_t>(layout.block_first),
                                 RawOf<std::int32_t>(layout.block_chunk),
                                 RawOf<std::int32_t>(layout.block_start),
                                 RawOf<std::uint8_t>(layout.block_dense),
                                 RawOf<double>(scratch),
                                 RawOf<std::int32_t>(live),
                                 RawOf<float>(spread),
                                 RawOf<double>(partial),
                                 curvature,
                                 lv.Shifts(RawOf<double>(d_tprice)),
                                 tenant_step ? RawOf<double>(rshare) : nullptr});
    thrust::for_each_n(policy, iota, layout.sums_width,
                       CombineChunks{RawOf<double>(partial), RawOf<std::int64_t>(layout.chunk_offset),
                                     RawOf<std::int32_t>(layout.block_chunk), RawOf<std::int64_t>(layout.block_offset),
                                     blocks.count, RawOf<double>(sums)});
    if (layout.sums_width > 0) thrust::copy(sums.begin(), sums.end(), loads.begin());
    if (tenant_step) thrust::copy(rshare.begin(), rshare.end(), shares.begin());
  };
  for (; passes_before + it < options.max_iterations; ++it) {
    if (!settling && settled_tau > 0 && settled_tau <= kStopNear * tau_min && ++at_tau > kStuckPasses) {
      // Near the final temperature the loads did not settle after the last
      // cooling: the settled point ends the level.
      base_lam = settled_lam;
      base_mu = settled_mu;
      if (tenant_step) base_tprice = settled_tprice;
      *tau = settled_tau;
      break;
    }
    // A halved step is a trial: its value decides, and its curvature is
    // needed only once it is kept (then the pass runs again in full, with
    // the same loads and value).
    const bool trial = halvings > 0;
    run_pass(!trial);
    double value = SmoothedDualValue(host, blocks, loads, *lam, *mu) + (tenant_step ? tp->Value(*tenant_price) : 0.0);
    if (*tau == base_tau && value < base_value - 1e-12 * std::abs(base_value)) {
      if (halvings < kMaxHalvings) {
        ++halvings;
        for (std::int32_t p = 0; p < nm; ++p) {
          (*lam)[p] = base_lam[p] + 0.5 * ((*lam)[p] - base_lam[p]);
          (*mu)[p] = base_mu[p] + 0.5 * ((*mu)[p] - base_mu[p]);
        }
        if (tenant_step) {
          for (std::size_t k = 0; k < base_tprice.size(); ++k) {
            (*tenant_price)[k] = base_tprice[k] + 0.5 * ((*tenant_price)[k] - base_tprice[k]);
          }
        }
        continue;
      }
      // Even a small fraction of the step lowers the value: clipping and the
      // prices' floor at zero bent the Newton direction away from ascent.
      // Back to the last accepted prices (and their pass's sums), and from
      // there one step along the diagonally scaled gradient, which stays an
      // ascent direction.
      *lam = base_lam;
      *mu = base_mu;
      loads.swap(base_loads);
      if (tenant_step) {
        *tenant_price = base_tprice;
        shares.swap(base_shares);
      }
      value = base_value;
      diagonal = true;
    } else if (trial) {
      run_pass(true);
    }
    // The reach after this step (kept after `halvings` halvings, or full).
    reach = halvings > 0 && !diagonal ? std::max(kLeastReach, 2.0 * last_reach * std::ldexp(1.0, -halvings))
                                      : reach * kReachGrowth;
    halvings = 0;
    base_lam = *lam;
    base_mu = *mu;
    base_value = value;
    base_tau = *tau;
    base_loads.swap(loads);  // loads is free for the next pass
    double overload = PriceViolation(host, blocks, base_loads, *lam, *mu);
    // Loads that nearly cleared cool the next pass (below), and the step
    // aims at that temperature (UpdatePrices' predictor): a cooling then
    // throws the loads off by about 0.08 instead of 0.5, and a temperature
    // takes two passes instead of three or four (100,000 and 1M requests x
    // 64-1,024 endpoints, every mode: 7-45% fewer passes, gaps within 1e-3
    // and at 1M within 5e-4, with the reach below).
    // Not with tenant prices moving (their step has no predictor), nor on a
    // warm start's probe (it may bid or reheat instead).
    double cooling = 1.0;
    if (!tenant_moving && *tau > tau_min && overload > options.tolerance && overload <= kCoolAt &&
        !(it == bids && reheat.near > 0)) {
      cooling = std::max(tau_min, *tau * kCooling) / *tau;
    }
    last_reach = UpdatePrices(host, blocks, base_loads, *tau, diagonal, cooling, lam, mu, reach);
    if (tenant_step) {
      base_tprice = *tenant_price;
      base_shares.swap(shares);
      if (tenant_moving) {
        overload = std::max(overload, UpdateTenantPrices(*tp, base_shares, *tau, diagonal, tenant_price));
      }
    }
    diagonal = false;
    if (options.on_iteration) options.on_iteration(IterationInfo{passes_before + it, *tau, overload});
    if (it == bids && reheat.near > 0 && overload > options.tolerance) {
      // A probe that failed: bid from it (Bids) while the rounds improve,
      // probing each, then go on from the best probe.
      *lam = base_lam;
      *mu = base_mu;
      if (tenant_step) *tenant_price = base_tprice;
      const bool better = overload < best_probe;
      if (better) {
        best_round = bids;
        best_probe = overload;
        probe_lam = base_lam;
        probe_mu = base_mu;
      }
      if (better && bids < kBidRounds &&
          Bid(host, blocks, m, lv, lv.Shifts(RawOf<double>(d_tprice)), base_loads, *tau, kCoolAt, lam, mu) > 0) {
        ++bids;
        base_value = -std::numeric_limits<double>::infinity();  // the next probe starts a new ascent
        continue;
      }
      *lam = base_lam = probe_lam;
      *mu = base_mu = probe_mu;
      overload = best_probe;
      if (overload > reheat.far) {
        *tau = reheat.ceiling;
        ++it;
        break;
      }
      if (reheat.cut_short != nullptr && (best_round > 0 || overload <= kCoolAt)) {
        *reheat.cut_short = true;
        ++it;
        break;
      }
      *tau = overload <= kCoolAt ? reheat.near : reheat.restart;
      settling = true;
      continue;
    }
    if (settling && overload > kCoolAt && ++settle_passes >= kSettlePasses) {
      *tau = reheat.Above(*tau);
      settle_passes = 0;
      continue;
    }
    if (overload <= kCoolAt) settling = false;
    if (*tau <= tau_min && overload <= options.tolerance) {
      ++it;
      break;
    }
    // With tenant prices moving, the final temperature ends once the
    // violation stops falling (by a tenth within kStuckPasses passes): a
    // limit that few groups straddle there moves by a sliver a pass, and the
    // level ran to the pass cap at 3.5e-4 (100,000 x 256, 100 tenants), or
    // crept from 1.2e-3 to 9.7e-4 in 120 passes (100,000 x 1,024).
    // The admission holds every limit exactly whatever the prices.
    // Where the loads stall off at any temperature (after a warm start's
    // settling), the tenant and endpoint steps pull against each other,
    // each step halved: the tenant prices stop there and the endpoints'
    // go on alone. Before, the look at 20,000 x 64 (100 tenants, limits
    // 1.2, OFF) sat 200 passes at 0.09-0.12 and ran to its pass cap.
    const bool stalls_near = *tau <= tau_min && overload <= kCoolAt;
    const bool stalls_off = !settling && overload > kCoolAt;
    if (tenant_moving && (stalls_near || stalls_off)) {
      if (*tau != stall_tau || overload < 0.9 * stall_best) {
        stall_tau = *tau;
        stall_best = overload;
        stall_since = it;
      } else if (it - stall_since > kStuckPasses) {  // passes, the halved ones too
        if (stalls_near) {
          ++it;
          break;
        }
        tenant_moving = false;
      }
    }
    if (overload <= kCoolAt) {
      settled_lam = base_lam;
      settled_mu = base_mu;
      if (tenant_step) settled_tprice = base_tprice;
      settled_tau = *tau;
      at_tau = 0;
      *tau = std::max(tau_min, *tau * (overload <= options.tolerance ? kClearedCooling : kCooling));
      if (*tau <= tau_stop) {
        ++it;
        break;
      }
    }
  }
  // The prices of the last accepted point.
  *lam = base_lam;
  *mu = base_mu;
  if (tenant_step) *tenant_price = base_tprice;
  return it;
}

// Milliseconds since *mark, which moves to now.
inline double Lap(std::chrono::steady_clock::time_point* mark) {
  const auto now = std::chrono::steady_clock::now();
  const double ms = std::chrono::duration<double, std::milli>(now - *mark).count();
  *mark = now;
  return ms;
}

template <typename Backend>
PhaseResult RunPhases(const HostModel& host, const RequestsView& requests, const SolverOptions& options,
                      const TenantPricing* tenants, bool quick) {
  using I32 = typename Backend::template Vector<std::int32_t>;
  using I64 = typename Backend::template Vector<std::int64_t>;
  using U64 = typename Backend::template Vector<std::uint64_t>;
  using U8 = typename Backend::template Vector<std::uint8_t>;
  using F64 = typename Backend::template Vector<double>;
  const auto policy = Backend::Policy();
  const std::int64_t n = static_cast<std::int64_t>(requests.model.size);
  const std::int32_t nm = host.num_endpoints;
  const thrust::counting_iterator<std::int64_t> iota(0);

  PhaseResult out;
  auto mark = std::chrono::steady_clock::now();
  DeviceModel<Backend> dm(host);
  I32 r_model = Upload<Backend>(requests.model.data, n);
  I32 r_zone = Upload<Backend>(requests.zone.data, n);
  I32 r_tin = Upload<Backend>(requests.tokens_in.data, n);
  I32 r_tout = Upload<Backend>(requests.tokens_out.data, n);
  I32 r_slo = Upload<Backend>(requests.slo_ms.data, n);
  U8 r_home = Upload<Backend>(reinterpret_cast<const std::uint8_t*>(requests.home_cloud.data), n);
  U8 r_prio = Upload<Backend>(requests.priority.data, n);
  I32 r_needs = Upload<Backend>(requests.needs.data, requests.needs.size);
  const RequestCols cols{RawOf<std::int32_t>(r_model), RawOf<std::int32_t>(r_zone),
                         RawOf<std::int32_t>(r_tin),   RawOf<std::int32_t>(r_tout),
                         RawOf<std::int32_t>(r_slo),   RawOf<std::uint8_t>(r_home),
                         RawOf<std::uint8_t>(r_prio),  requests.needs.empty() ? nullptr : RawOf<std::int32_t>(r_needs)};

  // Tenant prices (TenantPricing), by slot.
  // The price phase moves them with the endpoints' prices (TenantPhase).
  const bool priced = tenants != nullptr && !tenants->slot.empty();
  std::vector<double> tprice_host = priced ? tenants->price : std::vector<double>();
  std::vector<double>* tp = priced ? &tprice_host : nullptr;
  const std::vector<double>* tlimit = priced ? &tenants->limit : nullptr;

  // (1) Groups at the fine resolution: one sort of the requests (with
  // tenant prices, a second by GroupingKey within each key rank).
  U64 keys(n);
  I32 order(n);
  thrust::transform(policy, iota, iota + n, keys.begin(), GroupKeyOf{dm.view, cols});
  thrust::sequence(policy, order.begin(), order.end());
  thrust::stable_sort_by_key(policy, keys.begin(), keys.end(), order.begin());
  U64 grouping;
  if (priced) {
    const I32 r_slot = Upload<Backend>(tenants->slot.data(), n);
    grouping.resize(n);
    thrust::transform(policy, iota, iota + n, grouping.begin(), IsHead{RawOf<std::uint64_t>(keys), kShareBits});
    thrust::inclusive_scan(policy, grouping.begin(), grouping.end(), grouping.begin());
    thrust::for_each_n(policy, iota, n,
                       GroupingKey{RawOf<std::uint64_t>(keys), RawOf<std::int32_t>(order), RawOf<std::int32_t>(r_slot),
                                   RawOf<std::uint64_t>(grouping)});
    thrust::stable_sort_by_key(policy, grouping.begin(), grouping.end(),
                               thrust::make_zip_iterator(thrust::make_tuple(keys.begin(), order.begin())));
  }
  const U64& gkeys = priced ? grouping : keys;  // what tells groups apart
  I32 gid(n);
  thrust::transform(policy, iota, iota + n, gid.begin(), IsHead{RawOf<std::uint64_t>(gkeys)});
  thrust::inclusive_scan(policy, gid.begin(), gid.end(), gid.begin());
  const std::int64_t groups = n ? static_cast<std::int64_t>(gid.back()) : 0;
  thrust::transform(policy, gid.begin(), gid.end(), gid.begin(), thrust::placeholders::_1 - 1);
  I32 group_of(n);
  thrust::for_each_n(policy, iota, n,
                     ScatterGroup{RawOf<std::int32_t>(order), RawOf<std::int32_t>(gid), RawOf<std::int32_t>(group_of)});
  I64 gstart(groups);  // each group's first member in key order
  thrust::for_each_n(policy, iota, n, GroupStart{RawOf<std::int32_t>(gid), RawOf<std::int64_t>(gstart)});
  Level<Backend> fine;
  fine.groups = groups;
  fine.key.resize(groups);
  fine.count.resize(groups);
  I64 sum_in(groups), sum_out(groups);
  fine.min_w.resize(groups);
  if (priced) fine.sortkey.resize(groups);
  thrust::reduce_by_key(
      policy, gkeys.begin(), gkeys.end(),
      thrust::make_transform_iterator(iota, GroupRow{cols.tokens_in, cols.tokens_out, RawOf<std::int32_t>(order)}),
      priced ? fine.sortkey.begin() : fine.key.begin(),
      thrust::make_zip_iterator(
          thrust::make_tuple(fine.count.begin(), sum_in.begin(), sum_out.begin(), fine.min_w.begin())),
      thrust::equal_to<std::uint64_t>(), AddGroupSums{});
  if (priced) {  // a group's class key is its first member's
    thrust::gather(policy, gstart.begin(), gstart.end(), keys.begin(), fine.key.begin());
    fine.slot.resize(groups);
    thrust::transform(policy, fine.sortkey.begin(), fine.sortkey.end(), fine.slot.begin(), SlotOf{});
  }
  // (2) Eligibility and options per group.
  FinishLevel(policy, dm, sum_in, sum_out, &fine);
  out.group_key = Download<std::uint64_t>(fine.key);
  out.group_head = Download<std::int32_t>(fine.head);
  out.group_elig = Download<std::uint8_t>(fine.elig);
  out.group_eoff = Download<std::int64_t>(fine.eoff);
  out.group_elist = Download<std::int32_t>(fine.elist);
  out.group_flags = Download<std::uint8_t>(fine.flags);
  out.blocks = FindBlocks(nm, out.group_elig);
  const Blocks& blocks = out.blocks;
  out.ms.groups = Lap(&mark);

  // (3) Prices: coarse groups while the temperature is high (built only
  // then), fine below.
  std::vector<double> lam(nm, 0.0), mu(nm, 0.0);
  const bool warm = options.initial_prices.has_value();
  if (warm) {
    lam = options.initial_prices->per_token;
    mu = options.initial_prices->per_request;
  }
  const TemperatureScales temperatures = Temperatures(host, dm.view, fine);
  const double tau_min = temperatures.final;
  // A warm start probes the given prices at the final temperature: when the
  // batch looks like the last one they already clear its loads and one pass
  // is all it takes. Otherwise the passes start over on the fine groups:
  // kWarmReheat x warmer when the loads nearly clear, else where a cold solve
  // leaves the coarse level. Measured on warm-started 24,576-request batches
  // of another draw at 64-512 endpoints (solver_benchmark --warm 1):
  // restarting 16x warmer took 145-400 passes there, more than a cold solve
  // (107-187); the coarse level's end 73-162. Prices far off (a load above
  // 11x its capacity: the last batch left little room for this one) solve
  // cold from them.
  double tau = temperatures.start;
  int passes = 0;
  bool cold = !warm;
  if (warm) {
    tau = tau_min;
    passes = RunPrices(host, blocks, dm.view, fine, options, tau_min, 0.0,
                       Reheat{kWarmReheat * tau_min, temperatures.coarse_until, temperatures.start, kFarOverload,
                              quick ? &out.cut_short : nullptr},
                       0, &tau, &lam, &mu, tp, tlimit);
    cold = tau == temperatures.start;  // the probe was far off (RunPrices)
  }
  if (cold && tau > temperatures.coarse_until) {
    // The coarse level: fine groups merged across input-share buckets (share
    // bits are the key's lowest, so the fine order is also the coarse order).
    // With tenant prices the grouping keys merge (their share bits are the
    // lowest too) and each coarse group's class key is its fine groups'.
    Level<Backend> coarse;
    const U64& fine_gkeys = priced ? fine.sortkey : fine.key;
    U64 merged(groups);
    thrust::transform(policy, fine_gkeys.begin(), fine_gkeys.end(), merged.begin(), CoarseKey{});
    U64& coarse_gkeys = priced ? coarse.sortkey : coarse.key;
    coarse.key.resize(groups);
    coarse_gkeys.resize(groups);
    coarse.count.resize(groups);
    I64 coarse_in(groups), coarse_out(groups);
    coarse.min_w.resize(groups);
    const auto ends =
        thrust::reduce_by_key(policy, merged.begin(), merged.end(),
                              thrust::make_zip_iterator(thrust::make_tuple(fine.count.begin(), sum_in.begin(),
                                                                           sum_out.begin(), fine.min_w.begin())),
                              coarse_gkeys.begin(),
                              thrust::make_zip_iterator(thrust::make_tuple(coarse.count.begin(), coarse_in.begin(),
                                                                           coarse_out.begin(), coarse.min_w.begin())),
                              thrust::equal_to<std::uint64_t>(), AddGroupSums{});
    coarse.groups = ends.first - coarse_gkeys.begin();
    if (priced) {
      thrust::reduce_by_key(policy, merged.begin(), merged.end(),
                            thrust::make_transform_iterator(fine.key.begin(), CoarseKey{}),
                            thrust::make_discard_iterator(), coarse.key.begin(), thrust::equal_to<std::uint64_t>(),
                            thrust::minimum<std::uint64_t>());
      coarse.sortkey.resize(coarse.groups);
      coarse.slot.resize(coarse.groups);
      thrust::transform(policy, coarse.sortkey.begin(), coarse.sortkey.end(), coarse.slot.begin(), SlotOf{});
    }
    coarse.key.resize(coarse.groups);
    coarse.count.resize(coarse.groups);
    coarse_in.resize(coarse.groups);
    coarse_out.resize(coarse.groups);
    coarse.min_w.resize(coarse.groups);
    FinishLevel(policy, dm, coarse_in, coarse_out, &coarse);
    passes += RunPrices(host, blocks, dm.view, coarse, options, tau_min, temperatures.coarse_until, Reheat{}, passes,
                        &tau, &lam, &mu, tp, tlimit);
  }
  if (cold) {
    passes +=
        RunPrices(host, blocks, dm.view, fine, options, tau_min, 0.0, Reheat{}, passes, &tau, &lam, &mu, tp, tlimit);
  }
  out.iterations = passes;
  out.ms.prices = Lap(&mark);
  // (3b) The certificate's own prices. The groups' prices are optimal for
  // the groups' mean token counts, not for each request's own: in strict
  // mode, where the Azure tier prices every token, that costs the bound up
  // to half the certified gap (100,000 x 64: certified 7.6e-4, 3.3e-4 above
  // HiGHS's LP optimum). A few passes over the single requests, from the
  // groups' prices, recover most of it; the assignment keeps the groups'
  // prices, and the bound takes the better of the two (ModeLowerBound).
  std::vector<double> bound_lam = lam, bound_mu = mu;
  const int bound_passes = options.bound_passes >= 0                                   ? options.bound_passes
                           : host.strict_azure_price > 0 && n <= kAutoBoundMaxRequests ? kAutoBoundPasses
                                                                                       : 0;
  if (bound_passes > 0 && n > 0 && groups < n) {
    Level<Backend> single;
    single.groups = n;
    single.key = keys;
    single.count.assign(n, 1);
    single.tin.resize(n);
    single.tout.resize(n);
    thrust::transform(policy, order.begin(), order.end(), single.tin.begin(), TokensAt{cols.tokens_in});
    thrust::transform(policy, order.begin(), order.end(), single.tout.begin(), TokensAt{cols.tokens_out});
    single.eoff.assign(n + 1, 0);
    thrust::transform(policy, iota, iota + n, single.eoff.begin() + 1,
                      ListLength{RawOf<std::int32_t>(gid), RawOf<std::int64_t>(fine.eoff)});
    thrust::inclusive_scan(policy, single.eoff.begin() + 1, single.eoff.end(), single.eoff.begin() + 1);
    single.pairs = single.eoff.back();
    single.elist.resize(single.pairs);
    thrust::for_each_n(
        policy, iota, n,
        CopyList{RawOf<std::int32_t>(gid), RawOf<std::int64_t>(fine.eoff), RawOf<std::int32_t>(fine.elist),
                 RawOf<std::int64_t>(single.eoff), RawOf<std::int32_t>(single.elist)});
    SolverOptions few = options;
    few.max_iterations = bound_passes;
    few.on_iteration = nullptr;
    double bound_tau = tau;  // where the price phase ended (kStopNear)
    RunPrices(host, blocks, dm.view, single, few, tau_min, 0.0, Reheat{}, 0, &bound_tau, &bound_lam, &bound_mu,
              /*tenant_price=*/nullptr, /*tenant_limit=*/nullptr);
  }
  out.ms.bound = Lap(&mark);

  // (4) Round the smoothed split per group, then one exact pass for the
  // dual bound and the admission keys.
  F64 d_lam(lam.begin(), lam.end()), d_mu(mu.begin(), mu.end());
  const F64 d_tprice(tprice_host.begin(), tprice_host.end());
  const double* tprice = RawOf<double>(d_tprice);
  I32 choice(n);
  {
    F64 share(fine.pairs);
    I32 top(2 * groups);
    thrust::for_each_n(
        policy, iota, groups,
        GroupSplit{dm.view, fine.Rows(), RawOf<double>(d_lam), RawOf<double>(d_mu), std::max(tau, 1e-300),
                   RawOf<double>(share), RawOf<std::int32_t>(top), fine.Shifts(tprice)});
    U64 mkey(n);
    thrust::for_each_n(policy, iota, n,
                       MemberKey{dm.view, cols, RawOf<std::int32_t>(order), RawOf<std::int32_t>(gid),
                                 RawOf<std::uint64_t>(fine.key), RawOf<std::int32_t>(top), RawOf<double>(d_lam),
                                 RawOf<double>(d_mu), RawOf<std::uint64_t>(mkey), fine.Shifts(tprice)});
    thrust::stable_sort_by_key(policy, mkey.begin(), mkey.end(), order.begin());
    thrust::for_each_n(
        policy, iota, n,
        SplitRound{RawOf<std::int32_t>(order), RawOf<std::int32_t>(gid), RawOf<std::int64_t>(gstart),
                   RawOf<std::int64_t>(fine.count), RawOf<std::int64_t>(fine.eoff), RawOf<std::int32_t>(fine.elist),
                   RawOf<double>(share), RawOf<std::int32_t>(top), RawOf<std::int32_t>(choice)});
  }
  F64 best(n);
  U64 akey(n);
  const bool has_tenants = host.tenant_limits;  // (fair share alone needs no least costs)
  F64 a_min(has_tenants ? n : 0), t_min(has_tenants ? n : 0);
  FinalPass final_pass{dm.view,
                       cols,
                       RawOf<std::int32_t>(group_of),
                       RawOf<std::uint64_t>(fine.key),
                       RawOf<std::int64_t>(fine.eoff),
                       RawOf<std::int32_t>(fine.elist),
                       RawOf<double>(d_lam),
                       RawOf<double>(d_mu),
                       RawOf<std::int32_t>(choice),
                       RawOf<double>(best),
                       RawOf<std::uint64_t>(akey)};
  if (has_tenants) {
    final_pass.assign_min = RawOf<double>(a_min);
    final_pass.true_min = RawOf<double>(t_min);
  }
  final_pass.shifts = fine.Shifts(tprice);
  thrust::for_each_n(policy, iota, n, final_pass);
  out.sum_best = DeterministicSum<Backend>(RawOf<double>(best), n);
  if (has_tenants) {
    out.assign_min = Download<double>(a_min);
    out.true_min = Download<double>(t_min);
  }
  if (bound_lam != lam || bound_mu != mu) {
    F64 b_lam(bound_lam.begin(), bound_lam.end()), b_mu(bound_mu.begin(), bound_mu.end()), b_best(n);
    thrust::for_each_n(policy, iota, n,
                       FinalPass{dm.view, cols, RawOf<std::int32_t>(group_of), RawOf<std::uint64_t>(fine.key),
                                 RawOf<std::int64_t>(fine.eoff), RawOf<std::int32_t>(fine.elist), RawOf<double>(b_lam),
                                 RawOf<double>(b_mu), RawOf<std::int32_t>(choice), RawOf<double>(b_best),
                                 /*akey=*/nullptr});
    out.bound_sum_best = DeterministicSum<Backend>(RawOf<double>(b_best), n);
    out.bound_prices = {bound_lam, bound_mu};
  }

  // (5) Admission by descending regret, per endpoint, exact integer prefixes.
  thrust::sequence(policy, order.begin(), order.end());
  thrust::stable_sort_by_key(policy, akey.begin(), akey.end(), order.begin());
  I64 ptok(n), pcnt(n);
  auto seg = thrust::make_transform_iterator(akey.begin(), SegmentOf{});
  thrust::inclusive_scan_by_key(
      policy, seg, seg + n,
      thrust::make_transform_iterator(iota, TotalTokens{cols.tokens_in, cols.tokens_out, RawOf<std::int32_t>(order)}),
      ptok.begin());
  thrust::inclusive_scan_by_key(policy, seg, seg + n, thrust::constant_iterator<std::int64_t>(1), pcnt.begin());
  I64 cap_t(host.cap_tokens.begin(), host.cap_tokens.end());
  I64 cap_r(host.cap_requests.begin(), host.cap_requests.end());
  thrust::for_each_n(policy, iota, n,
                     Admit{RawOf<std::uint64_t>(akey), RawOf<std::int32_t>(order), RawOf<std::int64_t>(ptok),
                           RawOf<std::int64_t>(pcnt), RawOf<std::int64_t>(cap_t), RawOf<std::int64_t>(cap_r),
                           RawOf<std::int32_t>(choice)});

  out.group_of = Download<std::int32_t>(group_of);
  out.endpoint = Download<std::int32_t>(choice);
  out.prices.per_token = std::move(lam);
  out.prices.per_request = std::move(mu);
  out.slot_prices = std::move(tprice_host);
  out.ms.rounding = Lap(&mark);
  return out;
}

}  // namespace azimuth::kernels::internal

#endif  // AZIMUTH_KERNELS_SRC_SOLVER_IMPL_CUH_
