// Copyright 2026 Azimuth authors.
//
// batcher.h — coalesces concurrent calls into solver batches, bounded in size
// and in time, with a bounded queue (back-pressure).
//
// One solver thread takes queued jobs in arrival order: it waits until
// `max_batch_requests` are queued or the oldest job has waited `max_delay`,
// then decides up to `max_batch_requests` requests (at least one job) in one
// Engine::DecideBatch(). Each job's callback runs on that thread, in order.
//
//   Batcher batcher(&engine, options);
//   absl::Status s = batcher.Submit(std::move(job), [](absl::StatusOr<Decisions> d) { ... });
//   // RESOURCE_EXHAUSTED: the queue is full; UNAVAILABLE: draining.
//   batcher.Drain();  // refuse new jobs, finish the queued ones
#ifndef AZIMUTH_SCHEDULER_CORE_BATCHER_H_
#define AZIMUTH_SCHEDULER_CORE_BATCHER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "scheduler/common/mutex.h"
#include "scheduler/core/batch.h"
#include "scheduler/core/engine.h"

namespace azimuth::scheduler {

struct BatcherOptions {
  std::int64_t max_batch_requests = 65536;
  std::chrono::microseconds max_delay{2000};
  std::int64_t max_queue_requests = 1 << 20;
};

class Batcher {
 public:
  using Done = std::function<void(absl::StatusOr<Decisions>)>;
  // Called after each solver batch with its size and the time it took.
  using Observer = std::function<void(std::int64_t requests, double seconds)>;

  Batcher(Engine* engine, BatcherOptions options, Observer observer = nullptr);
  ~Batcher();  // Drain()s
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Submit()
  //
  // Queues `job`; `done` is called exactly once when it is decided (or the
  // solve failed). A job larger than the queue is accepted when the queue is
  // empty, so no batch size is refused forever.
  absl::Status Submit(BatchJob job, Done done);

  // Drain()
  //
  // Refuses new jobs (UNAVAILABLE), decides the queued ones and stops the
  // solver thread. Idempotent.
  void Drain();

  std::int64_t queued_requests() const;

 private:
  struct Pending {
    BatchJob job;
    Done done;
    std::chrono::steady_clock::time_point enqueued;
  };
  void Run();

  Engine* const engine_;
  const BatcherOptions options_;
  const Observer observer_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  std::int64_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace azimuth::scheduler

#endif  // AZIMUTH_SCHEDULER_CORE_BATCHER_H_
