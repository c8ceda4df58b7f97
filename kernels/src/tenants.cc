// Copyright 2026 Azimuth authors.
//
// tenants.cc — tenant limits on a solved batch (docs/design.md, "Tenant
// limits"): exact integer admission per tenant, then the capacity it frees
// filled again within every limit.
#include "tenants.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace azimuth::kernels::internal {
namespace {

struct Usage {
  std::int64_t tokens = 0, requests = 0;
  double usd = 0;
};

// Which limit `u` plus (w, 1, cost) would exceed, or kNone.
TenantLimitKind Exceeds(const TenantLimit& l, const Usage& u, std::int64_t w, double cost) {
  if (l.tokens > 0 && u.tokens + w > l.tokens) return TenantLimitKind::kTokens;
  if (l.requests > 0 && u.requests + 1 > l.requests) return TenantLimitKind::kRequests;
  if (l.budget_usd > 0 && u.usd + cost > l.budget_usd) return TenantLimitKind::kBudget;
  return TenantLimitKind::kNone;
}

// ShareFairly(): fair share under scarcity (docs/design.md, "Fair share"),
// on an assignment whose capacity and limits hold. Within each priority,
// tenant t's share is the requests of that priority it has served over its
// weight. A request r refused for capacity (endpoint -1 or -2, eligible
// somewhere) takes the place of a served request s of the same priority on
// an endpoint eligible for r when s's tenant is above r's by more than one
// request (share(s) > (served(r's tenant) + 1) / weight), r fits there once
// s leaves and r's tenant's limits allow it; s then moves to another
// eligible endpoint with room if one has it (`place`; in strict mode on
// Azure first), else it is refused for capacity. In strict mode, on an
// Azure endpoint s is no larger than r, so no Azure room grows and strict
// mode's invariant, restored before, still holds. Each such swap either
// serves one more request or replaces two shares by two below the larger
// of them (the priority's shares, sorted from the top, fall
// lexicographically), so the swaps end; then no refused request has such a
// swap. `waiting` holds the requests with options that the refill saw
// refused (the refused among them are r's). Refused requests go lowest
// share first; of a request's candidates, s's tenant is the one furthest above
// (ties: the first in r's list of endpoints), and s that tenant's largest
// request there (ties: the lowest index): the order is fixed and the answer
// reproducible.
template <typename PriorityOf, typename Tokens, typename Place, typename Take, typename Allows>
void ShareFairly(const HostModel& host, const RequestsView& r, const PolicyView& policy, bool strict,
                 const std::vector<std::int64_t>& waiting, PhaseResult* phase, PriorityOf priority_of, Tokens tokens,
                 Place place, Take take, Allows allows, const std::vector<std::int64_t>* room_t) {
  const std::int64_t n = static_cast<std::int64_t>(r.model.size);
  std::vector<std::int32_t>& ep = phase->endpoint;
  std::int32_t tenants = 0;
  for (std::int64_t i = 0; i < n; ++i) tenants = std::max(tenants, r.tenant[i] + 1);
  auto weight = [&](std::int32_t t) {
    return static_cast<std::size_t>(t) < policy.tenant_weights.size ? policy.tenant_weights[t] : 1.0;
  };
  // Largest first within each (endpoint, tenant) list: the one taken out.
  auto larger = [&](std::int64_t a, std::int64_t b) { return tokens(a) != tokens(b) ? tokens(a) > tokens(b) : a < b; };
  // Per priority: what each tenant has served, the served requests on each
  // endpoint by tenant (largest first), and the requests refused for
  // capacity.
  using ByTenant = std::vector<std::pair<std::int32_t, std::vector<std::int64_t>>>;
  struct Level {
    std::vector<std::int64_t> served;
    std::vector<ByTenant> on;
    std::vector<std::int64_t> refused;
  };
  std::vector<Level> levels(kNumPriorities);
  auto add = [&](Level& lv, std::int32_t p, std::int64_t i) {
    ByTenant& by_tenant = lv.on[p];
    auto it = std::find_if(by_tenant.begin(), by_tenant.end(), [&](const auto& x) { return x.first == r.tenant[i]; });
    if (it == by_tenant.end()) it = by_tenant.insert(by_tenant.end(), {r.tenant[i], {}});
    it->second.insert(std::lower_bound(it->second.begin(), it->second.end(), i, larger), i);
  };
  for (Level& lv : levels) {
    lv.served.assign(tenants, 0);
    lv.on.resize(host.num_endpoints);
  }
  for (std::int64_t i = 0; i < n; ++i) {
    if (ep[i] < 0) continue;
    Level& lv = levels[priority_of(i)];
    ++lv.served[r.tenant[i]];
    add(lv, ep[i], i);
  }
  for (std::int64_t i : waiting) {
    if (ep[i] == -1 || ep[i] == -2) levels[priority_of(i)].refused.push_back(i);
  }
  // Every swap lowers one priority's sorted shares or serves one more
  // request, so the rounds end; the budget is a bound on their time, not
  // their stopping rule. A swap changes the room left on an endpoint,
  // which another priority's requests may use: the rounds run over every
  // priority until none swaps.
  std::int64_t budget = 64 * n + 1024;
  bool swapped = true;
  while (swapped && budget > 0) {
    swapped = false;
    for (Level& lv : levels) {
      auto share = [&](std::int32_t t) { return static_cast<double>(lv.served[t]) / weight(t); };
      // The refused requests of the lowest shares first.
      std::stable_sort(lv.refused.begin(), lv.refused.end(),
                       [&](std::int64_t a, std::int64_t b) { return share(r.tenant[a]) < share(r.tenant[b]); });
      for (std::size_t k = 0; k < lv.refused.size() && budget > 0; ++k) {
        const std::int64_t i = lv.refused[k];
        if (ep[i] >= 0) continue;
        const std::int32_t b = r.tenant[i];
        std::int32_t best_p = -1;
        std::size_t best_slot = 0, best_at = 0;
        double best_share = static_cast<double>(lv.served[b] + 1) / weight(b);
        const std::int32_t g = phase->group_of[i];
        for (std::int64_t e = phase->group_eoff[g]; e < phase->group_eoff[g + 1]; ++e) {
          const std::int32_t p = phase->group_elist[e];
          // In strict mode an Azure endpoint's room never grows: there s
          // is the largest request no larger than i.
          const bool no_larger = strict && host.ep_azure[p];
          for (std::size_t slot = 0; slot < lv.on[p].size(); ++slot) {
            const auto& [a, list] = lv.on[p][slot];
            if (a == b || share(a) <= best_share) continue;
            const std::size_t at = no_larger
                                       ? std::partition_point(list.begin(), list.end(),
                                                              [&](std::int64_t j) { return tokens(j) > tokens(i); }) -
                                             list.begin()
                                       : 0;
            if (at >= list.size() || (*room_t)[p] + tokens(list[at]) < tokens(i) || !allows(i, p)) continue;
            best_p = p;
            best_slot = slot;
            best_at = at;
            best_share = share(a);
          }
        }
        if (best_p < 0) continue;
        --budget;
        swapped = true;
        const std::int32_t a = lv.on[best_p][best_slot].first;
        std::vector<std::int64_t>& list = lv.on[best_p][best_slot].second;
        const std::int64_t s = list[best_at];
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(best_at));
        take(s, best_p, -1);
        ep[s] = -1;
        ep[i] = best_p;
        take(i, best_p, +1);
        ++lv.served[b];
        add(lv, best_p, i);
        // The request that left: elsewhere if an eligible endpoint has room
        // (in strict mode, on Azure if one has).
        std::int32_t q = strict ? place(s, -1, true, nullptr) : -1;
        if (q < 0) q = place(s, -1, false, nullptr);
        if (q >= 0) {
          ep[s] = q;
          take(s, q, +1);
          add(lv, q, s);
        } else {
          --lv.served[a];
          lv.refused.push_back(s);
        }
      }
      lv.refused.erase(std::remove_if(lv.refused.begin(), lv.refused.end(), [&](std::int64_t i) { return ep[i] >= 0; }),
                       lv.refused.end());
    }
  }
}

}  // namespace

// MaximizeTenantPrice (tenants.h): sum_k min(r_k, b_k + x u_k) - x U is
// concave and piecewise linear, its slope (the u of the terms still
// below their r, less U) falls at each breakpoint (r_k - b_k) / u_k. The
// maximiser is where it turns negative: the largest breakpoint at which the
// weight u of the breakpoints at or above it exceeds U, a weighted quantile
// found by selection (three-way partitions around a pivot, expected linear;
// a sort per step had been 90% of the tenant phase at 1M x 64 with 100
// tenants). Returns the maximiser (0 where the weight never exceeds U).
double MaximizeTenantPrice(const std::vector<double>& r, const std::vector<double>& b, const std::vector<double>& u,
                           double limit, std::vector<std::pair<double, double>>* scratch) {
  std::vector<std::pair<double, double>>& breaks = *scratch;  // (breakpoint, u)
  breaks.clear();
  for (std::size_t k = 0; k < r.size(); ++k) {
    if (b[k] < r[k] && u[k] > 0) breaks.emplace_back((r[k] - b[k]) / u[k], u[k]);
  }
  auto first = breaks.begin(), last = breaks.end();
  while (first != last) {
    const double pivot = (first + (last - first) / 2)->first;  // deterministic
    const auto above = std::partition(first, last, [pivot](const auto& x) { return x.first > pivot; });
    const auto equal = std::partition(above, last, [pivot](const auto& x) { return x.first == pivot; });
    double w_above = 0, w_equal = 0;
    for (auto it = first; it != above; ++it) w_above += it->second;
    for (auto it = above; it != equal; ++it) w_equal += it->second;
    if (w_above > limit) {
      last = above;
    } else if (w_above + w_equal > limit) {
      return pivot;
    } else {
      limit -= w_above + w_equal;
      first = equal;
    }
  }
  return 0;
}

double TenantDualGain(const HostModel& host, const RequestsView& r, const PolicyView& policy, const PhaseResult& phase,
                      std::vector<double>* shift, std::vector<double>* prices) {
  shift->clear();
  if (prices != nullptr) prices->clear();
  if (r.tenant.empty() || policy.tenant_limits.empty() || phase.assign_min.size() != r.model.size) return 0;
  const ModelView v = host.View();
  const std::size_t tenants = policy.tenant_limits.size;
  if (prices != nullptr) prices->assign(3 * tenants, 0.0);
  std::vector<std::vector<std::int64_t>> members(tenants);
  for (std::size_t i = 0; i < r.model.size; ++i) {
    const auto t = static_cast<std::size_t>(r.tenant[i]);
    if (t < tenants && !policy.tenant_limits[t].unlimited()) members[t].push_back(static_cast<std::int64_t>(i));
  }
  double gain = 0;
  shift->assign(r.model.size, 0.0);
  std::vector<std::pair<double, double>> scratch;  // MaximizeTenantPrice's, reused by every tenant
  for (std::size_t t = 0; t < tenants; ++t) {
    if (members[t].empty()) continue;
    const TenantLimit& l = policy.tenant_limits[t];
    const std::size_t k = members[t].size();
    std::vector<double> reject(k), base(k), use[3];
    for (auto& u : use) u.resize(k);
    for (std::size_t j = 0; j < k; ++j) {
      const std::int64_t i = members[t][j];
      const RequestClass c = UnpackClass(v, phase.group_key[phase.group_of[i]]);
      const double w = static_cast<double>(r.tokens_in[i]) + r.tokens_out[i];
      reject[j] = EffReject(v, c.priority, w);
      base[j] = phase.assign_min[i];
      use[0][j] = w;
      use[1][j] = 1;
      // A request with no endpoint (+inf) is rejected whatever its prices:
      // 0 keeps its shift finite and changes no term.
      use[2][j] = std::isfinite(phase.true_min[i]) ? phase.true_min[i] : 0.0;
    }
    const double limits[3] = {static_cast<double>(l.tokens), static_cast<double>(l.requests), l.budget_usd};
    double price[3] = {0, 0, 0};
    if (phase.tenant_start.size() == 3 * tenants) std::copy_n(phase.tenant_start.begin() + 3 * t, 3, price);
    // Coordinate ascent over the limits that are set; each step keeps the
    // dual value a valid bound (the prices stay >= 0).
    std::vector<double> shifted(k);
    for (int sweep = 0; sweep < 3; ++sweep) {
      for (int q = 0; q < 3; ++q) {
        if (limits[q] <= 0) continue;
        for (std::size_t j = 0; j < k; ++j) {
          shifted[j] = base[j];
          for (int o = 0; o < 3; ++o) {
            if (o != q) shifted[j] += price[o] * use[o][j];
          }
        }
        price[q] = MaximizeTenantPrice(reject, shifted, use[q], limits[q], &scratch);
      }
    }
    if (prices != nullptr) std::copy(price, price + 3, prices->begin() + 3 * t);
    double with = 0, without = 0;
    for (std::size_t j = 0; j < k; ++j) {
      const double sh = TenantShift(price, use[0][j], use[2][j]);
      (*shift)[members[t][j]] = sh;
      with += std::min(reject[j], base[j] + sh);
      without += std::min(reject[j], base[j]);
    }
    for (int q = 0; q < 3; ++q) with -= price[q] * std::max(limits[q], 0.0);
    gain += std::max(0.0, with - without);
  }
  return gain;
}

void EnforceTenantLimits(const HostModel& host, const RequestsView& r, const PolicyView& policy, AzureFirst mode,
                         PhaseResult* phase) {
  if (r.tenant.empty() || (policy.tenant_limits.empty() && !policy.fair_share)) return;
  const ModelView v = host.View();
  const std::int64_t n = static_cast<std::int64_t>(r.model.size);
  const std::size_t tenants = policy.tenant_limits.size;
  std::vector<std::int32_t>& ep = phase->endpoint;
  auto limit_of = [&](std::int64_t i) -> const TenantLimit* {
    const auto t = static_cast<std::size_t>(r.tenant[i]);
    return t < tenants && !policy.tenant_limits[t].unlimited() ? &policy.tenant_limits[t] : nullptr;
  };
  auto tokens = [&](std::int64_t i) { return static_cast<std::int64_t>(r.tokens_in[i]) + r.tokens_out[i]; };
  // Each request's home cloud and priority, unpacked once.
  std::vector<std::uint8_t> home(n), priority(n);
  for (std::int64_t i = 0; i < n; ++i) {
    const RequestClass c = UnpackClass(v, phase->group_key[phase->group_of[i]]);
    home[i] = static_cast<std::uint8_t>(c.home);
    priority[i] = static_cast<std::uint8_t>(c.priority);
  }
  struct HomePriority {
    std::int32_t home, priority;
  };
  auto cls = [&](std::int64_t i) { return HomePriority{home[i], priority[i]}; };
  auto cost = [&](std::int64_t i, std::int32_t p) {
    return TrueCost(v, cls(i).home, r.tokens_in[i], r.tokens_out[i], p);
  };
  // What serving i on p saves in the objective over rejecting it.
  auto value = [&](std::int64_t i, std::int32_t p) {
    const HomePriority c = cls(i);
    return EffReject(v, c.priority, static_cast<double>(tokens(i))) -
           EffCost(v, c.home, r.tokens_in[i], r.tokens_out[i], p);
  };

  // (1) Each tenant over a limit keeps its most valuable requests per unit
  // of the limits it overran (a greedy knapsack), in a fixed order.
  std::vector<Usage> used(tenants);
  std::vector<std::vector<std::int64_t>> admitted(tenants);
  for (std::int64_t i = 0; i < n; ++i) {
    if (ep[i] < 0 || limit_of(i) == nullptr) continue;
    Usage& u = used[r.tenant[i]];
    u.tokens += tokens(i);
    u.requests += 1;
    u.usd += cost(i, ep[i]);
    admitted[r.tenant[i]].push_back(i);
  }
  for (std::size_t t = 0; t < tenants; ++t) {
    const TenantLimit& l = policy.tenant_limits[t];
    Usage& u = used[t];
    const bool over_t = l.tokens > 0 && u.tokens > l.tokens, over_r = l.requests > 0 && u.requests > l.requests,
               over_b = l.budget_usd > 0 && u.usd > l.budget_usd;
    if (!over_t && !over_r && !over_b) continue;
    std::vector<std::int64_t>& list = admitted[t];
    std::vector<double> density(list.size());
    for (std::size_t k = 0; k < list.size(); ++k) {
      const std::int64_t i = list[k];
      const double c = cost(i, ep[i]);
      const double weight = (over_t ? static_cast<double>(tokens(i)) / static_cast<double>(l.tokens) : 0.0) +
                            (over_r ? 1.0 / static_cast<double>(l.requests) : 0.0) + (over_b ? c / l.budget_usd : 0.0);
      density[k] = value(i, ep[i]) / std::max(weight, 1e-300);
    }
    std::vector<std::size_t> order(list.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return density[a] > density[b]; });
    Usage kept;
    for (std::size_t k : order) {
      const std::int64_t i = list[k];
      const double c = cost(i, ep[i]);
      const TenantLimitKind over = Exceeds(l, kept, tokens(i), c);
      if (over != TenantLimitKind::kNone) {
        ep[i] = TenantRejection(over);
        continue;
      }
      kept.tokens += tokens(i);
      kept.requests += 1;
      kept.usd += c;
    }
    u = kept;
  }

  // (2) The capacity they freed, filled again: requests rejected for
  // capacity, most costly to reject first, each on its cheapest eligible
  // endpoint (in the objective) with room that its tenant's limits allow.
  // This runs even when no tenant overran: a solve that priced the tenants
  // (TenantPricing) may leave one short of its limits, with requests
  // rejected at the margin that now fit. A request that had room but not
  // within its tenant's limits is refused by them (TENANT_LIMIT).
  std::vector<std::int64_t> room_t = host.cap_tokens, room_r = host.cap_requests;
  for (std::int64_t i = 0; i < n; ++i) {
    if (ep[i] < 0) continue;
    room_t[ep[i]] -= tokens(i);
    room_r[ep[i]] -= 1;
  }
  std::vector<std::int64_t> waiting;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t g = phase->group_of[i];
    if (ep[i] == -1 || ep[i] == -2) {
      if (phase->group_eoff[g + 1] > phase->group_eoff[g]) waiting.push_back(i);
    }
  }
  std::vector<double> reject(waiting.size());
  for (std::size_t k = 0; k < waiting.size(); ++k) {
    reject[k] = EffReject(v, cls(waiting[k]).priority, static_cast<double>(tokens(waiting[k])));
  }
  std::vector<std::size_t> order(waiting.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return reject[a] > reject[b]; });
  // The cheapest (in the objective) eligible endpoint with room for i that
  // its tenant's limits allow: a new placement, or a move from `from`
  // (which changes only what the tenant spends). *blocked, when given, gets
  // the limit that ruled out an endpoint with room (kNone if none did).
  auto place = [&](std::int64_t i, std::int32_t from, bool azure_only, TenantLimitKind* blocked) {
    const std::int32_t g = phase->group_of[i];
    const TenantLimit* l = limit_of(i);
    const HomePriority c = cls(i);
    std::int32_t best = -1;
    double best_objective = 0;
    for (std::int64_t k = phase->group_eoff[g]; k < phase->group_eoff[g + 1]; ++k) {
      const std::int32_t p = phase->group_elist[k];
      if (p == from || (azure_only && !host.ep_azure[p])) continue;
      if (room_t[p] < tokens(i) || room_r[p] < 1) continue;
      if (l != nullptr) {
        const Usage& u = used[r.tenant[i]];
        const double c_p = cost(i, p);
        const TenantLimitKind over = from < 0 ? Exceeds(*l, u, tokens(i), c_p)
                                     : l->budget_usd > 0 && u.usd + c_p - cost(i, from) > l->budget_usd
                                         ? TenantLimitKind::kBudget
                                         : TenantLimitKind::kNone;
        if (over != TenantLimitKind::kNone) {
          if (blocked != nullptr && *blocked == TenantLimitKind::kNone) *blocked = over;
          continue;
        }
      }
      const double objective = EffCost(v, c.home, r.tokens_in[i], r.tokens_out[i], p);
      if (best < 0 || objective < best_objective) {
        best = p;
        best_objective = objective;
      }
    }
    return best;
  };
  auto take = [&](std::int64_t i, std::int32_t p, int sign) {
    room_t[p] -= sign * tokens(i);
    room_r[p] -= sign;
    if (const TenantLimit* l = limit_of(i); l != nullptr) {
      Usage& u = used[r.tenant[i]];
      u.tokens += sign * tokens(i);
      u.requests += sign;
      u.usd += sign * cost(i, p);
    }
  };
  for (std::size_t k : order) {
    const std::int64_t i = waiting[k];
    TenantLimitKind blocked = TenantLimitKind::kNone;
    const std::int32_t p = place(i, -1, false, &blocked);
    if (p < 0) {
      if (blocked != TenantLimitKind::kNone) ep[i] = TenantRejection(blocked);
      continue;
    }
    if (value(i, p) <= 0) continue;  // rejecting it is no worse
    ep[i] = p;
    take(i, p, +1);
  }
  // (3) Strict mode's invariant: no request stays off Azure while an
  // eligible Azure endpoint has room for it (within its tenant's budget).
  if (mode == AzureFirst::kStrict) {
    for (std::int64_t i = 0; i < n; ++i) {
      if (ep[i] < 0 || host.ep_azure[ep[i]]) continue;
      const std::int32_t p = place(i, ep[i], /*azure_only=*/true, nullptr);
      if (p < 0) continue;
      take(i, ep[i], -1);
      ep[i] = p;
      take(i, p, +1);
    }
  }
  // (4) Fair share: after the Azure moves, whose freed room it may use.
  if (policy.fair_share) {
    ShareFairly(
        host, r, policy, mode == AzureFirst::kStrict, waiting, phase, [&](std::int64_t i) { return cls(i).priority; },
        tokens, place, take,
        [&](std::int64_t i, std::int32_t p) {
          const TenantLimit* l = limit_of(i);
          return l == nullptr || Exceeds(*l, used[r.tenant[i]], tokens(i), cost(i, p)) == TenantLimitKind::kNone;
        },
        &room_t);
  }
}

}  // namespace azimuth::kernels::internal
