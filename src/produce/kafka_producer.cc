#include "produce/kafka_producer.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <librdkafka/rdkafka.h>

namespace medallion::produce {
namespace {

/// Owns a C admin object (queue, options, topic spec, event) for the scope of a call.
template <typename T, void (*Destroy)(T*)>
struct CHandle {
  T* ptr;
  explicit CHandle(T* p) : ptr(p) {}
  ~CHandle() {
    if (ptr != nullptr) Destroy(ptr);
  }
  CHandle(const CHandle&) = delete;
  CHandle& operator=(const CHandle&) = delete;
};

}  // namespace

void DeliveryCounter::dr_cb(RdKafka::Message& message) {
  if (message.err() == RdKafka::ERR_NO_ERROR) {
    delivered_.fetch_add(1);
    return;
  }
  if (failed_.fetch_add(1) == 0) {
    first_error_ = message.errstr() + " (topic " + message.topic_name() + ")";
    has_error_.store(true);
  }
}

std::string DeliveryCounter::first_error() const {
  return has_error_.load() ? first_error_ : std::string();
}

KafkaProducer::KafkaProducer(std::unique_ptr<DeliveryCounter> deliveries,
                             std::unique_ptr<RdKafka::Producer> producer)
    : deliveries_(std::move(deliveries)), producer_(std::move(producer)) {}

KafkaProducer::~KafkaProducer() {
  if (producer_ != nullptr) producer_->flush(2000);
  producer_.reset();  // before deliveries_, which it references
}

arrow::Result<std::unique_ptr<KafkaProducer>> KafkaProducer::Make(
    const std::string& brokers, const std::map<std::string, std::string>& extra_config) {
  auto deliveries = std::make_unique<DeliveryCounter>();
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  std::map<std::string, std::string> settings = {
      {"bootstrap.servers", brokers},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "5"},
      {"compression.type", "none"},
      {"message.timeout.ms", "30000"},
      {"client.id", "medallion-produce"},
  };
  for (const auto& [key, value] : extra_config) settings[key] = value;
  for (const auto& [key, value] : settings) {
    if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK) {
      return arrow::Status::Invalid("Kafka producer config ", key, "=", value, ": ", err);
    }
  }
  if (conf->set("dr_cb", deliveries.get(), err) != RdKafka::Conf::CONF_OK) {
    return arrow::Status::UnknownError("cannot set delivery report callback: ", err);
  }
  std::unique_ptr<RdKafka::Producer> producer(RdKafka::Producer::create(conf.get(), err));
  if (producer == nullptr) {
    return arrow::Status::IOError("cannot create Kafka producer for ", brokers, ": ", err);
  }
  return std::unique_ptr<KafkaProducer>(
      new KafkaProducer(std::move(deliveries), std::move(producer)));
}

arrow::Status KafkaProducer::CheckBrokers(int timeout_ms) {
  RdKafka::Metadata* metadata = nullptr;
  const RdKafka::ErrorCode code = producer_->metadata(true, nullptr, &metadata, timeout_ms);
  std::unique_ptr<RdKafka::Metadata> owned(metadata);
  if (code != RdKafka::ERR_NO_ERROR) {
    return arrow::Status::IOError("cannot reach Kafka brokers within ", timeout_ms,
                                  " ms: ", RdKafka::err2str(code));
  }
  return arrow::Status::OK();
}

arrow::Result<int> KafkaProducer::PartitionCount(const std::string& topic, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    RdKafka::Metadata* metadata = nullptr;
    const RdKafka::ErrorCode code = producer_->metadata(true, nullptr, &metadata, timeout_ms);
    std::unique_ptr<RdKafka::Metadata> owned(metadata);
    if (code != RdKafka::ERR_NO_ERROR) {
      return arrow::Status::IOError("fetching Kafka metadata: ", RdKafka::err2str(code));
    }
    RdKafka::ErrorCode listed = RdKafka::ERR_UNKNOWN_TOPIC_OR_PART;
    for (const RdKafka::TopicMetadata* entry : *owned->topics()) {
      if (entry->topic() != topic) continue;
      listed = entry->err();
      if (listed == RdKafka::ERR_NO_ERROR) return static_cast<int>(entry->partitions()->size());
    }
    if (listed == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) return 0;
    // Listed, not ready yet (a topic just created has no leader for a moment): it exists.
    if (std::chrono::steady_clock::now() >= deadline) {
      return arrow::Status::IOError("topic ", topic, " is not ready: ", RdKafka::err2str(listed));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

arrow::Status KafkaProducer::CreateTopic(const std::string& topic, int partitions,
                                         int timeout_ms) {
  rd_kafka_t* rk = producer_->c_ptr();
  char errstr[512];
  CHandle<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy> new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, errstr, sizeof(errstr)));
  if (new_topic.ptr == nullptr) {
    return arrow::Status::Invalid("cannot describe topic ", topic, ": ", errstr);
  }
  CHandle<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  if (rd_kafka_AdminOptions_set_operation_timeout(options.ptr, timeout_ms, errstr,
                                                  sizeof(errstr)) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      rd_kafka_AdminOptions_set_request_timeout(options.ptr, timeout_ms, errstr,
                                                sizeof(errstr)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return arrow::Status::Invalid("admin options: ", errstr);
  }
  CHandle<rd_kafka_queue_t, rd_kafka_queue_destroy> queue(rd_kafka_queue_new(rk));
  rd_kafka_CreateTopics(rk, &new_topic.ptr, 1, options.ptr, queue.ptr);
  // The request itself times out after timeout_ms; allow some slack for the reply.
  CHandle<rd_kafka_event_t, rd_kafka_event_destroy> event(
      rd_kafka_queue_poll(queue.ptr, timeout_ms + 5000));
  if (event.ptr == nullptr) {
    return arrow::Status::IOError("creating topic ", topic, ": no reply within ", timeout_ms,
                                  " ms");
  }
  if (rd_kafka_event_error(event.ptr) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return arrow::Status::IOError("creating topic ", topic, ": ",
                                  rd_kafka_event_error_string(event.ptr));
  }
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.ptr);
  size_t count = 0;
  const rd_kafka_topic_result_t** topics = rd_kafka_CreateTopics_result_topics(result, &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t code = rd_kafka_topic_result_error(topics[i]);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR && code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* message = rd_kafka_topic_result_error_string(topics[i]);
      return arrow::Status::IOError("creating topic ", topic, " with ", partitions,
                                    " partitions: ", message ? message : rd_kafka_err2str(code));
    }
  }
  // The reply comes before the cluster's metadata lists the topic: a client started right
  // after this one (or this one's first send) could still find no such topic.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    ARROW_ASSIGN_OR_RAISE(const int listed, PartitionCount(topic, static_cast<int>(std::max<int64_t>(1, left.count()))));
    if (listed > 0) return arrow::Status::OK();
    if (std::chrono::steady_clock::now() >= deadline) {
      return arrow::Status::IOError("creating topic ", topic, ": created, but not in the cluster's metadata after ",
                                    timeout_ms, " ms");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

arrow::Status KafkaProducer::Send(const std::string& topic, std::string_view key,
                                  std::string_view value) {
  for (;;) {
    const RdKafka::ErrorCode code = producer_->produce(
        topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(value.data()), value.size(), key.empty() ? nullptr : key.data(),
        key.size(), /*timestamp=*/0, /*msg_opaque=*/nullptr);
    if (code == RdKafka::ERR_NO_ERROR) break;
    if (code != RdKafka::ERR__QUEUE_FULL) {
      return arrow::Status::IOError("producing to ", topic, ": ", RdKafka::err2str(code));
    }
    producer_->poll(100);  // the local queue is full: serve delivery reports, then retry
  }
  if ((++sends_ & 1023) == 0) producer_->poll(0);
  if (deliveries_->failed() > 0) {
    return arrow::Status::IOError("Kafka delivery failed: ", deliveries_->first_error());
  }
  return arrow::Status::OK();
}

arrow::Status KafkaProducer::Flush(int timeout_ms) {
  const RdKafka::ErrorCode code = producer_->flush(timeout_ms);
  if (deliveries_->failed() > 0) {
    return arrow::Status::IOError(deliveries_->failed(), " Kafka deliveries failed; first: ",
                                  deliveries_->first_error());
  }
  if (code != RdKafka::ERR_NO_ERROR) {
    return arrow::Status::IOError("flushing Kafka producer: ", producer_->outq_len(),
                                  " messages still undelivered after ", timeout_ms,
                                  " ms: ", RdKafka::err2str(code));
  }
  return arrow::Status::OK();
}

}  // namespace medallion::produce
