// Copyright 2026 Azimuth authors.
#include "repair.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>
#include <utility>

namespace azimuth::kernels::internal {
namespace {

// A move is made only when it gains more than this, relative to the costs
// involved: float noise never trades places back and forth.
constexpr double kMinGain = 1e-12;
// A score for requests a pass does not consider.
constexpr double kNone = std::numeric_limits<double>::infinity();
// Requests x rounds of local moves per solve (Repairer::Run).
constexpr std::int64_t kRoundBudget = 300000;
// See Repairer::Run.
constexpr double kAutoReselectGap = 4.5e-4;

class Repairer {
 public:
  Repairer(const HostModel& host, const RequestsView& r, PhaseResult* phase)
      : host_(host),
        r_(r),
        phase_(*phase),
        v_(host.View()),
        n_(static_cast<std::int64_t>(r.model.size)),
        m_(host.num_endpoints),
        lam_(phase->prices.per_token.data()),
        mu_(phase->prices.per_request.data()),
        ep_(phase->endpoint),
        room_tokens_(host.cap_tokens),
        room_requests_(host.cap_requests),
        blocks_(phase->blocks) {
    const std::size_t groups = phase->group_eoff.empty() ? 0 : phase->group_eoff.size() - 1;
    group_block_.assign(groups, -1);
    for (std::size_t g = 0; g < groups; ++g) {
      if (phase->group_eoff[g] < phase->group_eoff[g + 1]) {
        group_block_[g] = blocks_.block_of[phase->group_elist[phase->group_eoff[g]]];
      }
    }
    std::vector<std::int64_t> all(n_);
    std::iota(all.begin(), all.end(), std::int64_t{0});
    SplitByBlock(all, &block_first_, &by_block_);
    home_.resize(n_);
    priority_.resize(n_);
    for (std::int64_t i = 0; i < n_; ++i) {
      const RequestClass c = UnpackClass(v_, phase->group_key[phase->group_of[i]]);
      home_[i] = static_cast<std::uint8_t>(c.home);
      priority_[i] = static_cast<std::uint8_t>(c.priority);
      if (ep_[i] >= 0) Take(ep_[i], i);
    }
  }

  void Run(AzureFirst mode, int rounds, double target_gap) {
    Fill();
    MakeRoom();
    // Each round of local moves costs a few passes over all requests, and
    // what it closes (capacity fragments, O(M) requests' worth) weighs less
    // the larger the batch: up to three rounds on small batches, one on
    // batches of a million.
    const bool automatic = rounds < 0;
    if (automatic) {
      rounds = static_cast<int>(std::clamp<std::int64_t>(kRoundBudget / std::max<std::int64_t>(n_, 1), 1, 3));
    }
    const double lower_bound = ModeLowerBound(host_, phase_);
    for (int round = 0; round < rounds; ++round) {
      if (target_gap > 0) {
        const double objective = ModeObjective();
        if (objective - lower_bound <= target_gap * objective) break;
      }
      Reselect();
      Repack();
      Relocate();
      // Unblock gains least for what it costs (two passes over all
      // requests): after a first round's reselect its chains rarely pay
      // (at 200,000 and 1,000,000 requests, one round, the gap does not
      // move without it), so it runs from the second round on.
      if (round > 0) Unblock();
      Exchange();
      Fill();
    }
    // A batch too large for a second round whose gap is still above
    // kAutoReselectGap gets one more reselect, the move that closes most for
    // its cost: at 1M x 1,024 (weighted) the first round's reselect took the
    // gap from 2.6e-3 to 6.2e-4 and the round ended at 5.0e-4; a second
    // reselect took that to 4.5e-4 (0.6 s), a whole second round to 4.3e-4
    // (1.3 s).
    if (automatic && rounds < 2) {
      const double objective = ModeObjective();
      if (objective - lower_bound > kAutoReselectGap * objective) {
        Reselect();
        Fill();
      }
    }
    if (mode == AzureFirst::kStrict) {
      // The repair frees capacity off Azure: fill it, and repair what that
      // placed.
      AzureRepair();
      Fill();
      AzureRepair();
    }
  }

 private:
  // Request i's eligible endpoints and its cost terms.
  struct Eligible {
    const std::int32_t* first;
    const std::int32_t* last;
    const std::int32_t* begin() const { return first; }
    const std::int32_t* end() const { return last; }
  };
  Eligible EligibleOf(std::int64_t i) const {
    const std::int32_t g = phase_.group_of[i];
    const std::int32_t* base = phase_.group_elist.data();
    return {base + phase_.group_eoff[g], base + phase_.group_eoff[g + 1]};
  }
  // Block b's endpoints, ascending.
  Eligible EndpointsOf(std::int32_t b) const {
    const std::int32_t* base = blocks_.endpoints.data();
    return {base + blocks_.start[b], base + blocks_.start[b + 1]};
  }
  bool IsEligible(std::int64_t i, std::int32_t p) const {
    return phase_.group_elig[static_cast<std::int64_t>(phase_.group_head[phase_.group_of[i]]) * m_ + p] != 0;
  }
  std::int64_t Tokens(std::int64_t i) const { return static_cast<std::int64_t>(r_.tokens_in[i]) + r_.tokens_out[i]; }
  // The mode's objective of the assignment as it stands (Summarize's sum).
  double ModeObjective() const {
    double total = 0;
    for (std::int64_t i = 0; i < n_; ++i) {
      total += ep_[i] >= 0 ? Cost(i, ep_[i]) : EffReject(v_, priority_[i], static_cast<double>(Tokens(i)));
    }
    return total;
  }
  double Cost(std::int64_t i, std::int32_t p) const {
    return EffCost(v_, home_[i], r_.tokens_in[i], r_.tokens_out[i], p);
  }
  double Priced(std::int64_t i, std::int32_t p) const {
    return PricedCost(v_, home_[i], r_.tokens_in[i], r_.tokens_out[i], p, lam_, mu_);
  }
  // What rejecting i is worth to the moves. With tenant limits, in their
  // Lagrangian at the certificate's tenant prices: its cost less what those
  // prices add to serving it (PhaseResult::tenant_shift), so the repair does
  // not fill capacity with requests that EnforceTenantLimits then refuses.
  double Reject(std::int64_t i) const {
    const std::vector<double>& shift = phase_.tenant_shift;
    return EffReject(v_, priority_[i], static_cast<double>(Tokens(i))) - (shift.empty() ? 0.0 : shift[i]);
  }

  // Scores every request in parallel: score(i) reads the current state and
  // writes nothing else, so the scores do not depend on the thread count.
  template <typename Score>
  std::vector<double> ScoreAll(Score score) const {
    std::vector<double> out(n_);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n_; ++i) out[i] = score(i);
    return out;
  }

  // The blocks of the eligibility graph (blocks_) do not interact: a
  // request's options all lie in one block, so no move crosses blocks. A
  // pass that goes block by block, each block in the pass's serial order,
  // makes the serial order's moves whatever the threads: InBlocks(body)
  // runs body(b) for every block b, the blocks in parallel, and
  // ForEachInBlocks(requests, visit) visits `requests` so, each block's in
  // their order there (requests with no option are skipped).
  template <typename Body>
  void InBlocks(Body body) {
    std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int32_t b = 0; b < blocks_.count; ++b) {
      try {
        body(b);
      } catch (...) {
#pragma omp critical(azimuth_repair_failure)
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
  }
  // `requests` by block, in their order within one: block b's are
  // (*split)[(*start)[b] .. (*start)[b + 1]).
  void SplitByBlock(const std::vector<std::int64_t>& requests, std::vector<std::int64_t>* start,
                    std::vector<std::int64_t>* split) const {
    start->assign(blocks_.count + 1, 0);
    for (const std::int64_t i : requests) {
      if (BlockOf(i) >= 0) ++(*start)[BlockOf(i) + 1];
    }
    for (std::int32_t b = 0; b < blocks_.count; ++b) (*start)[b + 1] += (*start)[b];
    split->resize(start->back());
    std::vector<std::int64_t> next(start->begin(), start->end() - 1);
    for (const std::int64_t i : requests) {
      if (BlockOf(i) >= 0) (*split)[next[BlockOf(i)]++] = i;
    }
  }
  template <typename Visit>
  void ForEachInBlocks(const std::vector<std::int64_t>& requests, Visit visit) {
    std::vector<std::int64_t> start, split;
    SplitByBlock(requests, &start, &split);
    InBlocks([&](std::int32_t b) {
      for (std::int64_t k = start[b]; k < start[b + 1]; ++k) visit(split[k]);
    });
  }
  // Every request with an option, in ascending order within its block.
  template <typename Visit>
  void ForEachRequestInBlocks(Visit visit) {
    InBlocks([&](std::int32_t b) {
      for (std::int64_t k = block_first_[b]; k < block_first_[b + 1]; ++k) visit(by_block_[k]);
    });
  }
  // The requests of (score, request) pairs, in their order.
  static std::vector<std::int64_t> RequestsOf(const std::vector<std::pair<double, std::int64_t>>& list) {
    std::vector<std::int64_t> out;
    out.reserve(list.size());
    for (const auto& entry : list) out.push_back(entry.second);
    return out;
  }
  // Request i's block, or -1 when it has no option.
  std::int32_t BlockOf(std::int64_t i) const { return group_block_[phase_.group_of[i]]; }

  // The ledger: room left per endpoint.
  bool Fits(std::int32_t p, std::int64_t w) const { return room_tokens_[p] >= w && room_requests_[p] >= 1; }
  void Take(std::int32_t p, std::int64_t i) {
    room_tokens_[p] -= Tokens(i);
    room_requests_[p] -= 1;
  }
  void Give(std::int32_t p, std::int64_t i) {
    room_tokens_[p] += Tokens(i);
    room_requests_[p] += 1;
  }
  void Move(std::int64_t i, std::int32_t to) {
    if (ep_[i] >= 0) Give(ep_[i], i);
    if (to >= 0) Take(to, i);
    ep_[i] = to;
  }

  // The endpoint with room, other than `skip`, where request i costs least
  // (*cost), or -1; the room is the ledger's, or (room_t, room_r).
  std::int32_t CheapestWithRoom(std::int64_t i, std::int32_t skip, double* cost) const {
    return CheapestWithRoom(i, skip, room_tokens_, room_requests_, cost);
  }
  std::int32_t CheapestWithRoom(std::int64_t i, std::int32_t skip, const std::vector<std::int64_t>& room_t,
                                const std::vector<std::int64_t>& room_r, double* cost) const {
    const std::int64_t w = Tokens(i);
    std::int32_t arg = -1;
    for (std::int32_t p : EligibleOf(i)) {
      if (p == skip || room_t[p] < w || room_r[p] < 1) continue;
      const double x = Cost(i, p);
      if (arg < 0 || x < *cost) {
        *cost = x;
        arg = p;
      }
    }
    return arg;
  }

  // Fill: requests not admitted, in order of priced surplus (scarce capacity
  // goes where the dual says it is worth most), take the endpoint with room
  // that is cheapest under the prices, where their cost beats rejection
  // (capacity left unused is worth nothing to this batch).
  void Fill() {
    auto best = [&](std::int64_t i, double* surplus) {
      const std::int64_t w = Tokens(i);
      const double reject = Reject(i);
      double priced = 0;
      std::int32_t arg = -1;
      for (std::int32_t p : EligibleOf(i)) {
        if (!Fits(p, w) || Cost(i, p) >= reject) continue;
        const double x = Priced(i, p);
        if (arg < 0 || x < priced) {
          priced = x;
          arg = p;
        }
      }
      *surplus = reject - priced;
      return arg;
    };
    std::vector<std::pair<double, std::int64_t>> waiting;
    for (std::int64_t i = 0; i < n_; ++i) {
      if (ep_[i] >= 0) continue;
      ep_[i] = -1;
      double surplus;
      if (best(i, &surplus) >= 0) waiting.emplace_back(-surplus, i);
    }
    std::sort(waiting.begin(), waiting.end());
    ForEachInBlocks(RequestsOf(waiting), [&](std::int64_t i) {
      double surplus;
      const std::int32_t p = best(i, &surplus);
      if (p >= 0) Move(i, p);
    });
  }

  // How much more each placed request costs under the prices where it is
  // than on its cheapest eligible endpoint (0 where it is there).
  std::vector<double> MisplacedBy() const {
    return ScoreAll([&](std::int64_t i) {
      if (ep_[i] < 0) return 0.0;
      const double here = Priced(i, ep_[i]);
      double best = here;
      for (std::int32_t p : EligibleOf(i)) best = std::min(best, Priced(i, p));
      return here - best > kMinGain * std::abs(here) ? here - best : 0.0;
    });
  }

  // The (up to) `keep` requests of highest positive score, highest first,
  // as (-score, request).
  std::vector<std::pair<double, std::int64_t>> Highest(const std::vector<double>& score, std::size_t keep) const {
    std::vector<std::pair<double, std::int64_t>> top;
    for (std::int64_t i = 0; i < n_; ++i) {
      if (score[i] > 0) top.emplace_back(-score[i], i);
    }
    keep = std::min(keep, top.size());
    std::partial_sort(top.begin(), top.begin() + keep, top.end());
    top.resize(keep);
    return top;
  }

  // Each endpoint's `keep` requests that cost least to move to their
  // cheapest other endpoint with room (per token they free, with
  // `per_token`), cheapest first, with that cost.
  std::vector<std::vector<std::pair<double, std::int64_t>>> CheapestToMove(std::size_t keep, bool per_token) const {
    const std::vector<double> cost = ScoreAll([&](std::int64_t q) {
      double to_cost = 0;
      if (ep_[q] < 0 || CheapestWithRoom(q, ep_[q], &to_cost) < 0) return kNone;
      const double delta = to_cost - Cost(q, ep_[q]);
      return per_token ? delta / static_cast<double>(std::max<std::int64_t>(1, Tokens(q))) : delta;
    });
    std::vector<std::vector<std::pair<double, std::int64_t>>> movers(m_);
    for (std::int64_t q = 0; q < n_; ++q) {
      if (cost[q] != kNone) movers[ep_[q]].emplace_back(cost[q], q);
    }
    for (auto& list : movers) {
      const std::size_t top = std::min(keep, list.size());
      std::partial_sort(list.begin(), list.begin() + top, list.end());
      list.resize(top);
    }
    return movers;
  }

  // Relocate: a request moves to the eligible endpoint with room where it
  // costs least, when that beats where it is; the kCandidates that gain
  // most, most first. Admission's rounding can leave a cheap endpoint with
  // room.
  void Relocate() {
    constexpr std::size_t kCandidates = 1 << 14;
    const std::vector<double> gain = ScoreAll([&](std::int64_t i) {
      double to_cost = 0;
      if (ep_[i] < 0 || CheapestWithRoom(i, ep_[i], &to_cost) < 0) return 0.0;
      const double here = Cost(i, ep_[i]);
      return here - to_cost > kMinGain * std::abs(here) ? here - to_cost : 0.0;
    });
    ForEachInBlocks(RequestsOf(Highest(gain, kCandidates)), [&](std::int64_t i) {
      double to_cost = 0;
      const std::int32_t to = CheapestWithRoom(i, ep_[i], &to_cost);
      const double here = Cost(i, ep_[i]);
      if (to >= 0 && here - to_cost > kMinGain * std::abs(here)) Move(i, to);
    });
  }

  // Unblock: a request that sits where the prices say it should not (its
  // priced cost there above its cheapest) moves to an eligible endpoint
  // where it costs less, once a few requests there move on to endpoints
  // with room: the chains of moves that prices imply and single moves and
  // swaps miss. Each endpoint offers its kMovers members that are cheapest
  // to move per token; a chain is kept only when the objective falls, and
  // undone otherwise.
  void Unblock() {
    constexpr std::size_t kMovers = 32;
    constexpr std::size_t kCandidates = 1 << 14;
    constexpr int kMaxChain = 4;
    const std::vector<double> penalty = MisplacedBy();
    std::vector<std::pair<double, std::int64_t>> candidates = Highest(penalty, kCandidates);
    if (candidates.empty()) return;
    const auto movers = CheapestToMove(kMovers, true);
    std::vector<std::vector<std::pair<std::int64_t, std::int32_t>>> chains(blocks_.count);  // (request, from)
    ForEachInBlocks(RequestsOf(candidates), [&](std::int64_t i) {
      auto& moved = chains[BlockOf(i)];
      const std::int32_t from = ep_[i];
      const double here = Cost(i, from);
      const std::int64_t w = Tokens(i);
      for (std::int32_t q : EligibleOf(i)) {
        if (q == from || ep_[i] != from) continue;
        const double gain_i = here - Cost(i, q);
        if (gain_i <= kMinGain * std::abs(here) || Priced(i, q) >= Priced(i, from)) continue;
        moved.clear();
        Move(i, -1);
        double gain = gain_i;
        for (const auto& mover : movers[q]) {
          if (Fits(q, w) || static_cast<int>(moved.size()) >= kMaxChain || gain <= 0) break;
          const std::int64_t j = mover.second;
          if (ep_[j] != q) continue;
          double to_cost = 0;
          const std::int32_t to = CheapestWithRoom(j, q, &to_cost);
          if (to < 0) continue;
          gain -= to_cost - Cost(j, q);
          Move(j, to);
          moved.emplace_back(j, q);
        }
        if (Fits(q, w) && gain > kMinGain * std::abs(here)) {
          Move(i, q);
          break;
        }
        for (auto it = moved.rbegin(); it != moved.rend(); ++it) Move(it->first, it->second);
        Move(i, from);
      }
    });
  }

  // Make room: a waiting request may fit on an eligible endpoint once one
  // request there moves to another endpoint with room. Each endpoint offers
  // its kMovers cheapest-to-move requests.
  void MakeRoom() {
    constexpr std::size_t kMovers = 32;
    std::vector<std::pair<double, std::int64_t>> waiting;
    for (std::int64_t i = 0; i < n_; ++i) {
      if (ep_[i] >= 0) continue;
      double cheapest = std::numeric_limits<double>::infinity();
      for (std::int32_t p : EligibleOf(i)) cheapest = std::min(cheapest, Cost(i, p));
      const double benefit = Reject(i) - cheapest;
      if (benefit > 0) waiting.emplace_back(-benefit, i);
    }
    if (waiting.empty()) return;
    const auto movers = CheapestToMove(kMovers, false);
    std::sort(waiting.begin(), waiting.end());
    ForEachInBlocks(RequestsOf(waiting), [&](std::int64_t i) {
      const std::int64_t w = Tokens(i);
      const double reject = Reject(i);
      double best_gain = 0;
      std::int32_t best_p = -1, best_to = -1;
      std::int64_t best_q = -1;
      for (std::int32_t p : EligibleOf(i)) {
        const double serve = reject - Cost(i, p);
        if (serve <= best_gain) continue;
        for (const auto& mover : movers[p]) {
          const std::int64_t q = mover.second;
          if (ep_[q] != p || room_tokens_[p] + Tokens(q) < w) continue;
          double to_cost = 0;
          const std::int32_t to = CheapestWithRoom(q, p, &to_cost);
          const double gain = serve - (to_cost - Cost(q, p));
          if (to < 0 || gain <= best_gain) continue;
          best_gain = gain;
          best_p = p;
          best_q = q;
          best_to = to;
        }
      }
      if (best_p < 0) return;
      Move(best_q, best_to);
      Move(i, best_p);
    });
  }

  struct Offer {
    double gain;
    std::int64_t request;
  };

  // Reselect: each endpoint chooses its requests anew, among its own, the
  // waiting ones and those on other endpoints that the prices place here
  // (priced cheaper here than where they are): a two-capacity knapsack
  // (tokens, requests) of their values, solved as its LP (one price per
  // token by bisection, one per request by selection), rounded and filled
  // (SolveKnapsack). A newcomer is valued at what moving here saves (over
  // rejection, or over where it sits); a member at what leaving would cost,
  // for the endpoint it would leave to: members book room elsewhere in order
  // of that cost, cheapest to move first, so the room each is valued at
  // stays free whichever of them leave, and the values add up to the exact
  // change of the objective. These are the trades the LP makes and single
  // moves and swaps miss: one large request out for several small ones of a
  // higher priority in, or, between endpoints full in both capacities (strict
  // mode's Azure endpoints), a large request priced elsewhere out once
  // others fill the place it leaves. Only the kMembers members cheapest to
  // give up at the endpoint's prices take part; the others stay.
  void Reselect() {
    constexpr std::size_t kMembers = 512;
    const std::vector<double> penalty = MisplacedBy();
    std::vector<std::vector<std::int64_t>> newcomers(m_);
    // A waiting request is offered to the endpoints after `from` where
    // serving it beats rejection.
    auto offer = [&](std::int64_t i, std::int32_t from) {
      const double reject = Reject(i);
      for (std::int32_t p : EligibleOf(i)) {
        if (p > from && Cost(i, p) < reject) newcomers[p].push_back(i);
      }
    };
    ForEachRequestInBlocks([&](std::int64_t i) {
      if (ep_[i] < 0) {
        offer(i, -1);
        return;
      }
      if (penalty[i] <= 0) return;
      const double here = Priced(i, ep_[i]);
      for (std::int32_t p : EligibleOf(i)) {
        if (p != ep_[i] && Priced(i, p) < here - kMinGain * std::abs(here)) newcomers[p].push_back(i);
      }
    });
    // What leaving would cost each member of such an endpoint, for ranking
    // (recomputed where a member has moved since).
    const std::vector<std::int32_t> scored_at = ep_;
    const std::vector<double> loss = ScoreAll([&](std::int64_t q) {
      return ep_[q] >= 0 && !newcomers[ep_[q]].empty() ? LeaveLoss(q, ep_[q], nullptr) : kNone;
    });
    std::vector<std::vector<std::int64_t>> members(m_);
    for (std::int64_t i = 0; i < n_; ++i) {
      if (loss[i] != kNone) members[ep_[i]].push_back(i);
    }
    std::vector<std::int32_t> seen(n_, -1);
    // Block by block (InBlocks), each endpoint in ascending order (1M x
    // 1,024, strict: this loop was 490 ms of the repair's 2.7 s on one
    // thread).
    InBlocks([&](std::int32_t b) {
      std::vector<KnapsackItem> items;
      std::vector<std::uint8_t> chosen;
      std::vector<std::pair<double, std::int64_t>> leaving;  // (score, member), then (loss, member)
      std::vector<std::int32_t> booked_at;
      std::vector<std::int64_t> free_t(m_), free_r(m_);
      for (const std::int32_t p : EndpointsOf(b)) {
        items.clear();
        for (const std::int64_t i : newcomers[p]) {
          if (ep_[i] == p || seen[i] == p) continue;  // arrived, or listed twice
          seen[i] = p;
          const double gain = (ep_[i] < 0 ? Reject(i) : Cost(i, ep_[i])) - Cost(i, p);
          if (gain > 0) items.push_back({gain, Tokens(i), i});
        }
        if (items.empty()) continue;
        const std::size_t first_member = items.size();
        // The kMembers members whose place is cheapest to give up at the
        // endpoint's prices; the others stay.
        leaving.clear();
        for (const std::int64_t q : members[p]) {
          if (ep_[q] != p || seen[q] == p) continue;  // moved on, or listed twice
          seen[q] = p;
          const double x = scored_at[q] == p ? loss[q] : LeaveLoss(q, p, nullptr);
          leaving.emplace_back(x - lam_[p] * static_cast<double>(Tokens(q)) - mu_[p], q);
        }
        const std::size_t keep = std::min(kMembers, leaving.size());
        std::partial_sort(leaving.begin(), leaving.begin() + keep, leaving.end());
        leaving.resize(keep);
        std::int64_t cap_t = room_tokens_[p], cap_r = room_requests_[p];
        for (auto& entry : leaving) {
          const std::int64_t q = entry.second;
          cap_t += Tokens(q);
          cap_r += 1;
          entry.first = scored_at[q] == p ? loss[q] : LeaveLoss(q, p, nullptr);
        }
        std::sort(leaving.begin(), leaving.end());
        for (const std::int32_t e : EndpointsOf(b)) {  // q's options are all in the block
          free_t[e] = room_tokens_[e];
          free_r[e] = room_requests_[e];
        }
        booked_at.clear();
        double before = 0;
        for (const auto& entry : leaving) {
          const std::int64_t q = entry.second;
          const std::int64_t w = Tokens(q);
          double cost = 0;
          std::int32_t to = CheapestWithRoom(q, p, free_t, free_r, &cost);
          if (to >= 0 && cost < Reject(q)) {
            free_t[to] -= w;
            free_r[to] -= 1;
          } else {
            to = -1;
            cost = Reject(q);
          }
          const double value = cost - Cost(q, p);
          before += std::max(value, 0.0);
          items.push_back({value, w, q});
          booked_at.push_back(to);
        }
        const double after = SolveKnapsack(items, cap_t, cap_r, lam_[p], &chosen);
        if (after <= before + kMinGain * (std::abs(after) + std::abs(before))) continue;
        for (std::size_t k = first_member; k < items.size(); ++k) {
          if (chosen[k]) continue;
          const std::int64_t q = items[k].request;
          const std::int32_t to = booked_at[k - first_member];
          Move(q, to);
          if (to >= 0) {
            members[to].push_back(q);
          } else {
            offer(q, p);
          }
        }
        for (std::size_t k = 0; k < first_member; ++k) {
          if (chosen[k]) Move(items[k].request, p);
        }
      }
    });
  }

  // One greedy order of an endpoint's waiting requests, with the suffix
  // minimum of their token counts so that a scan stops once nothing fits,
  // and the first offer not yet taken (offers taken stay taken).
  struct GreedyOrder {
    std::vector<Offer> offers;
    std::vector<std::int64_t> min_after;
    std::size_t first = 0;
  };
  // Repack: an endpoint gives up one of its requests (to its cheapest other
  // endpoint with room, or to rejection) and takes waiting requests in its
  // place, greedily by gain or by gain per token, whichever gains more. So an
  // endpoint out of request slots with tokens to spare trades a small
  // request for a large one, and one out of tokens trades a large request for
  // several small ones. Candidates to give up: the kOut cheapest to move, and
  // the kOut that free the most tokens for their loss, valuing a token at
  // the endpoint's price and at the waiting requests' best gain per token.
  void Repack() {
    constexpr std::size_t kOut = 16;
    std::vector<std::vector<Offer>> waiting(m_);
    ForEachRequestInBlocks([&](std::int64_t i) {
      if (ep_[i] >= 0) return;
      const double reject = Reject(i);
      for (std::int32_t p : EligibleOf(i)) {
        const double gain = reject - Cost(i, p);
        if (gain > 0) waiting[p].push_back({gain, i});
      }
    });
    const std::vector<double> loss = ScoreAll([&](std::int64_t q) {
      return ep_[q] >= 0 && !waiting[ep_[q]].empty() ? LeaveLoss(q, ep_[q], nullptr) : kNone;
    });
    std::vector<std::vector<std::int64_t>> members(m_);
    for (std::int64_t i = 0; i < n_; ++i) {
      if (loss[i] != kNone) members[ep_[i]].push_back(i);
    }
    InBlocks([&](std::int32_t b) {
      std::vector<std::int64_t> by_gain, by_density, candidates;
      std::vector<std::pair<double, std::int64_t>> ranked[3];
      for (const std::int32_t p : EndpointsOf(b)) {
        if (waiting[p].empty()) continue;
        GreedyOrder gain_order = MakeOrder(waiting[p], false);
        GreedyOrder density_order = MakeOrder(std::move(waiting[p]), true);
        const Offer& densest = density_order.offers.front();
        const double density = densest.gain / static_cast<double>(std::max<std::int64_t>(1, Tokens(densest.request)));
        for (auto& list : ranked) list.clear();
        for (std::int64_t q : members[p]) {
          const double w = static_cast<double>(Tokens(q));
          ranked[0].emplace_back(loss[q], q);
          ranked[1].emplace_back(loss[q] - lam_[p] * w - mu_[p], q);
          ranked[2].emplace_back(loss[q] - density * w, q);
        }
        candidates.clear();
        for (auto& list : ranked) {
          const std::size_t keep = std::min(kOut, list.size());
          std::partial_sort(list.begin(), list.begin() + keep, list.end());
          for (std::size_t k = 0; k < keep; ++k) candidates.push_back(list[k].second);
        }
        for (const std::int64_t q : candidates) {
          if (ep_[q] != p) continue;
          std::int32_t to;
          const double cost = LeaveLoss(q, p, &to);  // loss[q] may be stale by now
          const std::int64_t room_t = room_tokens_[p] + Tokens(q), room_r = room_requests_[p] + 1;
          const double g1 = Greedy(gain_order, room_t, room_r, &by_gain);
          const double g2 = Greedy(density_order, room_t, room_r, &by_density);
          const double gain = std::max(g1, g2);
          if (gain <= cost + kMinGain * (std::abs(gain) + std::abs(cost))) continue;
          Move(q, to);
          for (std::int64_t i : g1 >= g2 ? by_gain : by_density) Move(i, p);
        }
      }
    });
  }

  GreedyOrder MakeOrder(std::vector<Offer> offers, bool per_token) const {
    auto key = [&](const Offer& o) {
      return per_token ? o.gain / static_cast<double>(std::max<std::int64_t>(1, Tokens(o.request))) : o.gain;
    };
    std::stable_sort(offers.begin(), offers.end(), [&](const Offer& a, const Offer& b) { return key(a) > key(b); });
    GreedyOrder order{std::move(offers), {}};
    order.min_after.assign(order.offers.size() + 1, std::numeric_limits<std::int64_t>::max());
    for (std::size_t k = order.offers.size(); k-- > 0;) {
      order.min_after[k] = std::min(order.min_after[k + 1], Tokens(order.offers[k].request));
    }
    return order;
  }
  // Takes offers in order while they fit, examining at most kScan of them.
  double Greedy(GreedyOrder& order, std::int64_t room_t, std::int64_t room_r, std::vector<std::int64_t>* taken) const {
    constexpr std::size_t kScan = 256;
    while (order.first < order.offers.size() && ep_[order.offers[order.first].request] >= 0) ++order.first;
    double gain = 0;
    taken->clear();
    const std::size_t end = std::min(order.offers.size(), order.first + kScan);
    for (std::size_t k = order.first; k < end && room_r > 0 && order.min_after[k] <= room_t; ++k) {
      const std::int64_t i = order.offers[k].request;
      if (ep_[i] >= 0 || Tokens(i) > room_t) continue;
      room_t -= Tokens(i);
      room_r -= 1;
      gain += order.offers[k].gain;
      taken->push_back(i);
    }
    return gain;
  }
  // The objective's change if request q leaves `from` for its cheapest other
  // endpoint with room (*to), or for rejection (*to = -1).
  double LeaveLoss(std::int64_t q, std::int32_t from, std::int32_t* to) const {
    double cost = 0;
    const std::int32_t p = CheapestWithRoom(q, from, &cost);
    const double reject = Reject(q);
    const bool moves = p >= 0 && cost < reject;
    if (to != nullptr) *to = moves ? p : -1;
    return (moves ? cost : reject) - Cost(q, from);
  }

  // Exchange: request i on p and request j on q trade places when both fit
  // and the objective falls. Candidates i: the kCandidates requests that
  // would cost most less on another eligible endpoint, taken in request
  // order. A partner j must have about i's token count (within the two
  // endpoints' room), so partners are looked up in each endpoint's requests
  // sorted by tokens; at most kWindow of them per (i, q).
  void Exchange() {
    constexpr std::size_t kWindow = 32;
    constexpr std::size_t kCandidates = 1 << 14;
    std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> by_tokens(m_);
    for (std::int64_t i = 0; i < n_; ++i) {
      if (ep_[i] >= 0) by_tokens[ep_[i]].emplace_back(Tokens(i), i);
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int32_t p = 0; p < m_; ++p) std::sort(by_tokens[p].begin(), by_tokens[p].end());
    // How much cheaper request i would be on its cheapest eligible endpoint.
    const std::vector<double> desire = ScoreAll([&](std::int64_t i) {
      if (ep_[i] < 0) return 0.0;
      const double here = Cost(i, ep_[i]);
      double most = 0;
      for (std::int32_t q : EligibleOf(i)) most = std::max(most, here - Cost(i, q));
      return most;
    });
    std::vector<std::pair<double, std::int64_t>> candidates = Highest(desire, kCandidates);
    std::sort(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    ForEachInBlocks(RequestsOf(candidates), [&](std::int64_t i) {
      const std::int32_t p = ep_[i];
      const double here = Cost(i, p);
      const std::int64_t wi = Tokens(i);
      double best = 0;
      std::int64_t best_j = -1;
      std::int32_t best_q = -1;
      for (std::int32_t q : EligibleOf(i)) {
        const double gain_i = here - Cost(i, q);
        if (q == p || gain_i <= best) continue;
        const auto& list = by_tokens[q];
        auto it = std::lower_bound(list.begin(), list.end(), std::make_pair(wi - room_tokens_[q], std::int64_t{-1}));
        const std::int64_t hi = wi + room_tokens_[p];
        for (std::size_t k = 0; k < kWindow && it != list.end() && it->first <= hi; ++k, ++it) {
          const std::int64_t j = it->second;
          if (ep_[j] != q || !IsEligible(j, p)) continue;
          const double gain = gain_i + Cost(j, q) - Cost(j, p);
          if (gain > best + kMinGain * (std::abs(here) + 1)) {
            best = gain;
            best_j = j;
            best_q = q;
          }
        }
      }
      if (best_j < 0) return;
      // Both leave first, so each fits where the other was.
      Move(i, -1);
      Move(best_j, -1);
      Move(i, best_q);
      Move(best_j, p);
    });
  }

  // Strict mode's checkable invariant, made to hold: no request stays off
  // Azure while an eligible Azure endpoint has room for it. Requests are
  // visited in order and Azure room only shrinks, so one pass suffices.
  void AzureRepair() {
    std::vector<std::int64_t> off_azure;
    for (std::int64_t i = 0; i < n_; ++i) {
      if (ep_[i] >= 0 && !host_.ep_azure[ep_[i]]) off_azure.push_back(i);
    }
    ForEachInBlocks(off_azure, [&](std::int64_t i) {
      const std::int64_t w = Tokens(i);
      double best = 0;
      std::int32_t arg = -1;
      for (std::int32_t p : EligibleOf(i)) {
        if (!host_.ep_azure[p] || !Fits(p, w)) continue;
        const double x = Priced(i, p);
        if (arg < 0 || x < best) {
          best = x;
          arg = p;
        }
      }
      if (arg >= 0) Move(i, arg);
    });
  }

  const HostModel& host_;
  const RequestsView& r_;
  const PhaseResult& phase_;
  const ModelView v_;
  const std::int64_t n_;
  const std::int32_t m_;
  const double* lam_;
  const double* mu_;
  std::vector<std::int32_t>& ep_;
  std::vector<std::int64_t> room_tokens_, room_requests_;
  std::vector<std::uint8_t> home_, priority_;  // per request, from its class
  const Blocks& blocks_;                       // of the eligibility graph (PhaseResult::blocks)
  std::vector<std::int32_t> group_block_;      // per group: its options' block, or -1 (none)
  std::vector<std::int64_t> block_first_;      // [blocks + 1]: block b's requests by_block_[block_first_[b] ..]
  std::vector<std::int64_t> by_block_;         // the requests with an option, by block, ascending
};

}  // namespace

double SolveKnapsack(const std::vector<KnapsackItem>& items, std::int64_t tokens, std::int64_t requests, double guess,
                     std::vector<std::uint8_t>* chosen) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::size_t n = items.size();
  chosen->assign(n, 0);
  if (requests <= 0 || n == 0) return 0;
  std::vector<std::uint32_t> live;  // items whose place the price decides
  double top = 0;                   // at this price every item scores < 0
  // Only finite positive values take part: a NaN or infinite one would break
  // the bisection's order (and its capacity accounting) for all the others.
  auto worth = [&](std::size_t k) { return items[k].value > 0 && std::isfinite(items[k].value); };
  for (std::size_t k = 0; k < n; ++k) {
    if (!worth(k)) continue;
    live.push_back(static_cast<std::uint32_t>(k));
    top = std::max(top, 2 * items[k].value / static_cast<double>(std::max<std::int64_t>(1, items[k].tokens)));
  }
  std::int64_t taken_t = 0, taken_r = 0;  // items taken for every price in the bracket
  auto score_of = [&](std::uint32_t k, double lam) {
    return items[k].value - lam * static_cast<double>(items[k].tokens);
  };
  // At price lam: the tokens of the LP's choice, and the scores ranked
  // slots-th and (slots+1)-th among the live items (-inf when fewer).
  struct Cut {
    std::int64_t tokens;
    double last_in, first_out;
  };
  std::vector<std::pair<double, std::uint32_t>> ranked;  // (-score, item): ties by position
  std::size_t take = 0;
  auto rank = [&](double lam) {
    const std::int64_t slots = requests - taken_r;
    ranked.resize(live.size());
    for (std::size_t j = 0; j < live.size(); ++j) ranked[j] = {-score_of(live[j], lam), live[j]};
    Cut cut{taken_t, kInf, kInf};
    if (slots <= 0) {
      take = 0;
      return cut;
    }
    take = std::min<std::size_t>(static_cast<std::size_t>(slots), ranked.size());
    cut.last_in = cut.first_out = -kInf;
    if (take == 0) return cut;
    std::nth_element(ranked.begin(), ranked.begin() + (take - 1), ranked.end());
    if (take == static_cast<std::size_t>(slots)) cut.last_in = -ranked[take - 1].first;
    for (std::size_t j = take; j < ranked.size(); ++j) cut.first_out = std::max(cut.first_out, -ranked[j].first);
    for (std::size_t j = 0; j < take; ++j) {
      if (ranked[j].first < 0) cut.tokens += items[ranked[j].second].tokens;
    }
    return cut;
  };
  double lo = 0, hi = 0;
  Cut at_lo = rank(0), at_hi{0, kInf, kInf};
  if (at_lo.tokens > tokens) {
    hi = top;
    bool hi_known = false;
    // Evaluates a price inside (lo, hi), moves the bracket's end to it, and
    // once both ends are known drops the items it settles.
    auto probe = [&](double lam) {
      const Cut cut = rank(lam);
      const bool over = cut.tokens > tokens;
      (over ? lo : hi) = lam;
      (over ? at_lo : at_hi) = cut;
      hi_known = hi_known || !over;
      if (hi_known) {
        const double in_above = std::max(0.0, at_lo.first_out), out_below = at_hi.last_in;
        std::size_t kept = 0;
        for (const std::uint32_t k : live) {
          const double best = score_of(k, lo), worst = score_of(k, hi);
          if (best <= 0 || best < out_below) continue;
          if (worst > in_above) {
            (*chosen)[k] = 1;
            taken_t += items[k].tokens;
            ++taken_r;
            continue;
          }
          live[kept++] = k;
        }
        live.resize(kept);
      }
      return over;
    };
    if (guess > 0 && guess < top) {
      bool fits_at_guess = false;
      for (double spread = 1e-3; spread < 1e6; spread *= 8) {
        const double up = std::min(top, guess * (1 + spread));
        if (!probe(up)) {
          fits_at_guess = spread == 1e-3;
          break;
        }
        if (up == top) break;
      }
      for (double spread = 1e-3; fits_at_guess; spread = std::min(0.5, spread * 8)) {
        if (probe(guess * (1 - spread)) || spread == 0.5) break;
      }
    }
    while (hi - lo > 1e-6 * hi) probe(0.5 * (lo + hi));
    at_hi = rank(hi);
  }
  // The LP's choice at hi (its top `take`, positive), then the rest in score
  // order where they fit.
  std::int64_t room_t = tokens - taken_t, room_r = requests - taken_r;
  for (std::size_t j = 0; j < take; ++j) {
    if (ranked[j].first >= 0 || items[ranked[j].second].tokens > room_t) continue;
    (*chosen)[ranked[j].second] = 1;
    room_t -= items[ranked[j].second].tokens;
    --room_r;
  }
  ranked.clear();
  for (std::size_t k = 0; k < n; ++k) {
    if (!(*chosen)[k] && worth(k) && items[k].tokens <= room_t) {
      ranked.emplace_back(-score_of(static_cast<std::uint32_t>(k), hi), static_cast<std::uint32_t>(k));
    }
  }
  std::sort(ranked.begin(), ranked.end());
  for (const auto& entry : ranked) {
    if (room_r <= 0) break;
    const KnapsackItem& item = items[entry.second];
    if (item.tokens > room_t) continue;
    (*chosen)[entry.second] = 1;
    room_t -= item.tokens;
    --room_r;
  }
  SwapIntoRemainder(items, hi, room_t, chosen);
  double total = 0;
  for (std::size_t k = 0; k < n; ++k) {
    if ((*chosen)[k]) total += items[k].value;
  }
  return total;
}

void SwapIntoRemainder(const std::vector<KnapsackItem>& items, double lam, std::int64_t room_t,
                       std::vector<std::uint8_t>* chosen) {
  constexpr std::size_t kCandidates = 64;
  constexpr std::size_t kWindow = 64;
  constexpr int kSwaps = 8;
  // The unchosen items of highest score at lam, and the chosen ones by
  // tokens.
  std::vector<std::pair<double, std::uint32_t>> out;
  std::vector<std::pair<std::int64_t, std::uint32_t>> in;
  for (std::size_t k = 0; k < items.size(); ++k) {
    if ((*chosen)[k]) {
      in.emplace_back(items[k].tokens, static_cast<std::uint32_t>(k));
    } else if (items[k].value > 0) {
      out.emplace_back(-(items[k].value - lam * static_cast<double>(items[k].tokens)), static_cast<std::uint32_t>(k));
    }
  }
  const std::size_t keep = std::min(kCandidates, out.size());
  std::partial_sort(out.begin(), out.begin() + keep, out.end());
  out.resize(keep);
  std::sort(in.begin(), in.end());
  for (int swap = 0; swap < kSwaps; ++swap) {
    double best = 0;
    std::size_t best_b = 0, best_a = 0;
    for (std::size_t b = 0; b < out.size(); ++b) {
      const KnapsackItem& gets = items[out[b].second];
      auto it = std::lower_bound(in.begin(), in.end(), std::make_pair(gets.tokens - room_t, std::uint32_t{0}));
      for (std::size_t w = 0; w < kWindow && it != in.end(); ++w, ++it) {
        const double gain = gets.value - items[it->second].value;
        if (gain > best + 1e-12 * (std::abs(gets.value) + 1)) {
          best = gain;
          best_b = b;
          best_a = static_cast<std::size_t>(it - in.begin());
        }
      }
    }
    if (best <= 0) break;
    const std::uint32_t a = in[best_a].second, b = out[best_b].second;
    (*chosen)[a] = 0;
    (*chosen)[b] = 1;
    room_t += items[a].tokens - items[b].tokens;
    out[best_b].second = a;
    in.erase(in.begin() + static_cast<std::ptrdiff_t>(best_a));
    in.insert(std::lower_bound(in.begin(), in.end(), std::make_pair(items[b].tokens, b)), {items[b].tokens, b});
  }
}

void Repair(const HostModel& host, const RequestsView& requests, AzureFirst mode, int rounds, double target_gap,
            PhaseResult* phase) {
  Repairer(host, requests, phase).Run(mode, rounds, target_gap);
}

void EnforceCapacity(const HostModel& host, const RequestsView& r, std::vector<std::int32_t>* endpoint) {
  const std::int32_t m = host.num_endpoints;
  std::vector<std::int64_t> tokens(m, 0), count(m, 0);
  const std::int64_t n = static_cast<std::int64_t>(endpoint->size());
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t p = (*endpoint)[i];
    if (p < 0) continue;
    tokens[p] += static_cast<std::int64_t>(r.tokens_in[i]) + r.tokens_out[i];
    ++count[p];
  }
  bool over = false;
  for (std::int32_t p = 0; p < m; ++p) over |= tokens[p] > host.cap_tokens[p] || count[p] > host.cap_requests[p];
  if (!over) return;
  for (std::int64_t i = n - 1; i >= 0; --i) {
    const std::int32_t p = (*endpoint)[i];
    if (p < 0 || (tokens[p] <= host.cap_tokens[p] && count[p] <= host.cap_requests[p])) continue;
    tokens[p] -= static_cast<std::int64_t>(r.tokens_in[i]) + r.tokens_out[i];
    --count[p];
    (*endpoint)[i] = -2;
  }
}

}  // namespace azimuth::kernels::internal
