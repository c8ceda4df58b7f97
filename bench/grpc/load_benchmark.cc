// Copyright 2026 Azimuth authors.
//
// load_benchmark — drives a running azimuthd over loopback from this separate
// process and reports what SREs size deployments by:
//
//   --mode stream: S AssignStream streams, each keeping W messages of B
//                  requests in flight; decisions/s and the p50/p99 latency of
//                  a message (send to answer, on the client).
//   --mode unary:  C threads sending single-request Assign calls back to back;
//                  calls/s and p50/p99 latency.
//   --mode mixed:  both at once, plus a caller of Explain (ids it was
//                  answered for and ids never sent, alternately) and an agent
//                  reporting every endpoint's telemetry every 100 ms: the
//                  soak (with --capacity_scale 300 quotas bind).
//
// With no --server it starts azimuthd itself (--azimuthd) on a free port with
// the demo endpoints, their quotas scaled by --capacity_scale (by default so
// large that none binds), and samples the server's resident memory every
// second (flat memory = no leak). With --replicas N (and --redis) it starts N
// replicas sharing one redis-server it also starts (docs/cluster.md), spreads
// the streams and callers over them, and reports how much of the quota the
// replicas served together.
//
//   load_benchmark --mode stream --duration_s 60 --json stream.json
//   load_benchmark --mode unary --threads 4 --duration_s 30
//   load_benchmark --mode mixed --capacity_scale 300 --duration_s 600
//   load_benchmark --mode stream --replicas 3 --redis --streams 3
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "azimuth/v1/scheduler.grpc.pb.h"
#include "azimuth/v1/telemetry.grpc.pb.h"
#include "bench/common/processes.h"
#include "bench/workload/generator.h"
#include "scheduler/cli/remote.h"
#include "scheduler/server/config.h"
#include "scheduler/service/convert.h"

ABSL_FLAG(std::string, server, "", "azimuthd address; empty: start one (see --azimuthd)");
ABSL_FLAG(std::string, azimuthd, AZIMUTHD_PATH, "azimuthd binary to start when --server is empty");
ABSL_FLAG(std::string, mode, "stream", "stream, unary or mixed");
ABSL_FLAG(double, duration_s, 10, "measured seconds (after 1 s of warm-up)");
ABSL_FLAG(int, streams, 2, "stream: concurrent AssignStream streams");
ABSL_FLAG(int, batch, 8192, "stream: requests per message");
ABSL_FLAG(int, in_flight, 4, "stream: messages in flight per stream");
ABSL_FLAG(int, threads, 2, "unary: concurrent callers");
ABSL_FLAG(int, endpoints, 64,
          "the started azimuthd's footprint: the workload generator's endpoints (64: the demo's); the load's "
          "requests come from the same generator");
ABSL_FLAG(int, warm_iterations, 0, "the started azimuthd's batcher.warm_iterations (0: its default)");
ABSL_FLAG(int, repair_rounds, 0, "the started azimuthd's batcher.repair_rounds (0: its default, -1: none)");
ABSL_FLAG(std::string, json, "", "write the results as JSON here");
ABSL_FLAG(int, replicas, 1, "azimuthd replicas to start (no --server); without --redis each has the whole quota");
ABSL_FLAG(bool, redis, false, "start a redis-server (--redis_server) and let the replicas share quotas through it");
ABSL_FLAG(std::string, redis_server, "redis-server", "the redis-server binary --redis starts");
ABSL_FLAG(double, capacity_scale, 100000,
          "the started azimuthd's endpoint quotas, x the demo's (sized for 200k requests/min at load 0.9); "
          "300 makes capacity bind at about 1M requests/s");

namespace azimuth::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr char kToken[] = "load-benchmark-token";

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

std::int64_t RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

// A child azimuthd on a free loopback port; with `redis`, replica `index`
// of a cluster sharing it.
class Child {
 public:
  // `shared_cores`: other replicas run on these cores too.
  bool Start(const std::string& binary, const fs::path& dir, int index, const std::string& redis, bool shared_cores) {
    v1::ServerConfig config = scheduler::DemoConfig(absl::GetFlag(FLAGS_endpoints));
    const double scale = absl::GetFlag(FLAGS_capacity_scale);
    for (auto& e : *config.mutable_endpoints()) {
      e.set_tpm_limit(static_cast<std::int64_t>(static_cast<double>(e.tpm_limit()) * scale));
      e.set_rpm_limit(static_cast<std::int64_t>(static_cast<double>(e.rpm_limit()) * scale));
    }
    config.set_listen("127.0.0.1:0");
    config.set_metrics_listen("none");
    config.set_explain_history(100000);
    if (absl::GetFlag(FLAGS_warm_iterations) > 0) {
      config.mutable_batcher()->set_warm_iterations(absl::GetFlag(FLAGS_warm_iterations));
    }
    config.mutable_batcher()->set_repair_rounds(absl::GetFlag(FLAGS_repair_rounds));
    // The token mixed mode's telemetry agent reports with.
    std::ofstream(dir / "tokens") << kToken << "\n";
    config.set_auth_tokens_file((dir / "tokens").string());
    if (!redis.empty()) {
      v1::ClusterConfig* cluster = config.mutable_cluster();
      cluster->set_redis_address(redis);
      cluster->set_replica_id(absl::StrCat("bench-", index));
    }
    samples_.assign(config.endpoints().begin(), config.endpoints().end());
    const fs::path path = dir / absl::StrCat("config-", index, ".json");
    std::ofstream(path) << scheduler::ConfigJson(config);
    // Replicas that share cores wait passively for OpenMP (unless
    // OMP_WAIT_POLICY is set): they would otherwise spin on each other's
    // time (3 replicas on 2 cores streamed 0.37-0.46M decisions/s with a p99
    // of 1.8 s, and 2.5M with a p99 of 86 ms so).
    std::vector<std::pair<std::string, std::string>> env;
    if (shared_cores) env.emplace_back("OMP_WAIT_POLICY", "passive");
    process_ = std::make_unique<Process>(binary, dir / absl::StrCat("azimuthd-", index, ".log"),
                                         std::vector<std::string>{"--config=" + path.string()}, env);
    const std::string port = process_->WaitForLog("serving: tcp port ([0-9]+)");
    if (port.empty()) return false;
    address_ = "127.0.0.1:" + port;
    return true;
  }
  ~Child() {
    if (process_) process_->Stop();
  }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  const std::string& address() const { return address_; }
  // Its endpoints, as a telemetry agent reports them.
  const std::vector<v1::EndpointSample>& samples() const { return samples_; }

 private:
  std::vector<v1::EndpointSample> samples_;
  std::unique_ptr<Process> process_;
  std::string address_;
};

using Channels = std::vector<std::shared_ptr<grpc::Channel>>;

struct Results {
  std::string mode;
  double seconds = 0;
  std::int64_t decisions = 0, messages = 0, errors = 0, served = 0;
  std::vector<double> latency_ms, server_latency_ms, solve_ms, gap, iterations, solver_requests;
  std::string backend;
};

// Measure()
//
// One second of warm-up (prices settle), then `duration_s` measured; stops
// and joins the load threads. Returns the measured seconds.
double Measure(double duration_s, std::atomic<bool>* measuring, std::atomic<bool>* stop,
               std::vector<std::thread>* threads) {
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const Clock::time_point start = Clock::now();
  *measuring = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(duration_s));
  *measuring = false;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  *stop = true;
  for (auto& t : *threads) t.join();
  return seconds;
}

Results RunStream(const Channels& channels, double duration_s) {
  const int streams = absl::GetFlag(FLAGS_streams), batch = absl::GetFlag(FLAGS_batch);
  const int in_flight = std::max(1, absl::GetFlag(FLAGS_in_flight));
  WorkloadSpec spec;
  spec.requests = static_cast<std::int64_t>(batch) * 8;
  spec.endpoints = absl::GetFlag(FLAGS_endpoints);
  const kernels::ProblemData data = GenerateWorkload(spec);
  std::vector<v1::AssignRequest> messages(8);
  for (int k = 0; k < 8; ++k) {
    *messages[k].mutable_batch() =
        scheduler::ToRequestBatch(data, static_cast<std::size_t>(k) * batch, static_cast<std::size_t>(k + 1) * batch);
  }
  Results res;
  res.mode = "stream";
  std::mutex mu;
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      // Each stream sets the sequence of its own copies: a message another
      // stream is serializing must not change under it.
      std::vector<v1::AssignRequest> mine = messages;
      auto stub = v1::SchedulerService::NewStub(channels[static_cast<std::size_t>(s) % channels.size()]);
      grpc::ClientContext context;
      auto stream = stub->AssignStream(&context);
      std::mutex smu;
      std::condition_variable cv;
      int outstanding = 0;
      std::map<std::uint64_t, std::pair<Clock::time_point, bool>> sent;  // sequence -> (time, measured)
      std::thread reader([&] {
        v1::AssignResponse r;
        while (stream->Read(&r)) {
          const Clock::time_point now = Clock::now();
          std::pair<Clock::time_point, bool> at;
          {
            std::lock_guard<std::mutex> lock(smu);
            at = sent[r.sequence()];
            sent.erase(r.sequence());
            --outstanding;
          }
          cv.notify_all();
          if (!at.second) continue;
          std::lock_guard<std::mutex> lock(mu);
          ++res.messages;
          if (r.error_code() != 0) {
            ++res.errors;
            continue;
          }
          res.decisions += r.reason_size();
          for (const std::int32_t p : r.endpoint()) res.served += p >= 0;
          res.latency_ms.push_back(std::chrono::duration<double, std::milli>(now - at.first).count());
          res.server_latency_ms.push_back(r.info().latency_ms());
          res.solve_ms.push_back(r.info().solve_ms());
          res.gap.push_back(r.info().gap());
          res.iterations.push_back(r.info().iterations());
          res.solver_requests.push_back(static_cast<double>(r.info().solver_requests()));
          res.backend = r.info().backend();
        }
      });
      for (std::uint64_t seq = 0; !stop.load(); ++seq) {
        {
          std::unique_lock<std::mutex> lock(smu);
          cv.wait(lock, [&] { return outstanding < in_flight; });
          ++outstanding;
          sent[seq] = {Clock::now(), measuring.load()};
        }
        v1::AssignRequest& m = mine[(seq + static_cast<std::uint64_t>(s)) % mine.size()];
        m.set_sequence(seq);
        if (!stream->Write(m)) break;
      }
      stream->WritesDone();
      reader.join();
      (void)stream->Finish();
    });
  }
  res.seconds = Measure(duration_s, &measuring, &stop, &threads);
  return res;
}

Results RunUnary(const Channels& channels, double duration_s) {
  WorkloadSpec spec;
  spec.requests = 4096;
  spec.endpoints = absl::GetFlag(FLAGS_endpoints);
  const kernels::ProblemData data = GenerateWorkload(spec);
  Results res;
  res.mode = "unary";
  std::mutex mu;
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < absl::GetFlag(FLAGS_threads); ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::SchedulerService::NewStub(channels[static_cast<std::size_t>(t) % channels.size()]);
      std::vector<double> latencies;
      std::int64_t errors = 0, calls = 0, served = 0;
      std::string backend;
      for (std::size_t i = static_cast<std::size_t>(t) * 1000; !stop.load(); ++i) {
        v1::AssignRequest request;
        const std::size_t k = i % data.num_requests();
        *request.mutable_batch() = scheduler::ToRequestBatch(data, k, k + 1);
        grpc::ClientContext context;
        v1::AssignResponse response;
        const bool measured = measuring.load();
        const Clock::time_point at = Clock::now();
        const grpc::Status s = stub->Assign(&context, request, &response);
        if (!measured) continue;
        ++calls;
        if (!s.ok()) {
          ++errors;
          continue;
        }
        latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - at).count());
        backend = response.info().backend();
        for (const std::int32_t p : response.endpoint()) served += p >= 0;
      }
      std::lock_guard<std::mutex> lock(mu);
      res.served += served;
      res.latency_ms.insert(res.latency_ms.end(), latencies.begin(), latencies.end());
      res.decisions += calls - errors;
      res.messages += calls;
      res.errors += errors;
      res.backend = backend;
    });
  }
  res.seconds = Measure(duration_s, &measuring, &stop, &threads);
  return res;
}

// Side traffic of mixed mode, until `stop`: Explain calls and telemetry.
struct SideTraffic {
  std::atomic<std::int64_t> explained{0}, not_found{0}, samples{0}, errors{0};
};

void RunExplain(const std::shared_ptr<grpc::Channel>& channel, const kernels::ProblemData& data,
                const std::atomic<bool>& stop, SideTraffic* side) {
  auto stub = v1::SchedulerService::NewStub(channel);
  for (std::int64_t i = 0; !stop.load(); ++i) {
    v1::ExplainRequest request;
    request.set_request_id(i % 2 ? data.request_id[static_cast<std::size_t>(i) % data.num_requests()]
                                 : absl::StrCat("never-sent-", i));
    grpc::ClientContext context;
    v1::ExplainResponse response;
    const grpc::Status s = stub->Explain(&context, request, &response);
    if (s.ok()) {
      ++side->explained;
    } else if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
      ++side->not_found;
    } else {
      ++side->errors;
    }
  }
}

void RunTelemetry(const std::shared_ptr<grpc::Channel>& channel, const std::vector<v1::EndpointSample>& samples,
                  const std::atomic<bool>& stop, SideTraffic* side) {
  auto stub = v1::TelemetryService::NewStub(channel);
  while (!stop.load()) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", absl::StrCat("Bearer ", kToken));
    v1::ReportTelemetryResponse response;
    auto writer = stub->ReportTelemetry(&context, &response);
    for (const v1::EndpointSample& sample : samples) {
      if (!writer->Write(sample)) break;
    }
    writer->WritesDone();
    const grpc::Status s = writer->Finish();
    if (s.ok() && response.errors_size() == 0) {
      side->samples += response.accepted();
    } else {
      ++side->errors;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

struct Quota {
  std::int64_t window_start_s = 0;
  double requests_fraction = 0, tokens_fraction = 0;
  int endpoints = 0, binding = 0, over = 0;
};

// Quota(): ListEndpoints of every replica, summed per endpoint.
Quota ReadQuota(const Channels& channels) {
  std::map<std::string, std::int64_t> tokens, requests, tokens_cap, requests_cap;
  Quota q;
  for (const auto& channel : channels) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListEndpointsResponse list;
    if (!v1::TelemetryService::NewStub(channel)->ListEndpoints(&context, {}, &list).ok()) continue;
    for (const v1::EndpointStatus& e : list.endpoints()) {
      tokens[e.sample().id()] += e.tokens_reserved();
      requests[e.sample().id()] += e.requests_reserved();
      tokens_cap[e.sample().id()] = e.tokens_capacity();
      requests_cap[e.sample().id()] = e.requests_capacity();
      q.window_start_s = e.window_start_unix_s();
    }
  }
  double t = 0, tc = 0, r = 0, rc = 0;
  for (const auto& [id, cap] : requests_cap) {
    ++q.endpoints;
    r += static_cast<double>(requests[id]);
    rc += static_cast<double>(cap);
    t += static_cast<double>(tokens[id]);
    tc += static_cast<double>(tokens_cap[id]);
    if (requests[id] > cap || tokens[id] > tokens_cap[id]) ++q.over;
    if (requests[id] * 100 >= cap * 99 || tokens[id] * 100 >= tokens_cap[id] * 99) ++q.binding;
  }
  q.requests_fraction = rc > 0 ? r / rc : 0;
  q.tokens_fraction = tc > 0 ? t / tc : 0;
  return q;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage("load_benchmark [--mode stream|unary] [--server ADDR] [--duration_s 10] ...");
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "stream" && mode != "unary" && mode != "mixed") {
    std::fprintf(stderr, "load_benchmark: --mode must be stream, unary or mixed\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_endpoints) < 1 || absl::GetFlag(FLAGS_endpoints) > 4096) {
    std::fprintf(stderr, "load_benchmark: --endpoints must be in [1, 4096]\n");
    return 2;
  }
  const int replicas = absl::GetFlag(FLAGS_replicas);
  if (replicas < 1 || replicas > 16) {
    std::fprintf(stderr, "load_benchmark: --replicas must be in [1, 16]\n");
    return 2;
  }
  if (replicas > 1 && !absl::GetFlag(FLAGS_redis)) {
    std::fprintf(stderr,
                 "load_benchmark: without --redis each replica has the whole quota (together they "
                 "promise it %d times)\n",
                 replicas);
  }
  std::vector<std::unique_ptr<Child>> children;
  std::unique_ptr<RedisServer> redis;
  std::vector<std::string> addresses;
  if (!absl::GetFlag(FLAGS_server).empty()) addresses.push_back(absl::GetFlag(FLAGS_server));
  fs::path dir = fs::temp_directory_path() / ("azimuth-load-" + std::to_string(::getpid()));
  if (addresses.empty()) {
    fs::create_directories(dir);
    if (absl::GetFlag(FLAGS_redis)) {
      redis = std::make_unique<RedisServer>(dir, std::vector<std::string>{}, absl::GetFlag(FLAGS_redis_server));
      if (!redis->Start()) {
        std::fprintf(stderr, "load_benchmark: could not start %s (log in %s)\n",
                     absl::GetFlag(FLAGS_redis_server).c_str(), dir.c_str());
        return 1;
      }
    }
    for (int i = 0; i < replicas; ++i) {
      children.push_back(std::make_unique<Child>());
      if (!children.back()->Start(absl::GetFlag(FLAGS_azimuthd), dir, i, redis ? redis->address() : "", replicas > 1)) {
        std::fprintf(stderr, "load_benchmark: could not start %s (log in %s)\n", absl::GetFlag(FLAGS_azimuthd).c_str(),
                     dir.c_str());
        return 1;
      }
      addresses.push_back(children.back()->address());
    }
  }
  Child* child = children.empty() ? nullptr : children.front().get();
  Channels channels;
  for (const std::string& a : addresses) {
    scheduler::Connection c;
    c.server = a;
    auto channel = scheduler::OpenChannel(c);
    if (!channel.ok()) return 1;
    channels.push_back(*channel);
  }
  const std::string address = absl::StrJoin(addresses, ",");
  if (redis) {
    // A new cluster grants nothing for its recovery grace (docs/cluster.md):
    // the load starts once every replica holds grants.
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
    for (const auto& channel : channels) {
      for (bool granted = false; !granted && Clock::now() < deadline;) {
        grpc::ClientContext context;
        v1::ListEndpointsResponse list;
        granted = v1::TelemetryService::NewStub(channel)->ListEndpoints(&context, {}, &list).ok() &&
                  list.endpoints_size() > 0;
        for (const v1::EndpointStatus& e : list.endpoints()) granted = granted && e.requests_granted() > 0;
        if (!granted) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  }
  // Memory of the server, sampled every second.
  std::vector<std::int64_t> rss;
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (child && !done.load()) {
      rss.push_back(RssKb(child->pid()));
      for (int i = 0; i < 10 && !done.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  const double duration = absl::GetFlag(FLAGS_duration_s);
  std::fprintf(stderr, "load_benchmark: %s mode against %s for %.0f s\n", mode.c_str(), address.c_str(), duration);
  Results r, unary;
  SideTraffic side;
  if (mode == "mixed") {
    if (!child) {
      std::fprintf(stderr, "load_benchmark: --mode mixed starts its own azimuthd (no --server)\n");
      return 2;
    }
    WorkloadSpec spec;
    spec.requests = 4096;  // RunUnary's requests: half the explained ids are among them
    spec.endpoints = absl::GetFlag(FLAGS_endpoints);
    const kernels::ProblemData ids = GenerateWorkload(spec);
    std::atomic<bool> stop_side{false};
    // Explain and telemetry at the last replica: with several, its answers
    // come from the others (forwarded Explain, shared telemetry).
    std::thread explain([&] { RunExplain(channels.back(), ids, stop_side, &side); });
    std::thread telemetry([&] { RunTelemetry(channels.back(), child->samples(), stop_side, &side); });
    std::thread unary_thread([&] { unary = RunUnary(channels, duration); });
    r = RunStream(channels, duration);
    unary_thread.join();
    stop_side = true;
    explain.join();
    telemetry.join();
    r.mode = "mixed";
    r.errors += unary.errors + side.errors.load();
  } else {
    r = mode == "stream" ? RunStream(channels, duration) : RunUnary(channels, duration);
  }
  done = true;
  sampler.join();
  const double p50 = Percentile(r.latency_ms, 0.50), p99 = Percentile(r.latency_ms, 0.99);
  const double rate = static_cast<double>(r.decisions) / r.seconds;
  std::printf("mode %s, server %s, backend %s, %d endpoints, %zu replica(s)%s, %.1f s measured\n", r.mode.c_str(),
              address.c_str(), r.backend.c_str(), absl::GetFlag(FLAGS_endpoints), channels.size(),
              redis ? " sharing redis" : "", r.seconds);
  // The quota across replicas, the window the run ended in: what they
  // reserved together against each endpoint's capacity.
  const Quota quota = ReadQuota(channels);
  std::printf(
      "  quota (window from %lld): reserved %.2f%% of requests capacity, %.2f%% of tokens; %d of %d endpoints "
      "at >= 99%% of a capacity; over capacity: %d endpoints; served %.2f%% of the decisions\n",
      static_cast<long long>(quota.window_start_s), 100 * quota.requests_fraction, 100 * quota.tokens_fraction,
      quota.binding, quota.endpoints, quota.over,
      r.decisions > 0 ? 100.0 * static_cast<double>(r.served) / static_cast<double>(r.decisions) : 0.0);
  if (r.mode == "mixed") {
    std::printf("  unary: %d threads, calls/s %.0f, p50 %.3f ms, p99 %.3f ms, errors %lld\n",
                absl::GetFlag(FLAGS_threads), static_cast<double>(unary.decisions) / unary.seconds,
                Percentile(unary.latency_ms, 0.5), Percentile(unary.latency_ms, 0.99),
                static_cast<long long>(unary.errors));
    std::printf("  explain: %lld answered, %lld not found; telemetry: %lld samples; side errors %lld\n",
                static_cast<long long>(side.explained.load()), static_cast<long long>(side.not_found.load()),
                static_cast<long long>(side.samples.load()), static_cast<long long>(side.errors.load()));
  }
  if (r.mode == "stream" || r.mode == "mixed") {
    std::printf("  %d streams x %d in flight x %d requests/message\n", absl::GetFlag(FLAGS_streams),
                absl::GetFlag(FLAGS_in_flight), absl::GetFlag(FLAGS_batch));
    std::printf("  decisions/s %.0f  messages %lld  errors %lld\n", rate, static_cast<long long>(r.messages),
                static_cast<long long>(r.errors));
    std::printf("  message latency p50 %.2f ms  p99 %.2f ms (client); server-side p50 %.2f ms p99 %.2f ms\n", p50, p99,
                Percentile(r.server_latency_ms, 0.5), Percentile(r.server_latency_ms, 0.99));
    std::printf(
        "  solver batch: p50 %.2f ms  p99 %.2f ms; certified gap p50 %.2e  p99 %.2e; p50 %.0f requests, "
        "%.0f price passes\n",
        Percentile(r.solve_ms, 0.5), Percentile(r.solve_ms, 0.99), Percentile(r.gap, 0.5), Percentile(r.gap, 0.99),
        Percentile(r.solver_requests, 0.5), Percentile(r.iterations, 0.5));
  } else {
    std::printf("  %d threads, calls/s %.0f, errors %lld\n", absl::GetFlag(FLAGS_threads), rate,
                static_cast<long long>(r.errors));
    std::printf("  call latency p50 %.3f ms  p99 %.3f ms\n", p50, p99);
  }
  std::int64_t rss_first = 0, rss_last = 0, rss_max = 0;
  if (rss.size() >= 3) {
    rss_first = rss[1];
    rss_last = rss.back();
    rss_max = *std::max_element(rss.begin() + 1, rss.end());
    std::printf("  server RSS: %lld MB after warm-up, %lld MB at the end, %lld MB max; every 30 s (MB):",
                static_cast<long long>(rss_first / 1024), static_cast<long long>(rss_last / 1024),
                static_cast<long long>(rss_max / 1024));
    for (std::size_t i = 1; i < rss.size(); i += 30) std::printf(" %lld", static_cast<long long>(rss[i] / 1024));
    std::printf("\n");
  }
  if (!absl::GetFlag(FLAGS_json).empty()) {
    std::ofstream out(absl::GetFlag(FLAGS_json));
    out << absl::StrFormat(
        "{\"mode\": \"%s\", \"backend\": \"%s\", \"endpoints\": %d, \"seconds\": %.3f, \"decisions_per_s\": %.1f, "
        "\"messages\": %d, "
        "\"errors\": %d, \"latency_p50_ms\": %.4f, \"latency_p99_ms\": %.4f, \"streams\": %d, \"batch\": %d, "
        "\"in_flight\": %d, \"threads\": %d, \"rss_kb_first\": %d, \"rss_kb_last\": %d, \"rss_kb_max\": %d, "
        "\"solve_ms_p50\": %.3f, \"solve_ms_p99\": %.3f, \"gap_p50\": %.3e, \"gap_p99\": %.3e, \"replicas\": %d, "
        "\"redis\": %s, \"served\": %d, \"quota_requests_fraction\": %.5f, \"quota_tokens_fraction\": %.5f, "
        "\"endpoints_over_capacity\": %d}\n",
        r.mode, r.backend, absl::GetFlag(FLAGS_endpoints), r.seconds, rate, r.messages, r.errors, p50, p99,
        absl::GetFlag(FLAGS_streams), absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_in_flight),
        absl::GetFlag(FLAGS_threads), rss_first, rss_last, rss_max, Percentile(r.solve_ms, 0.5),
        Percentile(r.solve_ms, 0.99), Percentile(r.gap, 0.5), Percentile(r.gap, 0.99),
        static_cast<int>(channels.size()), redis ? "true" : "false", r.served, quota.requests_fraction,
        quota.tokens_fraction, quota.over);
  }
  children.clear();
  redis.reset();
  fs::remove_all(dir);
  return r.errors == 0 && quota.over == 0 ? 0 : 1;
}

}  // namespace
}  // namespace azimuth::bench

int main(int argc, char** argv) { return azimuth::bench::Main(argc, argv); }
