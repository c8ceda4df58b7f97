// Copyright 2026 Azimuth authors.
#include "scheduler/core/batcher.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace azimuth::scheduler {

Batcher::Batcher(Engine* engine, BatcherOptions options, Observer observer)
    : engine_(engine), options_(options), observer_(std::move(observer)), thread_([this] { Run(); }) {}

Batcher::~Batcher() { Drain(); }

absl::Status Batcher::Submit(BatchJob job, Done done) {
  const auto n = static_cast<std::int64_t>(job.batch.size());
  {
    MutexLock lock(&mu_);
    if (draining_) return absl::UnavailableError("the server is shutting down");
    if (queued_ > 0 && queued_ + n > options_.max_queue_requests) {
      return absl::ResourceExhaustedError(absl::StrCat("the scheduler queue is full (", queued_, " of ",
                                                       options_.max_queue_requests, " requests); retry later"));
    }
    queued_ += n;
    queue_.push_back(Pending{std::move(job), std::move(done), std::chrono::steady_clock::now()});
    cv_.Signal();
  }
  return absl::OkStatus();
}

void Batcher::Drain() {
  {
    MutexLock lock(&mu_);
    draining_ = true;
    cv_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

std::int64_t Batcher::queued_requests() const {
  MutexLock lock(&mu_);
  return queued_;
}

void Batcher::Run() {
  std::vector<Pending> taken;
  std::vector<BatchJob*> jobs;
  std::vector<Decisions> decisions;
  for (;;) {
    {
      MutexLock lock(&mu_);
      while (!draining_ && queue_.empty()) cv_.Wait(&mu_);
      if (queue_.empty()) return;  // draining, nothing left
      // Coalesce: wait for a full batch or the oldest job's deadline.
      const auto deadline = queue_.front().enqueued + options_.max_delay;
      for (auto now = std::chrono::steady_clock::now();
           !draining_ && queued_ < options_.max_batch_requests && now < deadline;
           now = std::chrono::steady_clock::now()) {
        cv_.WaitFor(&mu_, deadline - now);
      }
      std::int64_t take = 0;
      while (!queue_.empty()) {
        const auto n = static_cast<std::int64_t>(queue_.front().job.batch.size());
        if (!taken.empty() && take + n > options_.max_batch_requests) break;
        take += n;
        taken.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_ -= take;
    }
    jobs.clear();
    std::int64_t requests = 0;
    for (Pending& p : taken) {
      jobs.push_back(&p.job);
      requests += static_cast<std::int64_t>(p.job.batch.size());
    }
    const auto start = std::chrono::steady_clock::now();
    const absl::Status status = engine_->DecideBatch(jobs, &decisions);
    if (observer_) {
      observer_(requests, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    for (std::size_t j = 0; j < taken.size(); ++j) {
      if (status.ok()) {
        taken[j].done(std::move(decisions[j]));
      } else {
        taken[j].done(status);
      }
    }
    taken.clear();
  }
}

}  // namespace azimuth::scheduler
