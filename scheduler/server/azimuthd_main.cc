// Copyright 2026 Azimuth authors.
//
// azimuthd — the Azimuth control plane server.
//
//   azimuthd                                  # the embedded demo config
//   azimuthd --config /etc/azimuth/config.json --auth_token_file /run/secrets/tokens
//   azimuthd --listen none --unix_socket /var/run/azimuth/azimuth.sock   # sidecar
//
// SIGTERM or SIGINT drains: health turns NOT_SERVING, new calls are refused,
// in-flight calls finish, then the process exits 0.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "scheduler/server/config.h"
#include "scheduler/server/server.h"

ABSL_FLAG(std::string, config, "",
          "ServerConfig file (protobuf JSON); watched and reloaded when it changes. "
          "Empty: the embedded demo config");
ABSL_FLAG(std::string, listen, "", "TCP address host:port, or 'none' (overrides the config)");
ABSL_FLAG(std::string, unix_socket, "", "Unix domain socket path (overrides the config)");
ABSL_FLAG(std::string, metrics_listen, "", "Prometheus /metrics address host:port, or 'none' (overrides the config)");
ABSL_FLAG(std::string, health_listen, "", "plaintext host:port serving only grpc.health.v1, or 'none'");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate (overrides the config)");
ABSL_FLAG(std::string, tls_key, "", "PEM server key (overrides the config)");
ABSL_FLAG(std::string, tls_client_ca, "", "PEM CA for client certificates: enables mutual TLS");
ABSL_FLAG(std::string, auth_token_file, "", "bearer tokens, one per line (overrides the config)");
ABSL_FLAG(std::string, backend, "", "auto, cpu or cuda (overrides the config)");
ABSL_FLAG(bool, print_config, false, "print the effective config as JSON and exit");
ABSL_FLAG(bool, check_config, false, "validate the config (policy, endpoints, limits) and exit: 0 when valid");

namespace azimuth::scheduler {
namespace {

// Each solver batch allocates and frees a few MB. With glibc's defaults the
// freed top of the heap goes back to the kernel after every batch (beyond
// 128 KiB) and is faulted in again by the next one; keep up to 64 MiB of it,
// and take blocks up to 32 MiB from the heap rather than from mmap. In the
// streaming load benchmark this was worth about a fifth of the throughput.
// GLIBC_TUNABLES, when set, decides instead.
void TuneMalloc() {
  if (std::getenv("GLIBC_TUNABLES") != nullptr) return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

int Main(int argc, char** argv) {
  TuneMalloc();
  absl::SetProgramUsageMessage("azimuthd [--config FILE] [--listen HOST:PORT] [--unix_socket PATH] ...");
  absl::ParseCommandLine(argc, argv);
  // Signals are taken by one thread with sigwait(); block them everywhere
  // else before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string path = absl::GetFlag(FLAGS_config);
  v1::ServerConfig config;
  if (path.empty()) {
    config = DemoConfig();
  } else {
    absl::StatusOr<v1::ServerConfig> read = ReadConfig(path);
    if (!read.ok()) {
      std::fprintf(stderr, "azimuthd: %s\n", std::string(read.status().message()).c_str());
      return 2;
    }
    config = *std::move(read);
  }
  if (!absl::GetFlag(FLAGS_listen).empty()) config.set_listen(absl::GetFlag(FLAGS_listen));
  if (!absl::GetFlag(FLAGS_unix_socket).empty()) config.set_unix_socket(absl::GetFlag(FLAGS_unix_socket));
  if (!absl::GetFlag(FLAGS_metrics_listen).empty()) config.set_metrics_listen(absl::GetFlag(FLAGS_metrics_listen));
  if (!absl::GetFlag(FLAGS_health_listen).empty()) config.set_health_listen(absl::GetFlag(FLAGS_health_listen));
  if (!absl::GetFlag(FLAGS_tls_cert).empty()) config.mutable_tls()->set_cert_file(absl::GetFlag(FLAGS_tls_cert));
  if (!absl::GetFlag(FLAGS_tls_key).empty()) config.mutable_tls()->set_key_file(absl::GetFlag(FLAGS_tls_key));
  if (!absl::GetFlag(FLAGS_tls_client_ca).empty()) {
    config.mutable_tls()->set_client_ca_file(absl::GetFlag(FLAGS_tls_client_ca));
  }
  if (!absl::GetFlag(FLAGS_auth_token_file).empty()) config.set_auth_tokens_file(absl::GetFlag(FLAGS_auth_token_file));
  if (!absl::GetFlag(FLAGS_backend).empty()) config.set_backend(absl::GetFlag(FLAGS_backend));
  if (absl::GetFlag(FLAGS_check_config)) {
    absl::StatusOr<CheckedConfig> checked = CheckConfig(WithDefaults(config), path.empty() ? "config" : path);
    if (!checked.ok()) {
      std::fprintf(stderr, "azimuthd: %s\n", std::string(checked.status().message()).c_str());
      return 2;
    }
    std::printf("%s: valid (policy %s, %zu endpoints)\n", path.empty() ? "embedded config" : path.c_str(),
                kernels::AzureFirstName(checked->policy.azure_first), checked->endpoints.size());
    return 0;
  }
  if (absl::GetFlag(FLAGS_print_config)) {
    std::printf("%s\n", ConfigJson(WithDefaults(config)).c_str());
    return 0;
  }
  std::vector<std::string> tokens;
  if (!config.auth_tokens_file().empty()) {
    absl::StatusOr<std::vector<std::string>> read = ReadTokens(config.auth_tokens_file());
    if (!read.ok()) {
      std::fprintf(stderr, "azimuthd: %s\n", std::string(read.status().message()).c_str());
      return 2;
    }
    tokens = *std::move(read);
  } else {
    Log("no auth_tokens_file: SetPolicy and ReportTelemetry are refused");
  }
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(config, path, std::move(tokens));
  if (!server.ok()) {
    std::fprintf(stderr, "azimuthd: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  int signal = 0;
  sigwait(&signals, &signal);
  Log(absl::StrCat("received ", signal == SIGTERM ? "SIGTERM" : "SIGINT"));
  (*server)->Drain();
  return 0;
}

}  // namespace
}  // namespace azimuth::scheduler

int main(int argc, char** argv) { return azimuth::scheduler::Main(argc, argv); }
