#include "source/kafka_source.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include "source/kafka_records.h"

namespace medallion::source {
namespace {

using Clock = std::chrono::steady_clock;

/// How long start-up waits for a partition's offsets while the broker recovers.
constexpr int kOffsetQueryMs = 10000;
/// Longest single blocking call into librdkafka, so that a stop request is seen soon.
constexpr int kSliceMs = 1000;
/// While draining to fixed targets: how far (a share of its backlog) a partition may read ahead
/// of the slowest one, and how long it waits for the slowest one's records at most.
constexpr double kDrainSlack = 1.0 / 1024;
constexpr int64_t kDrainPatienceMs = 100;
/// How often a continuous run looks for partitions added to the topic.
constexpr int kMetadataEveryMs = 5000;
/// What one metadata request says of a topic: the request's error, else the topic's
/// (ERR_NO_ERROR in both when it is listed), and its partition ids, ascending.
struct TopicListing {
  RdKafka::ErrorCode request = RdKafka::ERR_NO_ERROR;
  RdKafka::ErrorCode topic = RdKafka::ERR_NO_ERROR;
  std::vector<int32_t> partitions;

  bool listed() const { return request == RdKafka::ERR_NO_ERROR && topic == RdKafka::ERR_NO_ERROR; }
};

/// Asks the brokers for `name`'s metadata (librdkafka's metadata cache is refreshed by it).
arrow::Result<TopicListing> ListTopic(RdKafka::KafkaConsumer* consumer, const std::string& name) {
  std::string handle_err;
  std::unique_ptr<RdKafka::Topic> topic(RdKafka::Topic::create(consumer, name, nullptr, handle_err));
  if (!topic) return arrow::Status::IOError("topic handle '", name, "': ", handle_err);
  RdKafka::Metadata* raw = nullptr;
  TopicListing listing;
  listing.request = consumer->metadata(false, topic.get(), &raw, kSliceMs);
  const std::unique_ptr<RdKafka::Metadata> md(raw);
  if (listing.request != RdKafka::ERR_NO_ERROR) return listing;
  if (!md || md->topics()->empty()) {
    listing.topic = RdKafka::ERR_UNKNOWN_TOPIC_OR_PART;
    return listing;
  }
  const RdKafka::TopicMetadata* t = md->topics()->front();
  listing.topic = t->err();
  for (const auto* p : *t->partitions()) listing.partitions.push_back(p->id());
  std::sort(listing.partitions.begin(), listing.partitions.end());
  return listing;
}

/// How to go on when records are gone, in every data-loss message.
constexpr char kAcceptDataLoss[] = "set kafka.fail_on_data_loss = false (--fail-on-data-loss false)";

int64_t MillisSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

/// Errors that librdkafka recovers from by itself (broker restarts, leader moves). An
/// authentication error is one where it is asked about: after AccessFailure found a dropped
/// connection in its text, or where only its code is known (AccessFailureByCode).
bool IsTransient(RdKafka::ErrorCode err) {
  switch (err) {
    case RdKafka::ERR__AUTHENTICATION:
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
    case RdKafka::ERR__PARTITION_EOF:
    case RdKafka::ERR_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_LEADER_FOR_PARTITION:
    case RdKafka::ERR_REQUEST_TIMED_OUT:
    case RdKafka::ERR__MSG_TIMED_OUT:
      return true;
    default:
      return false;
  }
}

/// The cause to name when `err` (with librdkafka's text `detail`) means the cluster refuses
/// this client, or null: these end the run at once instead of being waited out as if the
/// broker were down. An authentication error whose connection dropped mid-exchange is not one
/// (AuthenticationLostItsConnection): librdkafka connects again.
const char* AccessFailure(RdKafka::ErrorCode err, std::string_view detail) {
  if (err == RdKafka::ERR__AUTHENTICATION && AuthenticationLostItsConnection(detail)) return nullptr;
  switch (err) {
    case RdKafka::ERR__AUTHENTICATION:
    case RdKafka::ERR_SASL_AUTHENTICATION_FAILED:
      return "authentication failed (check sasl.username / sasl.password and sasl.mechanism in "
             "[kafka.properties])";
    case RdKafka::ERR__SSL:
      return "TLS handshake failed (check ssl.ca.location and the broker's certificate)";
    case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
      return "not authorized to read the topic (grant Read and Describe on it)";
    case RdKafka::ERR_GROUP_AUTHORIZATION_FAILED:
      return "not authorized to use the consumer group (grant Read on the group, or set "
             "kafka.group_id to a group this principal may use)";
    case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
      return "not authorized on the cluster";
    default:
      return nullptr;
  }
}

/// AccessFailure for a request that gives a code without librdkafka's text (metadata, offsets,
/// commits): an authentication error is not judged here but by the error event, whose text
/// tells a refusal (which ends the run, KafkaSource::Interrupted) from a dropped connection.
const char* AccessFailureByCode(RdKafka::ErrorCode err) {
  return err == RdKafka::ERR__AUTHENTICATION ? nullptr : AccessFailure(err, {});
}

/// Orders messages by (partition, offset), comparing keys read once instead of calling
/// librdkafka's virtual accessors inside the sort.
void SortByPartitionOffset(std::vector<std::unique_ptr<RdKafka::Message>>* messages) {
  struct Key {
    int32_t partition;
    int64_t offset;
    size_t index;
  };
  std::vector<Key> keys;
  keys.reserve(messages->size());
  for (size_t i = 0; i < messages->size(); ++i) {
    keys.push_back({(*messages)[i]->partition(), (*messages)[i]->offset(), i});
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    return a.partition != b.partition ? a.partition < b.partition : a.offset < b.offset;
  });
  std::vector<std::unique_ptr<RdKafka::Message>> sorted;
  sorted.reserve(messages->size());
  for (const Key& k : keys) sorted.push_back(std::move((*messages)[k.index]));
  *messages = std::move(sorted);
}

/// Owns the TopicPartition pointers librdkafka's C++ API hands out.
struct PartitionList {
  std::vector<RdKafka::TopicPartition*> items;
  ~PartitionList() { RdKafka::TopicPartition::destroy(items); }
};

}  // namespace

bool AuthenticationLostItsConnection(std::string_view detail) {
  for (std::string_view dropped : {"Broker transport failure", "Disconnected", "Broker handle destroyed",
                                   "Timed out", "timed out"}) {
    if (detail.find(dropped) != std::string_view::npos) return true;
  }
  return false;
}

std::string ProtectedPropertyReason(const std::string& key) {
  static const std::map<std::string, std::string> kProtected = {
      {"bootstrap.servers", "set kafka.brokers (--brokers) instead"},
      {"metadata.broker.list", "set kafka.brokers (--brokers) instead"},
      {"group.id", "set kafka.group_id (--group-id) instead"},
      {"group.instance.id", "one process assigns partitions itself, and a group-mode member leaves the group "
                            "when it stops so that its partitions move at once (no static membership)"},
      {"enable.auto.commit", "the checkpoint, not the group's offsets, says what was processed"},
      {"enable.auto.offset.store", "the checkpoint, not the group's offsets, says what was processed"},
      {"auto.offset.reset", "an offset the topic no longer holds is data loss: set "
                            "kafka.fail_on_data_loss instead"},
      {"isolation.level", "the engine reads committed records only (read_committed), so aborted "
                          "transactions never reach a table"},
      {"enable.partition.eof", "the engine needs partition EOF to know where a partition's "
                               "readable log ends"},
  };
  auto it = kProtected.find(key);
  return it == kProtected.end() ? std::string() : it->second;
}

std::string RedactValue(std::string message, const std::string& value) {
  if (value.empty()) return message;
  for (size_t at = message.find(value); at != std::string::npos; at = message.find(value, at)) {
    message.replace(at, value.size(), "<redacted>");
    at += 10;
  }
  return message;
}

/// Turns librdkafka's error and log events into engine log lines. Connection trouble is
/// reported once when it starts and once when it ends, not on every retry. Authentication
/// and authorization failures (from events and offset commits) are kept as the run's
/// failure. Called on whichever thread serves the consumer's queue; Failure() may be read
/// from any thread.
class KafkaEventLogger : public RdKafka::EventCb, public RdKafka::OffsetCommitCb {
 public:
  explicit KafkaEventLogger(std::string brokers) : brokers_(std::move(brokers)) {}
  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (const char* cause = AccessFailure(event.err(), event.str())) {
          Fail(cause, event.str());
        } else if (event.err() == RdKafka::ERR__ALL_BROKERS_DOWN || event.err() == RdKafka::ERR__TRANSPORT ||
                   event.err() == RdKafka::ERR__RESOLVE || event.err() == RdKafka::ERR__AUTHENTICATION) {
          if (!down_) {
            spdlog::warn("Kafka at {} is unreachable ({}); waiting for it, the batch in flight "
                         "resumes when it is back",
                         brokers_, event.str());
            down_ = true;
          }
        } else if (event.fatal()) {
          Fail("fatal client error", event.str());
        } else {
          spdlog::warn("Kafka: {}", event.str());
        }
        break;
      case RdKafka::Event::EVENT_LOG:
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_ERROR) spdlog::debug("librdkafka: {}", event.str());
        break;
      default:
        break;
    }
  }
  void offset_commit_cb(RdKafka::ErrorCode err, std::vector<RdKafka::TopicPartition*>&) override {
    if (const char* cause = AccessFailureByCode(err)) Fail(cause, RdKafka::err2str(err));
  }
  /// Called when data flows again.
  void Recovered() {
    if (down_) spdlog::info("Kafka at {} is reachable again", brokers_);
    down_ = false;
  }
  /// The first authentication/authorization failure seen, or OK.
  arrow::Status Failure() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failure_;
  }

 private:
  void Fail(const char* cause, const std::string& detail) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failure_.ok()) {
      failure_ = arrow::Status::IOError("Kafka at ", brokers_, ": ", cause, " (", detail, ")");
    }
  }

  std::string brokers_;
  bool down_ = false;
  mutable std::mutex mutex_;
  arrow::Status failure_;
};

/// Hands librdkafka's rebalance events to the source (group mode).
class GroupRebalancer : public RdKafka::RebalanceCb {
 public:
  explicit GroupRebalancer(KafkaSource* source) : source_(source) {}
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    source_->OnRebalance(consumer, err, partitions);
  }

 private:
  KafkaSource* source_;
};

KafkaSource::KafkaSource(SourceOptions options) : options_(std::move(options)) {}

KafkaSource::~KafkaSource() {
  // Leaving the group revokes every partition inside close(): the engine that listened may
  // be half destroyed by now, so the revocation only releases them.
  const bool group = listener_ != nullptr;
  listener_ = nullptr;
  readers_.clear();
  if (!consumer_) return;
  if (group && !assigned_once_) {
    // librdkafka before 2.3 aborts when a cooperative-sticky member that has not yet had its
    // first assignment is destroyed (confluentinc/librdkafka#4312). A member stopped within
    // seconds of joining waits for that assignment first, a few seconds at most; without it,
    // the consumer is left to the process's exit instead of aborting it.
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!assigned_once_ && Clock::now() < deadline) std::unique_ptr<RdKafka::Message>(consumer_->consume(100));
    if (!assigned_once_) {
      spdlog::warn("group mode: stopping before the group gave this member its first assignment; the consumer "
                   "is not closed (librdkafka#4312) and the group notices after its session timeout");
      (void)consumer_.release();
      return;
    }
  }
  consumer_->close();
}

arrow::Result<std::unique_ptr<KafkaSource>> KafkaSource::Make(const SourceOptions& options) {
  if (options.starting_offsets != "earliest" && options.starting_offsets != "latest") {
    return arrow::Status::Invalid("starting_offsets: expected 'earliest' or 'latest', got '",
                                  options.starting_offsets, "'");
  }
  for (const auto& [k, v] : options.extra) {
    const std::string reason = ProtectedPropertyReason(k);
    if (!reason.empty()) {
      return arrow::Status::Invalid("kafka.properties: '", k, "' cannot be set: ", reason);
    }
  }
  std::map<std::string, std::string> settings = {
      {"client.id", "medallion"},
      {"fetch.wait.max.ms", "100"},
      // A fetch returns once 64 KiB are there (or after fetch.wait.max.ms), not with the first
      // record: fed by producers that send every few milliseconds, librdkafka's broker thread
      // otherwise fetches hundreds of times a second (at 5,000 events/s: 9.8 CPU-s per 1M
      // events, against 1.2 with this), for at most 100 ms more latency at a trickle.
      {"fetch.min.bytes", "65536"},
      // Fetch ahead by bytes only (queued.max.messages.kbytes, set per partition by
      // CreateConsumer): the count bound (queued.min.messages, 100000 by default) would stop
      // fetching at about one batch, and librdkafka 2.0 then waits ~0.4 s before it fetches
      // again once the engine has taken that batch.
      {"queued.min.messages", "10000000"},
      {"log.connection.close", "false"},
  };
  for (const auto& [k, v] : options.extra) settings[k] = v;
  // What the engine's guarantees depend on; ProtectedPropertyReason keeps users off these.
  const std::map<std::string, std::string> protected_settings = {
      {"bootstrap.servers", options.brokers},
      {"group.id", options.group_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      // Only an offset the partition no longer holds resets (every assignment names its
      // offset): an error to report, unless data loss is accepted.
      {"auto.offset.reset", options.fail_on_data_loss ? "error" : "earliest"},
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "true"},
  };
  for (const auto& [k, v] : protected_settings) settings[k] = v;
  auto source = std::unique_ptr<KafkaSource>(new KafkaSource(options));
  source->settings_ = std::move(settings);
  source->events_ = std::make_unique<KafkaEventLogger>(options.brokers);
  ARROW_RETURN_NOT_OK(source->CreateConsumer(1));
  return source;
}

arrow::Status KafkaSource::CreateConsumer(size_t partitions) {
  // Each partition has its own queue (see Assign), and librdkafka bounds every such queue on
  // its own: the fetch-ahead budget is shared out, at least 1 MiB (one fetch) per partition.
  const int64_t budget_kb = std::clamp<int64_t>(options_.prefetch_bytes >> 10, 1, 2097151);
  const int64_t queue_kb =
      std::max<int64_t>(1024, budget_kb / static_cast<int64_t>(std::max<size_t>(1, partitions)));
  if (consumer_ && queue_kb == queue_kbytes_) return arrow::Status::OK();
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  std::map<std::string, std::string> settings = settings_;
  settings["queued.max.messages.kbytes"] = std::to_string(queue_kb);
  for (const auto& [k, v] : settings) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      return arrow::Status::Invalid("kafka setting '", k, "' was rejected: ", RedactValue(err, v));
    }
  }
  if (rebalancer_ && conf->set("rebalance_cb", rebalancer_.get(), err) != RdKafka::Conf::CONF_OK) {
    return arrow::Status::Invalid("kafka rebalance callback: ", err);
  }
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(events_.get()), err) != RdKafka::Conf::CONF_OK ||
      conf->set("offset_commit_cb", static_cast<RdKafka::OffsetCommitCb*>(events_.get()), err) !=
          RdKafka::Conf::CONF_OK) {
    return arrow::Status::Invalid("kafka callbacks: ", err);
  }
  readers_.clear();
  if (consumer_) consumer_->close();
  consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer_) return arrow::Status::IOError("cannot create Kafka consumer: ", err);
  queue_kbytes_ = queue_kb;
  return arrow::Status::OK();
}

arrow::Status KafkaSource::Interrupted() const {
  if (stop_ != nullptr && stop_->load()) return arrow::Status::Cancelled("stop requested");
  return events_->Failure();
}

arrow::Result<std::vector<int32_t>> KafkaSource::Partitions(int timeout_ms) {
  const auto begin = Clock::now();
  bool warned = false;
  while (true) {
    ARROW_RETURN_NOT_OK(ServeConsumerQueue(0));
    ARROW_RETURN_NOT_OK(Interrupted());
    ARROW_ASSIGN_OR_RAISE(const TopicListing listing, ListTopic(consumer_.get(), options_.topic));
    const RdKafka::ErrorCode err = listing.request;
    if (err == RdKafka::ERR_NO_ERROR) {
      if (listing.listed() && !listing.partitions.empty()) {
        partitions_ = listing.partitions;
        // Before the first assignment, the consumer is made again with the fetch-ahead
        // budget shared out over the partitions found.
        if (readers_.empty()) ARROW_RETURN_NOT_OK(CreateConsumer(partitions_.size()));
        return partitions_;
      }
      if (const char* cause = AccessFailureByCode(listing.topic)) {
        return arrow::Status::IOError("Kafka at ", options_.brokers, ": topic '", options_.topic, "': ", cause);
      }
      if (listing.topic != RdKafka::ERR_UNKNOWN_TOPIC_OR_PART && listing.topic != RdKafka::ERR_LEADER_NOT_AVAILABLE &&
          listing.topic != RdKafka::ERR_NO_ERROR) {
        return arrow::Status::IOError("topic '", options_.topic, "': ", RdKafka::err2str(listing.topic));
      }
      if (MillisSince(begin) >= timeout_ms) {
        return arrow::Status::IOError("topic '", options_.topic, "' does not exist on ",
                                      options_.brokers, " (create it, e.g. medallion produce "
                                      "--create-topic-partitions 4)");
      }
      if (!warned) {
        spdlog::warn("topic '{}' does not exist on {} yet; waiting up to {} s for it to be created "
                     "(e.g. medallion produce --create-topic-partitions 4)",
                     options_.topic, options_.brokers, timeout_ms / 1000);
        warned = true;
      }
    } else if (const char* cause = AccessFailureByCode(err)) {
      return arrow::Status::IOError("Kafka at ", options_.brokers, ": ", cause);
    } else if (MillisSince(begin) >= timeout_ms) {
      return arrow::Status::IOError("cannot reach Kafka at ", options_.brokers, ": ",
                                    RdKafka::err2str(err));
    } else if (!warned) {
      spdlog::warn("waiting for Kafka at {} ({})", options_.brokers, RdKafka::err2str(err));
      warned = true;
    }
    ARROW_RETURN_NOT_OK(ServeConsumerQueue(200));
  }
}

arrow::Result<std::map<int32_t, int64_t>> KafkaSource::EndOffsets(int timeout_ms) {
  std::map<int32_t, int64_t> ends;
  for (int32_t p : partitions_) {
    ARROW_ASSIGN_OR_RAISE(const auto span, OffsetSpan(p, timeout_ms));
    ends[p] = span.second;
  }
  return ends;
}

arrow::Status KafkaSource::Assign(const std::map<int32_t, int64_t>& at) {
  readers_.clear();
  PartitionList list;
  for (const auto& [p, offset] : at) {
    list.items.push_back(RdKafka::TopicPartition::create(options_.topic, p, offset));
  }
  const auto err = consumer_->assign(list.items);
  if (err != RdKafka::ERR_NO_ERROR) {
    return arrow::Status::IOError("cannot assign partitions of ", options_.topic, ": ",
                                  RdKafka::err2str(err));
  }
  for (const auto* tp : list.items) {
    std::unique_ptr<RdKafka::Queue> queue(consumer_->get_partition_queue(tp));
    if (!queue) {
      return arrow::Status::IOError("no queue for ", options_.topic, "/", tp->partition());
    }
    readers_[tp->partition()].queue = std::move(queue);
  }
  // Once the application set a partition queue's forwarding, librdkafka leaves it alone; a
  // fetch that started before that may have put records in the consumer's queue: they come
  // first, as held items.
  DetachPartitionQueues();
  return ServeConsumerQueue(0);
}

void KafkaSource::DetachPartitionQueues() {
  for (auto& [p, reader] : readers_) reader.queue->forward(nullptr);
}

arrow::Status KafkaSource::ServeConsumerQueue(int timeout_ms) {
  int wait = timeout_ms;
  while (true) {
    std::unique_ptr<RdKafka::Message> item(consumer_->consume(wait));
    wait = 0;
    const auto err = item->err();
    if (err == RdKafka::ERR__TIMED_OUT) break;
    if (err == RdKafka::ERR_NO_ERROR || err == RdKafka::ERR__PARTITION_EOF) {
      auto it = readers_.find(item->partition());
      if (it != readers_.end() && item->topic_name() == options_.topic) it->second.held.push_back(std::move(item));
      continue;
    }
    ARROW_RETURN_NOT_OK(ConsumeError(*item));
  }
  ARROW_RETURN_NOT_OK(rebalance_error_);
  return events_->Failure();
}

std::unique_ptr<RdKafka::Message> KafkaSource::NextItem(int32_t partition) {
  PartitionReader& reader = readers_.at(partition);
  if (!reader.held.empty()) {
    auto item = std::move(reader.held.front());
    reader.held.pop_front();
    return item;
  }
  std::unique_ptr<RdKafka::Message> item(reader.queue->consume(0));
  if (!item || item->err() == RdKafka::ERR__TIMED_OUT) return nullptr;
  return item;
}

arrow::Status KafkaSource::ConsumeError(const RdKafka::Message& item) const {
  const auto err = item.err();
  if (const char* cause = AccessFailure(err, item.errstr())) {
    return arrow::Status::IOError("Kafka at ", options_.brokers, ": ", cause, " (", item.errstr(), ")");
  }
  if (IsTransient(err)) {
    if (err != RdKafka::ERR__TIMED_OUT && err != RdKafka::ERR__PARTITION_EOF) {
      spdlog::warn("Kafka: {} (retrying)", item.errstr());
    }
    return arrow::Status::OK();
  }
  if (err == RdKafka::ERR__AUTO_OFFSET_RESET) return ReadPastDeletedRecords(item);
  return arrow::Status::IOError("Kafka consume failed: ", item.errstr());
}

arrow::Status KafkaSource::Start(const std::map<int32_t, int64_t>& next) {
  positions_.clear();
  for (int32_t p : partitions_) {
    ARROW_ASSIGN_OR_RAISE(const auto span, OffsetSpan(p, kOffsetQueryMs));
    const auto [low, high] = span;
    auto it = next.find(p);
    if (it == next.end()) {
      if (!next.empty()) {
        spdlog::info("partition {}/{} is new to this query: reading it from its earliest offset {}",
                     options_.topic, p, low);
      }
      positions_[p] = next.empty() && options_.starting_offsets == "latest" ? high : low;
    } else if (it->second >= low && it->second <= high) {
      positions_[p] = it->second;
    } else {
      ARROW_RETURN_NOT_OK(OnDataLoss(p, it->second, low, high));
      positions_[p] = low;
    }
  }
  return Assign(positions_);
}

arrow::Status KafkaSource::Subscribe(PartitionListener* listener) {
  listener_ = listener;
  rebalancer_ = std::make_unique<GroupRebalancer>(this);
  // Cooperative-sticky moves only the partitions that change owner; the others keep being
  // read through a rebalance. Metadata every 5 s: partitions added to the topic reach the
  // group within seconds (librdkafka's default is 5 minutes).
  settings_["partition.assignment.strategy"] = "cooperative-sticky";
  settings_["topic.metadata.refresh.interval.ms"] = "5000";
  // The budget is shared over the topic's partitions, as if this member had them all.
  const size_t partitions = std::max<size_t>(1, partitions_.size());
  queue_kbytes_ = 0;  // made again (CreateConsumer closes the one Partitions made), with the callback
  ARROW_RETURN_NOT_OK(CreateConsumer(partitions));
  const auto err = consumer_->subscribe({options_.topic});
  if (err != RdKafka::ERR_NO_ERROR) {
    return arrow::Status::IOError("cannot subscribe to ", options_.topic, ": ", RdKafka::err2str(err));
  }
  spdlog::info("group mode: joined consumer group '{}' on topic {}; partitions come from the group",
               options_.group_id, options_.topic);
  return arrow::Status::OK();
}

namespace {

/// "0, 1, 2" or, with offsets, "0@10, 1@12".
std::string DescribePartitions(const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t p : ids) out += (out.empty() ? "" : ", ") + std::to_string(p);
  return out;
}
std::string DescribePartitions(const std::map<int32_t, int64_t>& at) {
  std::string out;
  for (const auto& [p, offset] : at) out += (out.empty() ? "" : ", ") + std::to_string(p) + "@" + std::to_string(offset);
  return out;
}

}  // namespace

arrow::Result<int64_t> KafkaSource::StartingOffset(int32_t partition) {
  ARROW_ASSIGN_OR_RAISE(const auto span, OffsetSpan(partition, kOffsetQueryMs));
  return options_.starting_offsets == "latest" ? span.second : span.first;
}

void KafkaSource::OnRebalance(RdKafka::KafkaConsumer* consumer, int err,
                              std::vector<RdKafka::TopicPartition*>& partitions) {
  // Subscribe sets cooperative-sticky: every rebalance adds or removes only what moves.
  auto release = [&] {
    std::unique_ptr<RdKafka::Error> error(consumer->incremental_unassign(partitions));
    return error ? arrow::Status::IOError("cannot release partitions of ", options_.topic, ": ", error->str())
                 : arrow::Status::OK();
  };
  if (err == RdKafka::ERR__ASSIGN_PARTITIONS) assigned_once_ = true;
  in_rebalance_ = true;
  struct Leave {
    bool& flag;
    ~Leave() { flag = false; }
  } leave{in_rebalance_};
  if (listener_ == nullptr) {  // closing: what comes is taken as it is, then released by close()
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      std::unique_ptr<RdKafka::Error> error(consumer->incremental_assign(partitions));
    } else {
      (void)release();
    }
    return;
  }
  auto fail = [this](arrow::Status st) {
    if (rebalance_error_.ok() && !st.ok()) rebalance_error_ = std::move(st);
  };
  std::vector<int32_t> ids;
  for (const auto* tp : partitions) {
    if (tp->topic() == options_.topic) ids.push_back(tp->partition());
  }
  std::sort(ids.begin(), ids.end());
  if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
    auto starts = listener_->OnAssigned(ids);
    if (!starts.ok()) return fail(starts.status());
    std::map<int32_t, int64_t> at = std::move(*starts);
    for (int32_t p : ids) {
      if (at.count(p) != 0) continue;
      auto start = StartingOffset(p);
      if (!start.ok()) return fail(start.status());
      at[p] = *start;
    }
    for (auto* tp : partitions) {
      if (auto it = at.find(tp->partition()); it != at.end()) tp->set_offset(it->second);
    }
    if (std::unique_ptr<RdKafka::Error> error(consumer->incremental_assign(partitions)); error) {
      return fail(arrow::Status::IOError("cannot take partitions of ", options_.topic, ": ", error->str()));
    }
    fail(AddPartitions(at));
    if (!at.empty()) spdlog::info("group mode: took partitions {} of {} (partition@offset)", DescribePartitions(at), options_.topic);
  } else if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
    listener_->OnRevoked(ids);
    for (int32_t p : ids) {
      readers_.erase(p);
      positions_.erase(p);
      batch_start_.erase(p);
    }
    std::erase_if(partitions_, [&](int32_t p) { return std::binary_search(ids.begin(), ids.end(), p); });
    fail(release());
    if (!ids.empty()) spdlog::info("group mode: released partitions {} of {}", DescribePartitions(ids), options_.topic);
  } else {
    fail(arrow::Status::IOError("consumer group rebalance failed: ", RdKafka::err2str(static_cast<RdKafka::ErrorCode>(err))));
    (void)release();
  }
}

arrow::Status KafkaSource::Reposition(const std::map<int32_t, int64_t>& starts) {
  std::map<int32_t, int64_t> at;
  for (const auto& [p, position] : positions_) {
    auto known = starts.find(p);
    if (known != starts.end()) {
      at[p] = known->second;
    } else {
      ARROW_ASSIGN_OR_RAISE(at[p], StartingOffset(p));
    }
  }
  PartitionList list;
  for (const auto& [p, offset] : at) list.items.push_back(RdKafka::TopicPartition::create(options_.topic, p, offset));
  readers_.clear();
  if (std::unique_ptr<RdKafka::Error> error(consumer_->incremental_unassign(list.items)); error) {
    return arrow::Status::IOError("cannot release partitions of ", options_.topic, ": ", error->str());
  }
  if (std::unique_ptr<RdKafka::Error> error(consumer_->incremental_assign(list.items)); error) {
    return arrow::Status::IOError("cannot take partitions of ", options_.topic, " again: ", error->str());
  }
  return AddPartitions(at);
}

arrow::Status KafkaSource::AddPartitions(const std::map<int32_t, int64_t>& at) {
  for (const auto& [p, offset] : at) {
    std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(options_.topic, p));
    std::unique_ptr<RdKafka::Queue> queue(consumer_->get_partition_queue(tp.get()));
    if (!queue) return arrow::Status::IOError("no queue for ", options_.topic, "/", p);
    queue->forward(nullptr);
    readers_[p].queue = std::move(queue);
    positions_[p] = offset;
    batch_start_[p] = offset;
    if (std::find(partitions_.begin(), partitions_.end(), p) == partitions_.end()) partitions_.push_back(p);
  }
  std::sort(partitions_.begin(), partitions_.end());
  return arrow::Status::OK();
}

arrow::Status KafkaSource::PickUpNewPartitions() {
  if (MillisSince(last_metadata_check_) < kMetadataEveryMs) return arrow::Status::OK();
  last_metadata_check_ = Clock::now();
  const auto listing = ListTopic(consumer_.get(), options_.topic);
  if (!listing.ok() || !listing->listed()) return arrow::Status::OK();  // looked at again on the next check
  std::vector<int32_t> added;
  for (int32_t p : listing->partitions) {
    if (positions_.count(p) == 0) added.push_back(p);
  }
  if (added.empty()) return arrow::Status::OK();
  std::map<int32_t, int64_t> earliest;
  for (int32_t p : added) {
    int64_t low = 0, high = 0;
    if (consumer_->query_watermark_offsets(options_.topic, p, &low, &high, kSliceMs) != RdKafka::ERR_NO_ERROR) {
      return arrow::Status::OK();  // not ready yet: the next check tries again
    }
    earliest[p] = low;
  }
  for (const auto& [p, low] : earliest) {
    spdlog::info("partition {}/{} was added to the topic: reading it from its earliest offset {}",
                 options_.topic, p, low);
    positions_[p] = low;
    partitions_.push_back(p);
  }
  std::sort(partitions_.begin(), partitions_.end());
  // Every partition restarts at its position (what was fetched ahead is fetched again).
  return Assign(positions_);
}

arrow::Result<std::pair<int64_t, int64_t>> KafkaSource::OffsetSpan(int32_t partition, int timeout_ms) {
  const auto begin = Clock::now();
  while (true) {
    int64_t low = 0, high = 0;
    const auto err = consumer_->query_watermark_offsets(options_.topic, partition, &low, &high, kSliceMs);
    if (err == RdKafka::ERR_NO_ERROR) return std::make_pair(low, high);
    if (const char* cause = AccessFailureByCode(err)) {
      return arrow::Status::IOError("Kafka at ", options_.brokers, ": ", cause);
    }
    // A partition just added to the topic can reach this member through the group before this
    // client's own metadata lists it: librdkafka then knows no leader for it until a refresh.
    const bool unlisted = err == RdKafka::ERR__UNKNOWN_PARTITION;
    if ((!IsTransient(err) && !unlisted) || MillisSince(begin) >= timeout_ms) {
      return arrow::Status::IOError("cannot read offsets of ", options_.topic, "/", partition, ": ",
                                    RdKafka::err2str(err));
    }
    spdlog::warn("waiting for offsets of {}/{}: {}", options_.topic, partition, RdKafka::err2str(err));
    if (unlisted) (void)ListTopic(consumer_.get(), options_.topic);  // refreshes the client's metadata
    if (in_rebalance_) {
      // Inside librdkafka's rebalance callback the consumer queue must not be served again.
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } else {
      ARROW_RETURN_NOT_OK(ServeConsumerQueue(100));
    }
    ARROW_RETURN_NOT_OK(Interrupted());
  }
}

arrow::Status KafkaSource::ReadPastDeletedRecords(const RdKafka::Message& error) const {
  return arrow::Status::IOError(
      "data loss: ", error.errstr(), ": records of ", options_.topic, "/", error.partition(),
      " were deleted while this query was reading them. To skip them, ", kAcceptDataLoss);
}

arrow::Status KafkaSource::OnDataLoss(int32_t partition, int64_t offset, int64_t low, int64_t high) {
  const std::string where = options_.topic + "/" + std::to_string(partition);
  const std::string what =
      offset < low
          ? "records " + std::to_string(offset) + ".." + std::to_string(low - 1) + " of " + where +
                " were deleted (retention or delete-records) before this query read them"
          : "this query's next offset " + std::to_string(offset) + " of " + where +
                " is past the partition's end " + std::to_string(high) +
                " (the topic was recreated, or its log truncated)";
  if (options_.fail_on_data_loss) {
    return arrow::Status::IOError(what, ". To skip what is missing and go on from offset ", low,
                                  ", ", kAcceptDataLoss);
  }
  spdlog::warn("data loss: {}; going on from offset {} (fail_on_data_loss = false)", what, low);
  return arrow::Status::OK();
}

arrow::Result<FetchedRecords> KafkaSource::Poll(const BatchLimits& limits,
                                                const std::map<int32_t, int64_t>* stop_at) {
  std::vector<std::unique_ptr<RdKafka::Message>> messages;
  BatchOffsets offsets;
  if (stop_at == nullptr && listener_ == nullptr) ARROW_RETURN_NOT_OK(PickUpNewPartitions());
  batch_start_ = positions_;
  DetachPartitionQueues();
  ARROW_RETURN_NOT_OK(ServeConsumerQueue(0));
  const auto begin = Clock::now();
  int64_t bytes = 0;
  // One record from each partition with one ready, in turn; the turn starts one partition
  // further with every batch, so no partition is always first to a batch's last places.
  std::vector<int32_t> order;
  for (const auto& [p, reader] : readers_) order.push_back(p);
  if (!order.empty()) std::rotate(order.begin(), order.begin() + (round_start_++ % order.size()), order.end());
  auto full = [&] {
    return static_cast<int64_t>(messages.size()) >= limits.max_records || bytes >= limits.max_bytes;
  };
  // Draining to fixed targets, the partitions advance together: a partition whose progress
  // (the share of its backlog read since the drain began) is ahead of the slowest one's by more
  // than kDrainSlack waits while the slower ones are fetched. Reading equal counts instead
  // lets a partition with fewer records per second of event time run ahead in event time,
  // and a partition whose fetch came late fall behind for good; the watermark (the minimum)
  // and the state behind it then lag by that distance. A slow partition stalls the others
  // for kDrainPatienceMs at most, then they go on until it delivers again.
  if (stop_at != nullptr && drain_targets_ != *stop_at) {
    drain_targets_ = *stop_at;
    drain_origin_ = positions_;
  }
  auto progress = [&](int32_t p) {
    const auto target = drain_targets_.find(p);
    const auto origin = drain_origin_.find(p);
    if (target == drain_targets_.end() || origin == drain_origin_.end()) return 1.0;
    const int64_t span = target->second - origin->second;
    if (span <= 0 || positions_[p] >= target->second) return 1.0;
    return static_cast<double>(positions_[p] - origin->second) / static_cast<double>(span);
  };
  const int64_t patience_ms = std::min<int64_t>(kDrainPatienceMs, limits.max_wait_ms / 4);
  auto slow_since = Clock::now();
  for (int64_t round = 0; !full(); ++round) {
    if (stop_at != nullptr && Reached(positions_, *stop_at)) break;
    if (stop_ != nullptr && stop_->load()) break;
    const int64_t left = limits.max_wait_ms - MillisSince(begin);
    if (left <= 0) break;
    if (round % 64 == 63) ARROW_RETURN_NOT_OK(ServeConsumerQueue(0));
    double floor = 1.0;
    if (stop_at != nullptr) for (int32_t p : order) floor = std::min(floor, progress(p));
    const bool wait_for_slow = stop_at != nullptr && MillisSince(slow_since) < patience_ms;
    bool any = false;
    for (int32_t p : order) {
      if (full()) break;
      if (listener_ != nullptr && readers_.count(p) == 0) continue;  // released by a rebalance
      const bool slowest = stop_at == nullptr || progress(p) <= floor + kDrainSlack;
      if (!slowest && wait_for_slow) continue;
      std::unique_ptr<RdKafka::Message> item = NextItem(p);
      if (!item) continue;
      any = true;
      const auto err = item->err();
      const auto stop_it = stop_at != nullptr ? stop_at->find(p) : std::map<int32_t, int64_t>::const_iterator();
      const bool bounded = stop_at != nullptr && stop_it != stop_at->end();
      if (err == RdKafka::ERR__PARTITION_EOF) {
        // Everything before the EOF's offset was delivered: what lies between the last
        // record and it (transaction markers, aborted or compacted records) is no record.
        const int64_t end = bounded ? std::min(item->offset(), stop_it->second) : item->offset();
        int64_t& position = positions_[p];
        position = std::max(position, end);
        continue;
      }
      if (err != RdKafka::ERR_NO_ERROR) {
        ARROW_RETURN_NOT_OK(ConsumeError(*item));
        continue;
      }
      events_->Recovered();
      const int64_t off = item->offset();
      if (stop_at != nullptr && (!bounded || off >= stop_it->second)) continue;
      if (slowest && stop_at != nullptr) slow_since = Clock::now();  // read only by a drain
      positions_[p] = off + 1;
      bytes += static_cast<int64_t>(item->len() + item->key_len());
      messages.push_back(std::move(item));
    }
    if (!any) {
      ARROW_RETURN_NOT_OK(ServeConsumerQueue(static_cast<int>(std::min<int64_t>(left, 10))));
      DetachPartitionQueues();
    }
  }
  if (listener_ != nullptr) {
    // Records of partitions a rebalance released during this poll are no longer this
    // member's to write.
    std::erase_if(messages, [this](const std::unique_ptr<RdKafka::Message>& m) {
      return readers_.count(m->partition()) == 0;
    });
  }
  SortByPartitionOffset(&messages);
  for (const auto& m : messages) {
    auto [it, inserted] = offsets.try_emplace(m->partition(), OffsetRange{m->offset(), m->offset() + 1});
    if (!inserted) it->second.end = m->offset() + 1;
  }
  for (auto& [p, range] : offsets) range.start = std::min(range.start, batch_start_.at(p));
  return FetchedFromMessages(std::move(messages), std::move(offsets));
}

arrow::Result<std::vector<FetchedRecords>> KafkaSource::Replay(const std::vector<BatchOffsets>& batches,
                                                               int timeout_ms) {
  BatchOffsets all;  // per partition, from the first batch's start to the last one's end
  std::map<int32_t, std::vector<OffsetRange>> by_partition;
  for (const BatchOffsets& batch : batches) {
    for (const auto& [p, range] : batch) {
      if (range.end <= range.start) continue;
      by_partition[p].push_back(range);
      auto [it, inserted] = all.try_emplace(p, range);
      it->second = {std::min(it->second.start, range.start), std::max(it->second.end, range.end)};
    }
  }
  bool overlap = false;
  for (auto& [p, ranges] : by_partition) {
    std::sort(ranges.begin(), ranges.end(), [](const OffsetRange& a, const OffsetRange& b) { return a.start < b.start; });
    for (size_t i = 1; i < ranges.size(); ++i) overlap |= ranges[i].start < ranges[i - 1].end;
  }
  std::vector<FetchedRecords> out;
  if (overlap || batches.size() == 1) {
    for (const BatchOffsets& batch : batches) {
      ARROW_ASSIGN_OR_RAISE(FetchedRecords records, Replay(batch, timeout_ms));
      out.push_back(std::move(records));
    }
    return out;
  }
  ARROW_ASSIGN_OR_RAISE(std::vector<std::unique_ptr<RdKafka::Message>> messages, ReplayMessages(all, timeout_ms));
  // Each record goes to the batch whose range of its partition holds it (one at most).
  std::vector<std::vector<std::unique_ptr<RdKafka::Message>>> split(batches.size());
  for (auto& m : messages) {
    for (size_t i = 0; i < batches.size(); ++i) {
      const auto it = batches[i].find(m->partition());
      if (it != batches[i].end() && m->offset() >= it->second.start && m->offset() < it->second.end) {
        split[i].push_back(std::move(m));
        break;
      }
    }
  }
  for (size_t i = 0; i < batches.size(); ++i) out.push_back(FetchedFromMessages(std::move(split[i]), batches[i]));
  return out;
}

arrow::Result<FetchedRecords> KafkaSource::Replay(const BatchOffsets& offsets, int timeout_ms) {
  ARROW_ASSIGN_OR_RAISE(std::vector<std::unique_ptr<RdKafka::Message>> messages, ReplayMessages(offsets, timeout_ms));
  return FetchedFromMessages(std::move(messages), offsets);
}

arrow::Result<std::vector<std::unique_ptr<RdKafka::Message>>> KafkaSource::ReplayMessages(const BatchOffsets& offsets,
                                                                                       int timeout_ms) {
  std::vector<std::unique_ptr<RdKafka::Message>> messages;
  std::map<int32_t, int64_t> at;
  std::map<int32_t, OffsetRange> pending;  // partition → what is left to read, while not done
  for (const auto& [p, range] : offsets) {
    if (range.end <= range.start) continue;
    int64_t start = range.start;
    ARROW_ASSIGN_OR_RAISE(const auto span, OffsetSpan(p, timeout_ms));
    const auto [low, high] = span;
    if (start < low) {  // deleted since the batch was planned
      ARROW_RETURN_NOT_OK(OnDataLoss(p, start, low, high));
      start = low;
    }
    if (start < range.end) {
      at[p] = start;
      pending[p] = {start, range.end};
    }
  }
  if (at.empty()) return messages;
  ARROW_RETURN_NOT_OK(Assign(at));
  std::map<int32_t, int64_t> found;  // partition → records re-read
  auto done = [&](int32_t p) {
    const OffsetRange r = pending.at(p);
    const int64_t gaps = (r.end - r.start) - found[p];
    if (gaps > 0) {
      spdlog::info("replay: {} of the offsets {}..{} of {}/{} hold no record (compacted away, or "
                   "transaction markers and aborted records); not data loss",
                   gaps, r.start, r.end - 1, options_.topic, p);
    }
    pending.erase(p);
  };
  const auto begin = Clock::now();
  while (!pending.empty()) {
    ARROW_RETURN_NOT_OK(Interrupted());
    if (MillisSince(begin) > timeout_ms) {
      return arrow::Status::IOError("replay of planned batch could not re-read all offsets of ",
                                    options_.topic, " within ", timeout_ms, " ms");
    }
    bool any = false;
    std::vector<int32_t> open;
    for (const auto& [p, r] : pending) open.push_back(p);
    for (int32_t p : open) {
      std::unique_ptr<RdKafka::Message> item = NextItem(p);
      if (!item) continue;
      any = true;
      const int64_t end = pending.at(p).end;
      if (item->err() == RdKafka::ERR__PARTITION_EOF) {
        if (item->offset() < end) {
          // The readable log ends before the range did: records were truncated away.
          ARROW_RETURN_NOT_OK(OnDataLoss(p, end, pending.at(p).start, item->offset()));
        }
        done(p);
        continue;
      }
      if (item->err() != RdKafka::ERR_NO_ERROR) {
        ARROW_RETURN_NOT_OK(ConsumeError(*item));
        continue;
      }
      if (item->offset() >= end) {
        done(p);
        continue;
      }
      ++found[p];
      const bool last = item->offset() + 1 >= end;
      messages.push_back(std::move(item));
      if (last) done(p);
    }
    if (!any) {
      ARROW_RETURN_NOT_OK(ServeConsumerQueue(50));
      DetachPartitionQueues();
    }
  }
  // Stop fetching past the ranges: a fetch waiting at a partition's end would hold back the
  // offset queries that come next on the same connection (Start's).
  ARROW_RETURN_NOT_OK(Assign({}));
  SortByPartitionOffset(&messages);
  return messages;
}

std::map<int32_t, int64_t> KafkaSource::KnownEnds(const std::map<int32_t, int64_t>& next) const {
  std::map<int32_t, int64_t> ends;
  for (const auto& [p, offset] : next) {
    int64_t low = 0, high = 0;
    const bool known =
        consumer_->get_watermark_offsets(options_.topic, p, &low, &high) == RdKafka::ERR_NO_ERROR && high >= 0;
    ends[p] = known ? high : -1;
  }
  return ends;
}

int64_t KafkaSource::Lag(const std::map<int32_t, int64_t>& next) const {
  int64_t lag = 0;
  for (const auto& [p, offset] : next) {
    int64_t low = 0, high = 0;
    if (consumer_->get_watermark_offsets(options_.topic, p, &low, &high) != RdKafka::ERR_NO_ERROR ||
        high < 0) {
      return -1;
    }
    lag += std::max<int64_t>(0, high - offset);
  }
  return lag;
}

void KafkaSource::CommitForMonitoring(const std::map<int32_t, int64_t>& next) {
  PartitionList list;
  for (const auto& [p, offset] : next) {
    list.items.push_back(RdKafka::TopicPartition::create(options_.topic, p, offset));
  }
  if (!list.items.empty()) consumer_->commitAsync(list.items);
}

}  // namespace medallion::source
