#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>
#include <librdkafka/rdkafkacpp.h>

namespace medallion::produce {

/// Counts delivery outcomes reported by librdkafka; keeps the first error's text.
class DeliveryCounter : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override;

  int64_t delivered() const { return delivered_.load(); }
  int64_t failed() const { return failed_.load(); }
  /// The first delivery error seen, empty if none.
  std::string first_error() const;

 private:
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<bool> has_error_{false};
  std::string first_error_;  // written once, before has_error_ is set
};

/// RAII owner of an idempotent librdkafka producer (enable.idempotence=true, acks=all,
/// linger.ms=5, no compression unless overridden).
///
/// Messages are sent to the partition librdkafka's default partitioner picks for the
/// key. Delivery reports are served from Send() and Flush(), i.e. on the caller's
/// thread. One thread at a time may use an instance; destruction waits briefly for
/// outstanding messages and then drops them.
class KafkaProducer {
 public:
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  /// Creates a producer for `brokers` (bootstrap.servers). `extra_config` entries are
  /// applied last and override the defaults; an unknown key or bad value is an error.
  static arrow::Result<std::unique_ptr<KafkaProducer>> Make(
      const std::string& brokers, const std::map<std::string, std::string>& extra_config = {});

  /// Fails unless cluster metadata can be fetched within `timeout_ms` (reachability).
  arrow::Status CheckBrokers(int timeout_ms);

  /// Number of partitions of `topic` per cluster metadata, 0 if the topic does not exist; a
  /// topic listed without a leader yet (just created) is waited for, up to `timeout_ms`.
  arrow::Result<int> PartitionCount(const std::string& topic, int timeout_ms);

  /// Creates `topic` with `partitions` partitions and replication factor 1 through the
  /// Admin API, and waits until the cluster's metadata lists it; a topic that already exists
  /// is not an error.
  arrow::Status CreateTopic(const std::string& topic, int partitions, int timeout_ms);

  /// Enqueues one message (copied). An empty `key` means no key. Waits (polling for
  /// delivery reports) while the local queue is full.
  arrow::Status Send(const std::string& topic, std::string_view key, std::string_view value);

  /// Waits until every enqueued message is delivered or failed. Returns an error if any
  /// delivery failed (since creation) or `timeout_ms` passed first.
  arrow::Status Flush(int timeout_ms);

  const DeliveryCounter& deliveries() const { return *deliveries_; }

  /// The underlying handle (for the C API via c_ptr()).
  RdKafka::Producer* handle() { return producer_.get(); }

 private:
  KafkaProducer(std::unique_ptr<DeliveryCounter> deliveries,
                std::unique_ptr<RdKafka::Producer> producer);

  std::unique_ptr<DeliveryCounter> deliveries_;  // must outlive producer_
  std::unique_ptr<RdKafka::Producer> producer_;
  uint64_t sends_ = 0;
};

}  // namespace medallion::produce
