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
// second (flat memory = no leak).
//
//   load_benchmark --mode stream --duration_s 60 --json stream.json
//   load_benchmark --mode unary --threads 4 --duration_s 30
//   load_benchmark --mode mixed --capacity_scale 300 --duration_s 600
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
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
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "azimuth/v1/scheduler.grpc.pb.h"
#include "azimuth/v1/telemetry.grpc.pb.h"
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

// A child azimuthd on a free loopback port.
class Child {
 public:
  bool Start(const std::string& binary, const fs::path& dir) {
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
    samples_.assign(config.endpoints().begin(), config.endpoints().end());
    std::ofstream(dir / "config.json") << scheduler::ConfigJson(config);
    log_ = dir / "azimuthd.log";
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // The server goes with the benchmark, however the benchmark ends.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(0);
      std::freopen(log_.c_str(), "w", stderr);
      std::freopen("/dev/null", "w", stdout);
      const std::string cfg = "--config=" + (dir / "config.json").string();
      ::execl(binary.c_str(), binary.c_str(), cfg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const std::regex re("serving: tcp port ([0-9]+)");
    for (int i = 0; i < 300; ++i) {
      std::ifstream in(log_);
      std::stringstream s;
      s << in.rdbuf();
      const std::string text = s.str();
      std::smatch m;
      if (std::regex_search(text, m, re)) {
        address_ = "127.0.0.1:" + m[1].str();
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  const std::string& address() const { return address_; }
  // Its endpoints, as a telemetry agent reports them.
  const std::vector<v1::EndpointSample>& samples() const { return samples_; }

 private:
  std::vector<v1::EndpointSample> samples_;
  pid_t pid_ = -1;
  fs::path log_;
  std::string address_;
};

struct Results {
  std::string mode;
  double seconds = 0;
  std::int64_t decisions = 0, messages = 0, errors = 0;
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

Results RunStream(const std::shared_ptr<grpc::Channel>& channel, double duration_s) {
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
      auto stub = v1::SchedulerService::NewStub(channel);
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

Results RunUnary(const std::shared_ptr<grpc::Channel>& channel, double duration_s) {
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
      auto stub = v1::SchedulerService::NewStub(channel);
      std::vector<double> latencies;
      std::int64_t errors = 0, calls = 0;
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
      }
      std::lock_guard<std::mutex> lock(mu);
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
  std::unique_ptr<Child> child;
  std::string address = absl::GetFlag(FLAGS_server);
  fs::path dir = fs::temp_directory_path() / ("azimuth-load-" + std::to_string(::getpid()));
  if (address.empty()) {
    fs::create_directories(dir);
    child = std::make_unique<Child>();
    if (!child->Start(absl::GetFlag(FLAGS_azimuthd), dir)) {
      std::fprintf(stderr, "load_benchmark: could not start %s (log in %s)\n", absl::GetFlag(FLAGS_azimuthd).c_str(),
                   dir.c_str());
      return 1;
    }
    address = child->address();
  }
  scheduler::Connection c;
  c.server = address;
  auto channel = scheduler::OpenChannel(c);
  if (!channel.ok()) return 1;
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
    std::thread explain([&] { RunExplain(*channel, ids, stop_side, &side); });
    std::thread telemetry([&] { RunTelemetry(*channel, child->samples(), stop_side, &side); });
    std::thread unary_thread([&] { unary = RunUnary(*channel, duration); });
    r = RunStream(*channel, duration);
    unary_thread.join();
    stop_side = true;
    explain.join();
    telemetry.join();
    r.mode = "mixed";
    r.errors += unary.errors + side.errors.load();
  } else {
    r = mode == "stream" ? RunStream(*channel, duration) : RunUnary(*channel, duration);
  }
  done = true;
  sampler.join();
  const double p50 = Percentile(r.latency_ms, 0.50), p99 = Percentile(r.latency_ms, 0.99);
  const double rate = static_cast<double>(r.decisions) / r.seconds;
  std::printf("mode %s, server %s, backend %s, %d endpoints, %.1f s measured\n", r.mode.c_str(), address.c_str(),
              r.backend.c_str(), absl::GetFlag(FLAGS_endpoints), r.seconds);
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
        "\"solve_ms_p50\": %.3f, \"solve_ms_p99\": %.3f, \"gap_p50\": %.3e, \"gap_p99\": %.3e}\n",
        r.mode, r.backend, absl::GetFlag(FLAGS_endpoints), r.seconds, rate, r.messages, r.errors, p50, p99,
        absl::GetFlag(FLAGS_streams), absl::GetFlag(FLAGS_batch), absl::GetFlag(FLAGS_in_flight),
        absl::GetFlag(FLAGS_threads), rss_first, rss_last, rss_max, Percentile(r.solve_ms, 0.5),
        Percentile(r.solve_ms, 0.99), Percentile(r.gap, 0.5), Percentile(r.gap, 0.99));
  }
  child.reset();
  fs::remove_all(dir);
  return r.errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace azimuth::bench

int main(int argc, char** argv) { return azimuth::bench::Main(argc, argv); }
