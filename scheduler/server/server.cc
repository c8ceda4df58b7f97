// Copyright 2026 Azimuth authors.
#include "scheduler/server/server.h"

#include <malloc.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/exposer.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "azimuth/kernels/solver.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "scheduler/common/io.h"
#include "scheduler/common/status.h"

namespace azimuth::scheduler {

namespace {

// Whether a process accepts connections on the unix socket at `path`.
bool SocketInUse(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;  // the bind reports it
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return connected;
}

}  // namespace

// grpc.health.v1 for the health-only listener: the server's overall status.
class Server::HealthOnly final : public grpc::health::v1::Health::Service {
 public:
  void Set(bool serving) { serving_.store(serving); }
  grpc::Status Check(grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override {
    if (!request->service().empty()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "only the server's health");
    response->set_status(serving_.load() ? grpc::health::v1::HealthCheckResponse::SERVING
                                         : grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    return grpc::Status::OK;
  }

 private:
  std::atomic<bool> serving_{false};
};

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const v1::ServerConfig& raw, std::string config_path,
                                                      std::vector<std::string> tokens) {
  const v1::ServerConfig config = WithDefaults(raw);
  absl::StatusOr<CheckedConfig> checked =
      CheckConfig(config, config_path.empty() ? std::string("config") : config_path);
  if (!checked.ok()) return checked.status();

  std::unique_ptr<Server> s(new Server());
  s->config_ = config;
  s->config_path_ = std::move(config_path);
  if (!s->config_path_.empty()) {
    absl::StatusOr<std::string> text = ReadTextFile(s->config_path_, "config file");
    if (text.ok()) s->config_text_ = *std::move(text);
  }
  // CheckConfig() accepted the name; `auto` is resolved here so the log says
  // which backend runs.
  s->backend_ = ParseBackend(config.backend()).value();
  if (s->backend_ == kernels::Backend::kAuto) {
    s->backend_ = kernels::CudaDeviceAvailable() ? kernels::Backend::kCuda : kernels::Backend::kCpu;
  }
  if (s->backend_ == kernels::Backend::kCuda && !kernels::CudaDeviceAvailable()) {
    return absl::FailedPreconditionError(kernels::CudaCompiledIn()
                                             ? "backend 'cuda' was asked for, but no CUDA device is present"
                                             : "backend 'cuda' was asked for, but this build has no CUDA backend");
  }
  EngineOptions engine_options;
  engine_options.backend = s->backend_;
  engine_options.warm_iterations = config.batcher().warm_iterations();
  // The config's 0 is automatic and -1 none; the solver's are -1 and 0.
  const int rounds = config.batcher().repair_rounds();
  engine_options.repair_rounds = rounds == 0 ? -1 : (rounds < 0 ? 0 : rounds);
  engine_options.repair_target_gap = std::max(0.0, config.batcher().repair_target_gap());
  engine_options.warm_target_gap = std::max(0.0, config.batcher().warm_target_gap());
  engine_options.explain_history = config.explain_history();
  engine_options.explain_history_bytes = config.explain_history_bytes();
  const bool clustered = !config.cluster().redis_address().empty();
  engine_options.leased = clustered;
  s->engine_ = std::make_unique<Engine>(engine_options);
  s->metrics_ = std::make_unique<Metrics>();
  if (absl::Status applied = s->Apply(*checked, true); !applied.ok()) return applied;

  BatcherOptions batcher_options;
  batcher_options.max_batch_requests = config.batcher().max_batch_requests();
  batcher_options.max_delay =
      std::chrono::microseconds(static_cast<std::int64_t>(config.batcher().max_delay_ms() * 1000.0));
  batcher_options.max_queue_requests = config.batcher().max_queue_requests();
  Engine* engine = s->engine_.get();
  Metrics* metrics = s->metrics_.get();
  s->batcher_ = std::make_unique<Batcher>(engine, batcher_options, [engine, metrics](std::int64_t n, double seconds) {
    metrics->ObserveBatch(n, seconds, engine->last_batch().gap);
  });
  s->auth_ = std::make_unique<Auth>(std::move(tokens));
  s->telemetry_ = std::make_unique<TelemetryServiceImpl>(engine, s->auth_.get(), metrics);
  SchedulerServiceOptions scheduler_options;
  scheduler_options.online_max_requests = config.batcher().online_max_requests();
  scheduler_options.max_message_requests = config.batcher().max_message_requests();
  if (clustered) {
    scheduler_options.peers = [server = s.get()] {
      std::vector<std::string> addresses;
      if (const Cluster* cluster = server->cluster_view_.load()) {
        for (const Peer& p : cluster->Peers()) addresses.push_back(p.address);
      }
      return addresses;
    };
    const v1::TlsConfig& tls = config.tls();
    if (!tls.cert_file().empty()) {
      // Peers serve the same TLS as this replica: trust the client CA (or the
      // system's roots) and present this replica's certificate for mTLS.
      grpc::SslCredentialsOptions ssl;
      if (!tls.client_ca_file().empty()) {
        AZ_ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadTextFile(tls.client_ca_file(), "client CA"));
        AZ_ASSIGN_OR_RETURN(ssl.pem_private_key, ReadTextFile(tls.key_file(), "TLS key"));
        AZ_ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadTextFile(tls.cert_file(), "TLS certificate"));
      }
      scheduler_options.peer_credentials = grpc::SslCredentials(ssl);
    }
  }
  s->scheduler_ = std::make_unique<SchedulerServiceImpl>(engine, s->batcher_.get(), metrics, scheduler_options);
  s->policy_ = std::make_unique<PolicyServiceImpl>(engine, s->auth_.get(), metrics);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second azimuthd on the same port
  // would start and silently take half the connections with a ledger of its
  // own. A port in use must fail to bind.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<std::int64_t>(config.max_message_bytes(), INT32_MAX)));
  builder.SetMaxSendMessageSize(static_cast<int>(std::min<std::int64_t>(config.max_message_bytes(), INT32_MAX)));
  if (config.listen() != "none") {
    std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
    const v1::TlsConfig& tls = config.tls();
    if (!tls.cert_file().empty()) {
      absl::StatusOr<std::string> cert = ReadTextFile(tls.cert_file(), "TLS certificate");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadTextFile(tls.key_file(), "TLS key");
      if (!key.ok()) return key.status();
      grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
      if (!tls.client_ca_file().empty()) {
        absl::StatusOr<std::string> ca = ReadTextFile(tls.client_ca_file(), "client CA");
        if (!ca.ok()) return ca.status();
        ssl.pem_root_certs = *ca;
        ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
      }
      ssl.pem_key_cert_pairs.push_back({*key, *cert});
      creds = grpc::SslServerCredentials(ssl);
    }
    builder.AddListeningPort(config.listen(), creds, &s->tcp_port_);
  }
  if (!config.unix_socket().empty()) {
    // A socket left by a previous run would make the bind fail; one that
    // another process still serves on is in use.
    if (SocketInUse(config.unix_socket())) {
      return absl::UnavailableError(absl::StrCat("cannot listen on the unix socket ", config.unix_socket(),
                                                 ": address in use (another process serves on it)"));
    }
    ::unlink(config.unix_socket().c_str());
    builder.AddListeningPort("unix:" + config.unix_socket(), grpc::InsecureServerCredentials());
    s->unix_socket_ = config.unix_socket();
  }
  builder.RegisterService(s->telemetry_.get());
  builder.RegisterService(s->scheduler_.get());
  builder.RegisterService(s->policy_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || (config.listen() != "none" && s->tcp_port_ == 0)) {
    if (s->server_) s->server_->Shutdown();
    return absl::UnavailableError(absl::StrCat("cannot listen on '", config.listen(), "'",
                                               config.unix_socket().empty() ? "" : " or on the unix socket ",
                                               config.unix_socket(), ": address in use, or no permission"));
  }
  s->server_->GetHealthCheckService()->SetServingStatus(true);
  if (!config.health_listen().empty() && config.health_listen() != "none") {
    s->health_only_ = std::make_unique<HealthOnly>();
    grpc::ServerBuilder health;
    health.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    health.AddListeningPort(config.health_listen(), grpc::InsecureServerCredentials(), &s->health_port_);
    health.RegisterService(s->health_only_.get());
    s->health_server_ = health.BuildAndStart();
    if (!s->health_server_ || s->health_port_ == 0) {
      s->server_->Shutdown();
      return absl::UnavailableError(absl::StrCat("cannot listen on health_listen '", config.health_listen(),
                                                 "': address in use, or no permission"));
    }
    s->health_only_->Set(true);
  }

  if (config.metrics_listen() != "none") {
    try {
      // Several threads, and a connection that sends no request is closed
      // after 3 s: an idle client cannot hold up a scrape.
      s->exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
          "listening_ports", config.metrics_listen(), "num_threads", "8", "request_timeout_ms", "3000"});
      s->exposer_->RegisterCollectable(s->metrics_->registry());
      const std::vector<int> ports = s->exposer_->GetListeningPorts();
      s->metrics_port_ = ports.empty() ? 0 : ports.front();
    } catch (const std::exception& e) {
      s->server_->Shutdown();
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on '", config.metrics_listen(), "': ", e.what()));
    }
  }
  s->metrics_->SetEndpoints(s->engine_->Endpoints());
  if (clustered) {
    AZ_ASSIGN_OR_RETURN(ClusterOptions cluster_options, ClusterOptionsFromConfig(config, s->tcp_port_));
    const std::string redis = absl::StrCat(cluster_options.redis.host, ":", cluster_options.redis.port,
                                           cluster_options.redis.tls ? " (TLS)" : "");
    const std::string replica = cluster_options.replica_id;
    AZ_ASSIGN_OR_RETURN(s->cluster_, Cluster::Start(std::move(cluster_options), s->engine_.get()));
    s->cluster_view_.store(s->cluster_.get());
    Log(absl::StrCat("cluster: replica ", replica, " sharing quotas, telemetry and policy through redis ", redis));
  }
  s->watcher_ = std::thread([server = s.get()] { server->Watch(); });
  Log(absl::StrCat(
      "serving: tcp ", config.listen() == "none" ? "off" : absl::StrCat("port ", s->tcp_port_),
      config.tls().cert_file().empty() ? "" : (config.tls().client_ca_file().empty() ? " (TLS)" : " (mTLS)"),
      ", unix socket ", config.unix_socket().empty() ? "off" : config.unix_socket(), ", metrics ",
      s->exposer_ ? absl::StrCat("port ", s->metrics_port_) : "off", ", health ",
      s->health_server_ ? absl::StrCat("port ", s->health_port_) : "with the API", ", backend ",
      kernels::BackendName(s->backend_), ", ", s->engine_->Endpoints().size(), " endpoints, ", "policy ",
      kernels::AzureFirstName(checked->policy.azure_first)));
  return s;
}

absl::Status Server::Apply(const CheckedConfig& checked, bool initial) {
  engine_->SetPolicy(checked.policy);
  for (const EndpointSample& e : checked.endpoints) {
    if (absl::Status s = engine_->ReportTelemetry(e, /*pinned=*/true); !s.ok()) return s;
  }
  if (!initial) {
    Log(absl::StrCat("config reloaded from ", config_path_, ": policy ",
                     kernels::AzureFirstName(checked.policy.azure_first), ", ", checked.endpoints.size(),
                     " pinned endpoints"));
  }
  return absl::OkStatus();
}

absl::Status Server::Reload() {
  if (config_path_.empty()) return absl::FailedPreconditionError("no config file to reload (started without --config)");
  absl::StatusOr<std::string> text = ReadTextFile(config_path_, "config file");
  if (!text.ok()) return text.status();
  config_text_ = *text;
  absl::StatusOr<v1::ServerConfig> config = ParseConfig(*text, config_path_);
  if (!config.ok()) return config.status();
  absl::StatusOr<CheckedConfig> checked = CheckConfig(*config, config_path_);
  if (!checked.ok()) return checked.status();
  return Apply(*checked, false);
}

void Server::Watch() {
  std::int64_t rpcs_seen = -1, rpcs_trimmed = 0;
  int quiet_s = 0;
  for (;;) {
    {
      MutexLock lock(&mu_);
      if (!stopping_) cv_.WaitFor(&mu_, std::chrono::seconds(1));
      if (stopping_) return;
    }
    // After 2 s without calls, give the heap that malloc keeps back to the
    // system (azimuthd keeps up to 64 MiB of it for the next batches).
    const std::int64_t rpcs = metrics_->rpcs_counted();
    quiet_s = rpcs == rpcs_seen ? quiet_s + 1 : 0;
    rpcs_seen = rpcs;
    if (quiet_s >= 2 && rpcs != rpcs_trimmed) {
      ::malloc_trim(0);
      rpcs_trimmed = rpcs;
    }
    metrics_->SetEndpoints(engine_->Endpoints());
    metrics_->SetQueueDepth(batcher_->queued_requests());
    if (cluster_) metrics_->SetCluster(cluster_->stats());
    if (!config_path_.empty()) {
      absl::StatusOr<std::string> text = ReadTextFile(config_path_, "config file");
      if (text.ok() && *text != config_text_) {
        if (absl::Status s = Reload(); !s.ok()) {
          Log(absl::StrCat("config change rejected, keeping the previous one: ", s.message()));
        }
      }
    }
  }
}

void Server::Drain() {
  {
    MutexLock lock(&mu_);
    if (drained_) return;
    drained_ = true;
    stopping_ = true;
    cv_.SignalAll();
  }
  if (watcher_.joinable()) watcher_.join();
  // A server that never started (Start() failed part way) has less to stop.
  if (server_) {
    Log("draining: refusing new calls, finishing in-flight ones");
    server_->GetHealthCheckService()->SetServingStatus(false);
  }
  if (health_only_) health_only_->Set(false);
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(config_.drain_timeout_s()));
  if (batcher_) batcher_->Drain();
  if (!server_) {
    if (cluster_) cluster_->Stop();
    return;
  }
  server_->Wait();
  if (cluster_) cluster_->Stop();
  if (health_server_) {
    health_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    health_server_->Wait();
  }
  if (!unix_socket_.empty()) ::unlink(unix_socket_.c_str());
  Log("drained");
}

Server::~Server() { Drain(); }

}  // namespace azimuth::scheduler
