// Copyright 2026 Azimuth authors.
#include "lp_reference.h"

#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>
#include <ClpSimplex.hpp>
#include <ClpSolve.hpp>
#include <CoinPackedMatrix.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
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
  out.waiver_rule.assign(n, kernels::Rule::kEligible);
  std::vector<std::uint8_t> ok(m);
  for (std::int32_t i = 0; i < n; ++i) {
    bool any_azure = false;
    const kernels::Needs needs = r.needs.empty() ? kernels::Needs{} : r.need_sets[r.needs[i]];
    const std::int64_t tokens = static_cast<std::int64_t>(r.tokens_in[i]) + r.tokens_out[i];
    // Rules 1-6 in order; the Azure endpoint that passes the most of them
    // names the rule that excluded Azure.
    int azure_passed = 0;
    for (std::int32_t p = 0; p < m; ++p) {
      const std::uint64_t features = e.features.empty() ? 0 : e.features[p];
      const std::int64_t context = e.max_context_tokens.empty() ? 0 : e.max_context_tokens[p];
      const bool rules[6] = {r.model[i] == e.model[p],
                             e.available[p] != 0,
                             r.zone[i] < 0 || r.zone[i] == e.zone[p],
                             r.slo_ms[i] == 0 || e.latency_p95_ms[p] <= r.slo_ms[i],
                             !needs.unknown && (needs.features & features) == needs.features,
                             context == 0 || tokens <= context};
      int passed = 0;
      while (passed < 6 && rules[passed]) ++passed;
      ok[p] = passed == 6;
      if (e.cloud[p] == Cloud::kAzure) azure_passed = std::max(azure_passed, passed);
      any_azure = any_azure || (ok[p] && e.cloud[p] == Cloud::kAzure);
    }
    const kernels::Rule failed[6] = {kernels::Rule::kModel, kernels::Rule::kHealth,     kernels::Rule::kZone,
                                     kernels::Rule::kSlo,   kernels::Rule::kCapability, kernels::Rule::kContext};
    const bool gated = static_cast<std::size_t>(r.model[i]) < pol.launch_gated.size && pol.launch_gated[r.model[i]];
    bool any_other = false;
    for (std::int32_t p = 0; p < m; ++p) {
      if (gated && any_azure && e.cloud[p] != Cloud::kAzure) ok[p] = 0;
      any_other = any_other || (ok[p] && e.cloud[p] != Cloud::kAzure);
    }
    out.waiver[i] = gated && !any_azure && any_other;
    if (out.waiver[i]) out.waiver_rule[i] = failed[std::min(azure_passed, 5)];
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
    const bool limited = !r.tenant.empty() && static_cast<std::size_t>(r.tenant[i]) < pol.tenant_limits.size &&
                         !pol.tenant_limits[r.tenant[i]].unlimited();
    out.tenant.push_back(limited ? r.tenant[i] : -1);
  }
  out.tenant_limits.assign(pol.tenant_limits.data, pol.tenant_limits.data + pol.tenant_limits.size);
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
  double objective = 0, seconds = 0, engine_seconds = 0;
  bool optimal = false;
};

// One LP in column-major form, as both engines take it.
struct LpArrays {
  int rows = 0, cols = 0;
  std::vector<CoinBigIndex> starts;
  std::vector<int> index;
  std::vector<double> value, col_lo, col_hi, obj, row_lo, row_hi;
};

LpArrays BuildLp(const ReferenceModel& md, const std::vector<double>& cx, const std::vector<double>& cy,
                 const std::vector<ExtraRow>& extra) {
  const int n = static_cast<int>(md.reject.size()), m = md.num_endpoints;
  const int np = static_cast<int>(md.pairs.size());
  LpArrays lp;
  lp.rows = n + 2 * m + static_cast<int>(extra.size());
  lp.cols = np + n;
  lp.starts.push_back(0);
  for (int k = 0; k < np; ++k) {
    const ReferencePair& pr = md.pairs[k];
    lp.index.push_back(pr.request);
    lp.value.push_back(1);
    lp.index.push_back(n + pr.endpoint);
    lp.value.push_back(md.tokens[pr.request] / kTokenUnit);
    lp.index.push_back(n + m + pr.endpoint);
    lp.value.push_back(1);
    for (std::size_t j = 0; j < extra.size(); ++j) {
      if (!extra[j].x.empty() && extra[j].x[k] != 0) {
        lp.index.push_back(n + 2 * m + static_cast<int>(j));
        lp.value.push_back(extra[j].x[k]);
      }
    }
    lp.starts.push_back(static_cast<CoinBigIndex>(lp.index.size()));
  }
  for (int i = 0; i < n; ++i) {
    lp.index.push_back(i);
    lp.value.push_back(1);
    for (std::size_t j = 0; j < extra.size(); ++j) {
      if (!extra[j].y.empty() && extra[j].y[i] != 0) {
        lp.index.push_back(n + 2 * m + static_cast<int>(j));
        lp.value.push_back(extra[j].y[i]);
      }
    }
    lp.starts.push_back(static_cast<CoinBigIndex>(lp.index.size()));
  }
  lp.col_lo.assign(lp.cols, 0.0);
  lp.col_hi.assign(lp.cols, 1.0);
  // A request cannot go where it does not fit (more tokens than the
  // endpoint's token capacity, or no request capacity): a bound of the
  // integer problem's own, which the solver's bound uses too (an endpoint is
  // an option of a group only with room for its smallest request).
  for (int k = 0; k < np; ++k) {
    const ReferencePair& pr = md.pairs[k];
    if (md.tokens[pr.request] > static_cast<double>(md.cap_tokens[pr.endpoint]) || md.cap_requests[pr.endpoint] < 1) {
      lp.col_hi[k] = 0;
    }
  }
  lp.obj.resize(lp.cols);
  for (int k = 0; k < np; ++k) lp.obj[k] = cx[k];
  for (int i = 0; i < n; ++i) lp.obj[np + i] = cy[i];
  lp.row_lo.resize(lp.rows);
  lp.row_hi.resize(lp.rows);
  for (int i = 0; i < n; ++i) lp.row_lo[i] = lp.row_hi[i] = 1;
  for (int p = 0; p < m; ++p) {
    lp.row_lo[n + p] = lp.row_lo[n + m + p] = -COIN_DBL_MAX;
    lp.row_hi[n + p] = static_cast<double>(md.cap_tokens[p]) / kTokenUnit;
    lp.row_hi[n + m + p] = static_cast<double>(md.cap_requests[p]);
  }
  for (std::size_t j = 0; j < extra.size(); ++j) {
    lp.row_lo[n + 2 * m + j] = extra[j].lo;
    lp.row_hi[n + 2 * m + j] = extra[j].hi;
  }
  return lp;
}

// CLP in this process: barrier with crossover (dual simplex aborts on the
// tiered objective at 20,000 requests: "primal off to infinity").
void SolveWithClp(const LpArrays& lp, LpSolution* out, std::vector<double>* columns) {
  std::vector<int> lengths(lp.cols);
  for (int c = 0; c < lp.cols; ++c) lengths[c] = lp.starts[c + 1] - lp.starts[c];
  CoinPackedMatrix matrix(true, lp.rows, lp.cols, static_cast<CoinBigIndex>(lp.value.size()), lp.value.data(),
                          lp.index.data(), lp.starts.data(), lengths.data());
  ClpSimplex model;
  model.setLogLevel(0);
  model.loadProblem(matrix, lp.col_lo.data(), lp.col_hi.data(), lp.obj.data(), lp.row_lo.data(), lp.row_hi.data());
  ClpSolve options;
  options.setSolveType(ClpSolve::useBarrier);
  const auto start = std::chrono::steady_clock::now();
  model.initialSolve(options);
  out->engine_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out->optimal = model.isProvenOptimal();
  out->objective = model.objectiveValue();
  const double* sol = model.primalColumnSolution();
  columns->assign(sol, sol + lp.cols);
}

// Runs a command with /bin/sh and returns its standard output, or nullopt
// when it cannot be started or exits non-zero.
std::optional<std::string> Capture(const std::string& command) {
  std::FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string text;
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) text.append(buffer, got);
  if (pclose(pipe) != 0) return std::nullopt;
  return text;
}

std::string Quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string HighsPython() {
  const char* env = std::getenv("AZIMUTH_HIGHS_PYTHON");
  return env != nullptr && *env != '\0' ? env : AZIMUTH_HIGHS_PYTHON;
}

// The number after `"key": ` in the script's one JSON line.
double JsonNumber(const std::string& line, const std::string& key) {
  const std::size_t at = line.find("\"" + key + "\": ");
  return at == std::string::npos ? NAN : std::strtod(line.c_str() + at + key.size() + 4, nullptr);
}

// HiGHS out of process: Debian 12 packages it only inside SciPy, so the LP
// goes to PyPI's highspy (highs_lp.py, in the venv of highs_venv.sh) as a
// binary file, and the columns come back the same way.
void SolveWithHighs(const LpArrays& lp, const std::string& solver, LpSolution* out, std::vector<double>* columns) {
  char dir_template[] = "/tmp/azimuth-highs-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) {
    std::fprintf(stderr, "lp_reference: mkdtemp: %s\n", std::strerror(errno));
    return;
  }
  const std::string lp_path = std::string(dir) + "/lp.bin", solution_path = std::string(dir) + "/x.bin";
  {
    std::ofstream f(lp_path, std::ios::binary);
    auto put = [&f](const void* data, std::size_t bytes) { f.write(static_cast<const char*>(data), bytes); };
    const std::int64_t head[3] = {lp.rows, lp.cols, static_cast<std::int64_t>(lp.value.size())};
    put(head, sizeof head);
    for (const std::vector<double>* v : {&lp.obj, &lp.col_lo, &lp.col_hi, &lp.row_lo, &lp.row_hi}) {
      put(v->data(), v->size() * sizeof(double));
    }
    const std::vector<std::int64_t> starts(lp.starts.begin(), lp.starts.end());
    const std::vector<std::int32_t> index(lp.index.begin(), lp.index.end());
    put(starts.data(), starts.size() * sizeof(std::int64_t));
    put(index.data(), index.size() * sizeof(std::int32_t));
    put(lp.value.data(), lp.value.size() * sizeof(double));
  }
  const std::optional<std::string> line = Capture(Quoted(HighsPython()) + " " + Quoted(AZIMUTH_HIGHS_SCRIPT) + " " +
                                                  Quoted(lp_path) + " " + Quoted(solution_path) + " " + Quoted(solver));
  if (!line) {
    std::fprintf(stderr,
                 "lp_reference: HiGHS failed (%s %s); create its venv with bench/reference/highs_venv.sh, or point "
                 "AZIMUTH_HIGHS_PYTHON at a python with highspy\n",
                 HighsPython().c_str(), AZIMUTH_HIGHS_SCRIPT);
  } else {
    // The last line is the JSON (highspy prints its banner first).
    const std::string json = line->substr(line->rfind('{') == std::string::npos ? 0 : line->rfind('{'));
    out->optimal = json.find("\"optimal\": true") != std::string::npos;
    out->objective = JsonNumber(json, "objective");
    out->engine_seconds = JsonNumber(json, "seconds");
    columns->assign(lp.cols, 0.0);
    std::ifstream f(solution_path, std::ios::binary);
    f.read(reinterpret_cast<char*>(columns->data()), static_cast<std::streamsize>(lp.cols * sizeof(double)));
    if (f.gcount() != static_cast<std::streamsize>(lp.cols * sizeof(double))) out->optimal = false;
  }
  std::remove(lp_path.c_str());
  std::remove(solution_path.c_str());
  rmdir(dir);
}

// The tenant limits as rows: per limited tenant and limit that is set, its
// pairs' tokens, count or cost at most the limit.
std::vector<ExtraRow> TenantRows(const ReferenceModel& md) {
  std::vector<ExtraRow> rows;
  const std::size_t np = md.pairs.size();
  for (std::size_t t = 0; t < md.tenant_limits.size(); ++t) {
    const kernels::TenantLimit& l = md.tenant_limits[t];
    const double limits[3] = {static_cast<double>(l.tokens) / kTokenUnit, static_cast<double>(l.requests),
                              l.budget_usd};
    for (int kind = 0; kind < 3; ++kind) {
      if (limits[kind] <= 0) continue;
      ExtraRow row{std::vector<double>(np, 0.0), {}, -COIN_DBL_MAX, limits[kind]};
      bool any = false;
      for (std::size_t k = 0; k < np; ++k) {
        const ReferencePair& pr = md.pairs[k];
        if (md.tenant[pr.request] != static_cast<std::int32_t>(t)) continue;
        row.x[k] = kind == 0 ? md.tokens[pr.request] / kTokenUnit : kind == 1 ? 1.0 : pr.cost;
        any = true;
      }
      if (any) rows.push_back(std::move(row));
    }
  }
  return rows;
}

LpSolution SolveLp(const ReferenceModel& md, LpEngine engine, const std::vector<double>& cx,
                   const std::vector<double>& cy, std::vector<ExtraRow> extra) {
  const auto start = std::chrono::steady_clock::now();
  for (ExtraRow& row : TenantRows(md)) extra.push_back(std::move(row));
  const LpArrays lp = BuildLp(md, cx, cy, extra);
  LpSolution out;
  std::vector<double> columns;
  if (engine == LpEngine::kClp) {
    SolveWithClp(lp, &out, &columns);
  } else {
    SolveWithHighs(lp, "choose", &out, &columns);
  }
  if (static_cast<int>(columns.size()) == lp.cols) {
    const std::size_t np = md.pairs.size();
    out.x.assign(columns.begin(), columns.begin() + static_cast<std::ptrdiff_t>(np));
    out.y.assign(columns.begin() + static_cast<std::ptrdiff_t>(np), columns.end());
  } else {
    out.optimal = false;
    out.x.assign(md.pairs.size(), 0.0);
    out.y.assign(md.reject.size(), 0.0);
  }
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
  l.engine_seconds = s.engine_seconds;
  l.optimal = s.optimal;
  return l;
}

}  // namespace

const char* LpEngineName(LpEngine engine) { return engine == LpEngine::kClp ? "clp" : "highs"; }

LpReference::LpReference(const kernels::ProblemView& problem, LpEngine engine)
    : model_(BuildReferenceModel(problem)), engine_(engine) {}

LpLevels LpReference::SolveMode(AzureFirst mode, double azure_discount) const {
  if (mode == AzureFirst::kStrict) return SolveStrict();
  std::vector<double> cx(model_.pairs.size());
  for (std::size_t k = 0; k < cx.size(); ++k) {
    const bool az = model_.azure[model_.pairs[k].endpoint];
    cx[k] = model_.pairs[k].cost * (mode == AzureFirst::kWeighted && az ? 1 - azure_discount : 1.0);
  }
  return Levels(model_, SolveLp(model_, engine_, cx, model_.reject, {}));
}

LpLevels LpReference::SolveStrict() const {
  const std::size_t np = model_.pairs.size();
  double seconds = 0, engine_seconds = 0;
  // Tier 1: rejection cost.
  std::vector<double> zero(np, 0.0);
  LpSolution t1 = SolveLp(model_, engine_, zero, model_.reject, {});
  seconds += t1.seconds;
  engine_seconds += t1.engine_seconds;
  const double r_star = t1.objective;
  // Tier 2: Azure tokens, rejection held at its optimum.
  std::vector<ExtraRow> extra{{{}, model_.reject, -COIN_DBL_MAX, r_star * (1 + 1e-9) + 1e-9}};
  std::vector<double> az(np);
  for (std::size_t k = 0; k < np; ++k) {
    az[k] = model_.azure[model_.pairs[k].endpoint] ? -model_.tokens[model_.pairs[k].request] : 0.0;
  }
  LpSolution t2 = SolveLp(model_, engine_, az, std::vector<double>(model_.reject.size(), 0.0), extra);
  seconds += t2.seconds;
  engine_seconds += t2.engine_seconds;
  const double a_star = -t2.objective;
  // Tier 3: cost, both held.
  std::vector<double> az_row(np);
  for (std::size_t k = 0; k < np; ++k) az_row[k] = -az[k];
  extra.push_back({az_row, {}, a_star * (1 - 1e-9) - 1e-6, COIN_DBL_MAX});
  std::vector<double> cost(np);
  for (std::size_t k = 0; k < np; ++k) cost[k] = model_.pairs[k].cost;
  LpSolution t3 = SolveLp(model_, engine_, cost, model_.reject, extra);
  LpLevels out = Levels(model_, t3);
  out.seconds = seconds + t3.seconds;
  out.engine_seconds = engine_seconds + t3.engine_seconds;
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
  return Levels(model_, SolveLp(model_, engine_, cx, cy, {}));
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
  // Which limit refused a request: exactly the TENANT_LIMIT answers name one
  // (the column is empty when none is refused).
  if (!s.tenant_limit.empty() && static_cast<std::int64_t>(s.tenant_limit.size()) != n) {
    return "tenant_limit does not answer every request";
  }
  for (std::int64_t i = 0; i < n; ++i) {
    const bool named = !s.tenant_limit.empty() && s.tenant_limit[i] != kernels::TenantLimitKind::kNone;
    if (named != (s.reason[i] == kernels::Reason::kTenantLimit)) {
      return "request " + std::to_string(i) + ": TENANT_LIMIT and its tenant_limit disagree";
    }
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
      if (want == kernels::Reason::kAzureWaiver && !s.waiver_rule.empty() && s.waiver_rule[i] != md.waiver_rule[i]) {
        return at + "waiver rule " + kernels::RuleName(s.waiver_rule[i]) + ", expected " +
               kernels::RuleName(md.waiver_rule[i]);
      }
      if (std::abs(s.cost[i] - md.pairs[k].cost) > 1e-9 * (1 + md.pairs[k].cost)) return at + "wrong cost";
      assign += s.cost[i];
      ++assigned;
    } else if (s.reason[i] == kernels::Reason::kTenantLimit) {
      if (!any) return at + "TENANT_LIMIT for a request no endpoint is eligible for";
      if (md.tenant[i] < 0) return at + "TENANT_LIMIT for a tenant without limits";
      if (s.cost[i] != md.reject[i]) return at + "wrong rejection cost";
      reject += s.cost[i];
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
  // Tenant limits, exactly (the budget to a part in 1e12 of rounding).
  std::vector<std::int64_t> tenant_t(md.tenant_limits.size(), 0), tenant_r(md.tenant_limits.size(), 0);
  std::vector<double> tenant_usd(md.tenant_limits.size(), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    if (s.endpoint[i] < 0 || md.tenant[i] < 0) continue;
    tenant_t[md.tenant[i]] += static_cast<std::int64_t>(md.tokens[i]);
    tenant_r[md.tenant[i]] += 1;
    tenant_usd[md.tenant[i]] += s.cost[i];
  }
  for (std::size_t t = 0; t < md.tenant_limits.size(); ++t) {
    const kernels::TenantLimit& l = md.tenant_limits[t];
    const std::string at = "tenant " + std::to_string(t) + ": ";
    if (l.tokens > 0 && tenant_t[t] > l.tokens) return at + "token limit exceeded";
    if (l.requests > 0 && tenant_r[t] > l.requests) return at + "request limit exceeded";
    if (l.budget_usd > 0 && tenant_usd[t] > l.budget_usd * (1 + 1e-12)) return at + "budget exceeded";
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
        const std::int32_t t = md.tenant[i];
        const double budget_left =
            t >= 0 && md.tenant_limits[t].budget_usd > 0 ? md.tenant_limits[t].budget_usd - tenant_usd[t] : 1e300;
        if (md.azure[q] && md.pair_of[i * m + q] >= 0 && md.cap_tokens[q] - used_t[q] >= md.tokens[i] &&
            md.cap_requests[q] - used_r[q] >= 1 && md.pairs[md.pair_of[i * m + q]].cost - s.cost[i] <= budget_left) {
          return "request " + std::to_string(i) + ": off Azure while Azure endpoint " + std::to_string(q) +
                 " has room (strict)";
        }
      }
    }
  }
  return "";
}

}  // namespace azimuth::bench
