// Copyright 2026 Azimuth authors.
//
// The azimuthd binary as people run it: with no config (the embedded demo),
// as a sidecar on a Unix socket in a temporary directory with a watched
// config file (live reload, an invalid change refused), and drained by
// SIGTERM with a stream in flight.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "azimuth/v1/policy_service.grpc.pb.h"
#include "azimuth/v1/scheduler.grpc.pb.h"
#include "azimuth/v1/telemetry.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "scheduler/common/policy.h"
#include "scheduler/server/config.h"
#include "tests/scheduler/loopback.h"
#include "tests/scheduler/processes.h"

namespace azimuth::scheduler {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A running azimuthd, its stderr in a file; killed if the test did not stop it.
class Daemon : public Process {
 public:
  Daemon(const fs::path& dir, std::vector<std::string> args)
      : Process(AZIMUTHD_PATH, dir / "azimuthd.log", std::move(args)) {}
};

v1::RequestBatch Batch(int n, const std::string& prefix, const std::string& model = "gpt-5") {
  v1::RequestBatch b;
  b.add_strings(model);
  for (int i = 0; i < n; ++i) {
    b.add_id(prefix + std::to_string(i));
    b.add_model(0);
    b.add_tokens_in(500);
    b.add_tokens_out(50);
  }
  return b;
}

grpc::health::v1::HealthCheckResponse::ServingStatus Health(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckResponse response;
  if (!grpc::health::v1::Health::NewStub(channel)->Check(&context, {}, &response).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

void WriteFile(const fs::path& path, const std::string& text) {
  // Like a ConfigMap update: write aside, then rename over the file.
  const fs::path tmp = path.string() + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, path);
}

TEST(AzimuthdTest, ServesTheEmbeddedDemoAndDrainsAStreamOnSigterm) {
  const fs::path dir = TempDir("azimuthd-demo");
  Daemon d(dir, {"--listen=127.0.0.1:0", "--metrics_listen=none"});
  const std::string port = d.WaitForLog("serving: tcp port ([0-9]+)");
  ASSERT_FALSE(port.empty()) << d.Log();
  auto channel = grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials());
  EXPECT_EQ(Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);

  // The demo's 64 built-in endpoints are there.
  grpc::ClientContext list;
  v1::ListEndpointsResponse endpoints;
  ASSERT_TRUE(v1::TelemetryService::NewStub(channel)->ListEndpoints(&list, {}, &endpoints).ok());
  EXPECT_EQ(endpoints.endpoints_size(), 64);

  // A stream with 40 messages written; SIGTERM arrives while they are being
  // decided. Every one is answered, then the stream ends cleanly.
  auto stub = v1::SchedulerService::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->AssignStream(&context);
  constexpr int kMessages = 40;
  for (int m = 0; m < kMessages; ++m) {
    v1::AssignRequest request;
    request.set_sequence(m);
    *request.mutable_batch() = Batch(2000, "m" + std::to_string(m) + "-");
    ASSERT_TRUE(stream->Write(request));
  }
  v1::AssignResponse first;
  ASSERT_TRUE(stream->Read(&first));
  d.Signal(SIGTERM);
  ASSERT_FALSE(d.WaitForLog("received SIGTERM").empty());
  stream->WritesDone();
  int answered = 1, served = first.reason_size();
  v1::AssignResponse r;
  while (stream->Read(&r)) {
    EXPECT_EQ(r.sequence(), static_cast<std::uint64_t>(answered));
    ++answered;
    served += r.reason_size();
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answered, kMessages);
  EXPECT_EQ(served, kMessages * 2000);
  EXPECT_EQ(d.Wait(), 0) << d.Log();
  EXPECT_NE(d.Log().find("drained"), std::string::npos);
  // Gone: new calls fail.
  EXPECT_NE(Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);
  fs::remove_all(dir);
}

// The sidecar pattern: a Unix socket in a shared directory, a config file an
// operator rewrites, a probe, and SIGTERM when the pod stops.
TEST(AzimuthdTest, SidecarOnAUnixSocketReloadsItsConfigLive) {
  const fs::path dir = TempDir("azimuthd-sidecar");
  const fs::path config_path = dir / "config.json";
  const fs::path socket = dir / "run" / "azimuth.sock";
  fs::create_directories(socket.parent_path());
  v1::ServerConfig config = DemoConfig();
  config.set_listen("none");
  config.set_metrics_listen("none");
  config.set_unix_socket(socket.string());
  config.set_health_listen("127.0.0.1:0");  // the kubelet's gRPC probe
  WriteFile(config_path, ConfigJson(config));
  Daemon d(dir, {"--config=" + config_path.string()});
  const std::string health_port = d.WaitForLog("serving: tcp off.* health port ([0-9]+)");
  ASSERT_FALSE(health_port.empty()) << d.Log();
  auto channel = grpc::CreateChannel("unix:" + socket.string(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);
  // The probe port answers health, and nothing else.
  auto probe = grpc::CreateChannel("127.0.0.1:" + health_port, grpc::InsecureChannelCredentials());
  EXPECT_EQ(Health(probe), grpc::health::v1::HealthCheckResponse::SERVING);
  {
    grpc::ClientContext context;
    v1::AssignRequest request;
    v1::AssignResponse response;
    EXPECT_EQ(v1::SchedulerService::NewStub(probe)->Assign(&context, request, &response).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }

  auto get_policy = [&] {
    grpc::ClientContext context;
    v1::Policy policy;
    EXPECT_TRUE(v1::PolicyService::NewStub(channel)->GetPolicy(&context, {}, &policy).ok());
    return policy;
  };
  EXPECT_EQ(get_policy().azure_first(), v1::STRICT);
  v1::AssignResponse strict_answer;
  {
    grpc::ClientContext context;
    v1::AssignRequest request;
    *request.mutable_batch() = Batch(50, "s", "gpt-5-mini");
    ASSERT_TRUE(v1::SchedulerService::NewStub(channel)->Assign(&context, request, &strict_answer).ok());
  }

  // The operator switches the policy to OFF: picked up without a restart.
  config.mutable_policy()->set_azure_first(v1::OFF);
  WriteFile(config_path, ConfigJson(config));
  ASSERT_FALSE(d.WaitForLog("config reloaded from .*policy OFF").empty()) << d.Log();
  EXPECT_EQ(get_policy().azure_first(), v1::OFF);

  // An invalid change is refused with its reason; the policy stays.
  std::string broken = ConfigJson(config);
  broken.replace(broken.find("\"reject_usd\""), 12, "\"reject_usd_typo\"");
  WriteFile(config_path, broken);
  ASSERT_FALSE(d.WaitForLog("config change rejected, keeping the previous one: .*reject_usd_typo").empty()) << d.Log();
  EXPECT_EQ(get_policy().azure_first(), v1::OFF);
  EXPECT_EQ(Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);

  // A fixed file is applied again.
  config.mutable_policy()->set_azure_first(v1::WEIGHTED);
  config.mutable_policy()->set_azure_discount(0.3);
  WriteFile(config_path, ConfigJson(config));
  ASSERT_FALSE(d.WaitForLog("config reloaded from .*policy WEIGHTED").empty()) << d.Log();
  EXPECT_EQ(get_policy().azure_first(), v1::WEIGHTED);

  d.Signal(SIGTERM);
  EXPECT_EQ(d.Wait(), 0) << d.Log();
  EXPECT_FALSE(fs::exists(socket));  // the socket is removed on exit
  fs::remove_all(dir);
}

TEST(AzimuthdTest, RefusesABadConfigAtStartWithTheField) {
  const fs::path dir = TempDir("azimuthd-bad");
  std::ofstream(dir / "config.json") << R"({"listen": "127.0.0.1:0", "batcher": {"max_batch_requests": -4}})";
  Daemon d(dir, {"--config=" + (dir / "config.json").string()});
  EXPECT_NE(d.Wait(), 0);
  EXPECT_NE(d.Log().find("batcher.max_batch_requests"), std::string::npos) << d.Log();
  fs::remove_all(dir);
}

// Resident memory of a process, bytes (VmRSS).
std::int64_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return -1;
}

// A port another program holds: azimuthd says "address in use" and exits 1
// (it used to die of SIGSEGV); another azimuthd on it likewise (gRPC's
// SO_REUSEPORT default let it start and split the connections).
TEST(AzimuthdTest, RefusesAPortInUse) {
  const fs::path dir = TempDir("azimuthd-port");
  const int held = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::bind(held, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(held, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(held, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  {
    Daemon d(dir, {"--listen=127.0.0.1:" + port, "--metrics_listen=none"});
    EXPECT_EQ(d.Wait(), 1) << d.Log();
    EXPECT_NE(d.Log().find("address in use"), std::string::npos) << d.Log();
  }
  ::close(held);
  fs::create_directories(dir / "first");
  fs::create_directories(dir / "uds");
  Daemon first(dir / "first", {"--listen=127.0.0.1:0", "--metrics_listen=none"});
  const std::string taken = first.WaitForLog("serving: tcp port ([0-9]+)");
  ASSERT_FALSE(taken.empty()) << first.Log();
  Daemon second(dir, {"--listen=127.0.0.1:" + taken, "--metrics_listen=none"});
  EXPECT_EQ(second.Wait(), 1) << second.Log();
  EXPECT_NE(second.Log().find("address in use"), std::string::npos) << second.Log();
  // The unix socket of a running azimuthd is in use too.
  const std::string sock = (dir / "a.sock").string();
  Daemon uds(dir / "uds", {"--listen=none", "--unix_socket=" + sock, "--metrics_listen=none"});
  ASSERT_FALSE(uds.WaitForLog("serving").empty()) << uds.Log();
  Daemon uds2(dir, {"--listen=none", "--unix_socket=" + sock, "--metrics_listen=none"});
  EXPECT_EQ(uds2.Wait(), 1) << uds2.Log();
  EXPECT_NE(uds2.Log().find("address in use"), std::string::npos) << uds2.Log();
  fs::remove_all(dir);
}

// Abuse from an unauthenticated client: messages padded with strings no
// request uses (they took the explain history to a gigabyte), idle
// connections to every port, streams cut with messages in flight. The
// server keeps serving, /metrics answers at once, and memory stays bounded.
TEST(AzimuthdTest, SurvivesAbuseWithBoundedMemory) {
  const fs::path dir = TempDir("azimuthd-abuse");
  Daemon d(dir, {"--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0"});
  const std::string port = d.WaitForLog("serving: tcp port ([0-9]+)");
  const std::string metrics = d.WaitForLog("metrics port ([0-9]+)");
  ASSERT_FALSE(port.empty() || metrics.empty()) << d.Log();
  auto channel = grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials());
  ASSERT_EQ(Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);
  auto stub = v1::SchedulerService::NewStub(channel);
  auto assign = [&](const v1::RequestBatch& batch) {
    grpc::ClientContext context;
    v1::AssignRequest request;
    *request.mutable_batch() = batch;
    v1::AssignResponse response;
    return stub->Assign(&context, request, &response).ok() && response.reason_size() == batch.id_size();
  };
  ASSERT_TRUE(assign(Batch(2, "warm-")));
  const std::int64_t before = RssBytes(d.pid());

  // 60 calls of 2 requests, each carrying 100,000 unused strings (3.3 MB).
  for (int k = 0; k < 60; ++k) {
    v1::RequestBatch b = Batch(2, "pad" + std::to_string(k) + "-");
    for (int j = 0; j < 100000; ++j) b.add_strings("padding-string-" + std::to_string(j) + "-of-many");
    ASSERT_TRUE(assign(b)) << k;
  }
  // Idle connections to the API and the metrics port, sending nothing.
  std::vector<int> idle;
  for (int k = 0; k < 4; ++k) {
    idle.push_back(Connect(std::stoi(port)));
    idle.push_back(Connect(std::stoi(metrics)));
  }
  // Streams cut by the client with messages still being decided.
  for (int k = 0; k < 4; ++k) {
    grpc::ClientContext context;
    auto stream = stub->AssignStream(&context);
    for (int m = 0; m < 8; ++m) {
      v1::AssignRequest request;
      request.set_sequence(m);
      *request.mutable_batch() = Batch(3000, "cut" + std::to_string(k) + "-" + std::to_string(m) + "-");
      if (!stream->Write(request)) break;
    }
    context.TryCancel();
  }
  // A scrape is answered while they are open (the old single-threaded
  // exporter made it wait ~30 s per idle connection; past the receive
  // timeout HttpGet gives up and returns what it has: nothing).
  const auto start = steady_clock::now();
  const std::string text = HttpGet(std::stoi(metrics), "/metrics", 10);
  const double seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
  EXPECT_NE(text.find("azimuth_rpcs_total"), std::string::npos) << "no answer to a scrape: " << text.substr(0, 500);
  EXPECT_EQ(Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(assign(Batch(50, "after-")));
  for (int fd : idle) ::close(fd);

  // Each padded message is freed once answered, and after 2 s without calls
  // the heap malloc kept goes back: growth is far below what keeping them
  // would take (60 x 3.3 MB, 8.3 MB each as parsed).
  std::this_thread::sleep_for(milliseconds(4000));
  const std::int64_t after = RssBytes(d.pid());
  std::printf("azimuthd RSS: %.1f MB before, %.1f MB after the abuse; scrape %.2f s\n", before / 1048576.0,
              after / 1048576.0, seconds);
#if !defined(AZIMUTH_SANITIZED)  // ASan's quarantine keeps freed memory: no bound to check there
  EXPECT_LT(after - before, 40 << 20) << "RSS " << before / 1048576 << " MB -> " << after / 1048576 << " MB";
#endif
  d.Signal(SIGTERM);
  EXPECT_EQ(d.Wait(), 0) << d.Log();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace azimuth::scheduler
