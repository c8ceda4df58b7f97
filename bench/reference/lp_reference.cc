// Copyright 2026 Azimuth authors.
#include "lp_reference.h"

#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>
#include <ClpSimplex.hpp>
#include <ClpSolve.hpp>
#include <CoinPackedMatrix.hpp>

#include <chrono>
#include <cmath>
#include <string>

namespace azimuth::bench {

using kernels::AzureFirst;
using kernels::Cloud;

ReferenceModel BuildReferenceModel(const kernels::ProblemView& problem) {
  const auto& e = problem.endpoints;
  const auto& r = problem.requests;
  const auto& pol = problem.policy;
  const std::int32_t m = static_cast<std::int32_t>(e.model.size);
  const std::int32_t n = static_cast<std::int32_t>(r.model.size);
  ReferenceModel out;
  out.num_endpoints = m;
  out.pair_of.assign(static_cast<std::size_t>(n) * m, -1);
  out.waiver.assign(n, 0);
  for (std::int32_t p = 0; p < m; ++p) {
    out.azure.push_back(e.cloud[p] == Cloud::kAzure);
    out.cap_tokens.push_back(kernels::TokenCapacity(e.tpm_limit[p], pol.window_s));
    out.cap_requests.push_back(kernels::RequestCapacity(e.rpm_limit[p], pol.window_s));
  }
  std::vector<std::uint8_t> ok(m);
  for (std::int32_t i = 0; i < n; ++i) {
    bool any_azure = false;
    for (std::int32_t p = 0; p < m; ++p) {
      ok[p] = r.model[i] == e.model[p] && e.available[p] && (r.zone[i] < 0 || r.zone[i] == e.zone[p]) &&
              (r.slo_ms[i] == 0 || e.latency_p95_ms[p] <= r.slo_ms[i]);
      any_azure = any_azure || (ok[p] && e.cloud[p] == Cloud::kAzure);
    }
    const bool gated = static_cast<std::size_t>(r.model[i]) < pol.launch_gated.size && pol.launch_gated[r.model[i]];
    bool any_other = false;
    for (std::int32_t p = 0; p < m; ++p) {
      if (gated && any_azure && e.cloud[p] != Cloud::kAzure) ok[p] = 0;
      any_other = any_other || (ok[p] && e.cloud[p] != Cloud::kAzure);
    }
    out.waiver[i] = gated && !any_azure && any_other;
    const double tin = r.tokens_in[i], tout = r.tokens_out[i];
    for (std::int32_t p = 0; p < m; ++p) {
      if (!ok[p]) continue;
      const double egress = pol.egress_usd_per_1k[static_cast<int>(r.home_cloud[i])][static_cast<int>(e.cloud[p])];
      const double cost = tin / 1000 * e.price_in_per_1k[p] + tout / 1000 * e.price_out_per_1k[p] +
                          (tin + tout) / 1000 * egress + pol.latency_usd_per_ms * e.latency_p50_ms[p];
      out.pair_of[static_cast<std::size_t>(i) * m + p] = static_cast<std::int32_t>(out.pairs.size());
      out.pairs.push_back({i, p, cost});
    }
    out.reject.push_back(pol.reject_usd[r.priority[i]]);
    out.tokens.push_back(tin + tout);
  }
  return out;
}

namespace {

// Token capacity rows are stated in thousands of tokens, so that their
// coefficients are of the order of the others (1 per request): CLP's
// barrier diverges on the unscaled rows at 20,000 requests.
constexpr double kTokenUnit = 1000.0;

// A linear row over the pair columns (x) and the rejection columns (y).
struct ExtraRow {
  std::vector<double> x, y;
  double lo, hi;
};

struct LpSolution {
  std::vector<double> x, y;
  double objective = 0, seconds = 0;
  bool optimal = false;
};

LpSolution SolveLp(const ReferenceModel& md, const std::vector<double>& cx, const std::vector<double>& cy,
                   const std::vector<ExtraRow>& extra) {
  const auto start = std::chrono::steady_clock::now();
  const int n = static_cast<int>(md.reject.size()), m = md.num_endpoints;
  const int np = static_cast<int>(md.pairs.size());
  const int rows = n + 2 * m + static_cast<int>(extra.size());
  std::vector<CoinBigIndex> starts{0};
  std::vector<int> index;
  std::vector<double> value;
  for (int k = 0; k < np; ++k) {
    const ReferencePair& pr = md.pairs[k];
    index.push_back(pr.request);
    value.push_back(1);
    index.push_back(n + pr.endpoint);
    value.push_back(md.tokens[pr.request] / kTokenUnit);
    index.push_back(n + m + pr.endpoint);
    value.push_back(1);
    for (std::size_t j = 0; j < extra.size(); ++j) {
      if (!extra[j].x.empty() && extra[j].x[k] != 0) {
        index.push_back(n + 2 * m + static_cast<int>(j));
        value.push_back(extra[j].x[k]);
      }
    }
    starts.push_back(static_cast<CoinBigIndex>(index.size()));
  }
  for (int i = 0; i < n; ++i) {
    index.push_back(i);
    value.push_back(1);
    for (std::size_t j = 0; j < extra.size(); ++j) {
      if (!extra[j].y.empty() && extra[j].y[i] != 0) {
        index.push_back(n + 2 * m + static_cast<int>(j));
        value.push_back(extra[j].y[i]);
      }
    }
    starts.push_back(static_cast<CoinBigIndex>(index.size()));
  }
  const int cols = np + n;
  std::vector<int> lengths(cols);
  for (int c = 0; c < cols; ++c) lengths[c] = starts[c + 1] - starts[c];
  CoinPackedMatrix matrix(true, rows, cols, static_cast<CoinBigIndex>(value.size()), value.data(), index.data(),
                          starts.data(), lengths.data());
  std::vector<double> col_lo(cols, 0.0), col_hi(cols, 1.0), obj(cols);
  for (int k = 0; k < np; ++k) obj[k] = cx[k];
  for (int i = 0; i < n; ++i) obj[np + i] = cy[i];
  std::vector<double> row_lo(rows), row_hi(rows);
  for (int i = 0; i < n; ++i) row_lo[i] = row_hi[i] = 1;
  for (int p = 0; p < m; ++p) {
    row_lo[n + p] = row_lo[n + m + p] = -COIN_DBL_MAX;
    row_hi[n + p] = static_cast<double>(md.cap_tokens[p]) / kTokenUnit;
    row_hi[n + m + p] = static_cast<double>(md.cap_requests[p]);
  }
  for (std::size_t j = 0; j < extra.size(); ++j) {
    row_lo[n + 2 * m + j] = extra[j].lo;
    row_hi[n + 2 * m + j] = extra[j].hi;
  }
  ClpSimplex model;
  model.setLogLevel(0);
  model.loadProblem(matrix, col_lo.data(), col_hi.data(), obj.data(), row_lo.data(), row_hi.data());
  ClpSolve options;
  // Barrier with crossover (dual simplex aborts on the tiered objective at
  // 20,000 requests: "primal off to infinity").
  options.setSolveType(ClpSolve::useBarrier);
  model.initialSolve(options);
  LpSolution out;
  out.optimal = model.isProvenOptimal();
  out.objective = model.objectiveValue();
  const double* sol = model.primalColumnSolution();
  out.x.assign(sol, sol + np);
  out.y.assign(sol + np, sol + cols);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

LpLevels Levels(const ReferenceModel& md, const LpSolution& s) {
  LpLevels l;
  for (std::size_t k = 0; k < md.pairs.size(); ++k) {
    l.cost_usd += s.x[k] * md.pairs[k].cost;
    if (md.azure[md.pairs[k].endpoint]) l.azure_tokens += s.x[k] * md.tokens[md.pairs[k].request];
  }
  for (std::size_t i = 0; i < md.reject.size(); ++i) l.reject_usd += s.y[i] * md.reject[i];
  l.objective = s.objective;
  l.seconds = s.seconds;
  l.optimal = s.optimal;
  return l;
}

}  // namespace

LpReference::LpReference(const kernels::ProblemView& problem) : model_(BuildReferenceModel(problem)) {}

LpLevels LpReference::SolveMode(AzureFirst mode, double azure_discount) const {
  if (mode == AzureFirst::kStrict) return SolveStrict();
  std::vector<double> cx(model_.pairs.size());
  for (std::size_t k = 0; k < cx.size(); ++k) {
    const bool az = model_.azure[model_.pairs[k].endpoint];
    cx[k] = model_.pairs[k].cost * (mode == AzureFirst::kWeighted && az ? 1 - azure_discount : 1.0);
  }
  return Levels(model_, SolveLp(model_, cx, model_.reject, {}));
}

LpLevels LpReference::SolveStrict() const {
  const std::size_t np = model_.pairs.size();
  double seconds = 0;
  // Tier 1: rejection cost.
  std::vector<double> zero(np, 0.0);
  LpSolution t1 = SolveLp(model_, zero, model_.reject, {});
  seconds += t1.seconds;
  const double r_star = t1.objective;
  // Tier 2: Azure tokens, rejection held at its optimum.
  std::vector<ExtraRow> extra{{{}, model_.reject, -COIN_DBL_MAX, r_star * (1 + 1e-9) + 1e-9}};
  std::vector<double> az(np);
  for (std::size_t k = 0; k < np; ++k) {
    az[k] = model_.azure[model_.pairs[k].endpoint] ? -model_.tokens[model_.pairs[k].request] : 0.0;
  }
  LpSolution t2 = SolveLp(model_, az, std::vector<double>(model_.reject.size(), 0.0), extra);
  seconds += t2.seconds;
  const double a_star = -t2.objective;
  // Tier 3: cost, both held.
  std::vector<double> az_row(np);
  for (std::size_t k = 0; k < np; ++k) az_row[k] = -az[k];
  extra.push_back({az_row, {}, a_star * (1 - 1e-9) - 1e-6, COIN_DBL_MAX});
  std::vector<double> cost(np);
  for (std::size_t k = 0; k < np; ++k) cost[k] = model_.pairs[k].cost;
  LpSolution t3 = SolveLp(model_, cost, model_.reject, extra);
  LpLevels out = Levels(model_, t3);
  out.seconds = seconds + t3.seconds;
  out.optimal = t1.optimal && t2.optimal && t3.optimal;
  return out;
}

LpLevels LpReference::SolveTiered(double reject_weight, double azure_price) const {
  std::vector<double> cx(model_.pairs.size()), cy(model_.reject.size());
  for (std::size_t k = 0; k < cx.size(); ++k) {
    const ReferencePair& pr = model_.pairs[k];
    cx[k] = pr.cost + (model_.azure[pr.endpoint] ? 0.0 : azure_price * model_.tokens[pr.request]);
  }
  for (std::size_t i = 0; i < cy.size(); ++i) {
    cy[i] = reject_weight * model_.reject[i] + azure_price * model_.tokens[i];
  }
  return Levels(model_, SolveLp(model_, cx, cy, {}));
}

double MinCostFlowOptimum(const kernels::ProblemView& problem) {
  const ReferenceModel md = BuildReferenceModel(problem);
  const int n = static_cast<int>(md.reject.size()), m = md.num_endpoints;
  using Graph = lemon::SmartDigraph;
  Graph g;
  std::vector<Graph::Node> req, ep;
  const Graph::Node source = g.addNode(), sink = g.addNode();
  for (int i = 0; i < n; ++i) req.push_back(g.addNode());
  for (int p = 0; p < m; ++p) ep.push_back(g.addNode());
  Graph::ArcMap<std::int64_t> cap(g), cost(g);
  auto arc = [&](Graph::Node a, Graph::Node b, std::int64_t c, double usd) {
    const Graph::Arc x = g.addArc(a, b);
    cap[x] = c;
    cost[x] = static_cast<std::int64_t>(std::llround(usd * 1e9));
  };
  for (int i = 0; i < n; ++i) {
    arc(source, req[i], 1, 0);
    arc(req[i], sink, 1, md.reject[i]);
  }
  for (const ReferencePair& pr : md.pairs) arc(req[pr.request], ep[pr.endpoint], 1, pr.cost);
  for (int p = 0; p < m; ++p) arc(ep[p], sink, md.cap_requests[p], 0);
  lemon::NetworkSimplex<Graph, std::int64_t, std::int64_t> flow(g);
  flow.upperMap(cap).costMap(cost).stSupply(source, sink, n);
  if (flow.run() != lemon::NetworkSimplex<Graph, std::int64_t, std::int64_t>::OPTIMAL) return NAN;
  return static_cast<double>(flow.totalCost<std::int64_t>()) * 1e-9;
}

std::string CheckInvariants(const kernels::ProblemView& problem, const kernels::Solution& s) {
  const ReferenceModel md = BuildReferenceModel(problem);
  const std::int64_t n = static_cast<std::int64_t>(md.reject.size());
  const std::int32_t m = md.num_endpoints;
  if (static_cast<std::int64_t>(s.endpoint.size()) != n || static_cast<std::int64_t>(s.reason.size()) != n ||
      static_cast<std::int64_t>(s.cost.size()) != n) {
    return "solution does not answer every request exactly once";
  }
  std::vector<std::int64_t> used_t(m, 0), used_r(m, 0);
  double assign = 0, reject = 0;
  std::int64_t assigned = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t p = s.endpoint[i];
    const std::string at = "request " + std::to_string(i) + ": ";
    bool any = false;
    for (std::int32_t q = 0; q < m; ++q) any = any || md.pair_of[i * m + q] >= 0;
    if (p < -1 || p >= m) return at + "endpoint index out of range";
    if (p >= 0) {
      const std::int32_t k = md.pair_of[i * m + p];
      if (k < 0) return at + "assigned to an ineligible endpoint " + std::to_string(p);
      used_t[p] += static_cast<std::int64_t>(md.tokens[i]);
      used_r[p] += 1;
      const kernels::Reason want = md.waiver[i] && !md.azure[p] ? kernels::Reason::kAzureWaiver : kernels::Reason::kOk;
      if (s.reason[i] != want)
        return at + "reason " + kernels::ReasonName(s.reason[i]) + ", expected " + kernels::ReasonName(want);
      if (std::abs(s.cost[i] - md.pairs[k].cost) > 1e-9 * (1 + md.pairs[k].cost)) return at + "wrong cost";
      assign += s.cost[i];
      ++assigned;
    } else {
      const kernels::Reason want = any ? kernels::Reason::kCapacityExhausted : kernels::Reason::kNoEligibleEndpoint;
      if (s.reason[i] != want)
        return at + "reason " + kernels::ReasonName(s.reason[i]) + ", expected " + kernels::ReasonName(want);
      if (s.cost[i] != md.reject[i]) return at + "wrong rejection cost";
      reject += s.cost[i];
    }
  }
  for (std::int32_t p = 0; p < m; ++p) {
    if (used_t[p] > md.cap_tokens[p]) return "endpoint " + std::to_string(p) + ": token capacity exceeded";
    if (used_r[p] > md.cap_requests[p]) return "endpoint " + std::to_string(p) + ": request capacity exceeded";
  }
  if (assigned != s.assigned || n - assigned != s.rejected) return "assigned/rejected counts disagree";
  if (std::abs(assign - s.assign_cost_usd) > 1e-6 * (1 + assign)) return "assign_cost_usd disagrees";
  if (std::abs(reject - s.reject_cost_usd) > 1e-6 * (1 + reject)) return "reject_cost_usd disagrees";
  if (s.gap < 0 || !(s.mode_lower_bound <= s.mode_objective * (1 + 1e-9) + 1e-9)) return "certificate inconsistent";
  if (problem.policy.azure_first == AzureFirst::kStrict) {
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int32_t p = s.endpoint[i];
      if (p < 0 || md.azure[p]) continue;
      for (std::int32_t q = 0; q < m; ++q) {
        if (md.azure[q] && md.pair_of[i * m + q] >= 0 && md.cap_tokens[q] - used_t[q] >= md.tokens[i] &&
            md.cap_requests[q] - used_r[q] >= 1) {
          return "request " + std::to_string(i) + ": off Azure while Azure endpoint " + std::to_string(q) +
                 " has room (strict)";
        }
      }
    }
  }
  return "";
}

}  // namespace azimuth::bench
