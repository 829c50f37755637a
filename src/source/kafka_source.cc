#include "source/kafka_source.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

namespace medallion::source {
namespace {

using Clock = std::chrono::steady_clock;

/// How long start-up waits for a partition's offsets while the broker recovers.
constexpr int kOffsetQueryMs = 10000;
/// How to go on when records are gone, in every data-loss message.
constexpr char kAcceptDataLoss[] = "set kafka.fail_on_data_loss = false (--fail-on-data-loss false)";

int64_t MillisSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

/// Errors that librdkafka recovers from by itself (broker restarts, leader moves).
bool IsTransient(RdKafka::ErrorCode err) {
  switch (err) {
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

/// Turns librdkafka's error and log events into engine log lines. Connection trouble is
/// reported once when it starts and once when it ends, not on every retry.
class KafkaEventLogger : public RdKafka::EventCb {
 public:
  explicit KafkaEventLogger(std::string brokers) : brokers_(std::move(brokers)) {}
  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        if (event.err() == RdKafka::ERR__ALL_BROKERS_DOWN || event.err() == RdKafka::ERR__TRANSPORT ||
            event.err() == RdKafka::ERR__RESOLVE) {
          if (!down_) {
            spdlog::warn("Kafka at {} is unreachable ({}); waiting for it, the batch in flight "
                         "resumes when it is back",
                         brokers_, event.str());
            down_ = true;
          }
        } else if (event.fatal()) {
          spdlog::error("Kafka fatal error: {}", event.str());
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
  /// Called when data flows again.
  void Recovered() {
    if (down_) spdlog::info("Kafka at {} is reachable again", brokers_);
    down_ = false;
  }

 private:
  std::string brokers_;
  bool down_ = false;
};

KafkaSource::KafkaSource(SourceOptions options) : options_(std::move(options)) {}

KafkaSource::~KafkaSource() {
  if (consumer_) consumer_->close();
}

arrow::Result<std::unique_ptr<KafkaSource>> KafkaSource::Make(const SourceOptions& options) {
  if (options.starting_offsets != "earliest" && options.starting_offsets != "latest") {
    return arrow::Status::Invalid("starting_offsets: expected 'earliest' or 'latest', got '",
                                  options.starting_offsets, "'");
  }
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  std::map<std::string, std::string> settings = {
      {"bootstrap.servers", options.brokers},
      {"group.id", options.group_id},
      {"client.id", "medallion"},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      // Only an offset the partition no longer holds resets (every assignment names its
      // offset): an error to report, unless data loss is accepted.
      {"auto.offset.reset", options.fail_on_data_loss ? "error" : "earliest"},
      {"enable.partition.eof", "false"},
      {"fetch.wait.max.ms", "100"},
      // Fetch ahead by bytes only: the count bound (queued.min.messages, 100000 by
      // default) would stop fetching at about one batch, and librdkafka 2.0 then waits
      // ~0.4 s before it fetches again once the engine has taken that batch.
      {"queued.max.messages.kbytes", std::to_string(std::clamp<int64_t>(options.prefetch_bytes >> 10, 1, 2097151))},
      {"queued.min.messages", "10000000"},
      {"log.connection.close", "false"},
  };
  for (const auto& [k, v] : options.extra) settings[k] = v;
  for (const auto& [k, v] : settings) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      return arrow::Status::Invalid("kafka setting '", k, "'='", v, "': ", err);
    }
  }
  auto source = std::unique_ptr<KafkaSource>(new KafkaSource(options));
  source->events_ = std::make_unique<KafkaEventLogger>(options.brokers);
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(source->events_.get()), err) !=
      RdKafka::Conf::CONF_OK) {
    return arrow::Status::Invalid("kafka event callback: ", err);
  }
  source->consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!source->consumer_) return arrow::Status::IOError("cannot create Kafka consumer: ", err);
  return source;
}

arrow::Result<std::vector<int32_t>> KafkaSource::Partitions(int timeout_ms) {
  const auto begin = Clock::now();
  std::string topic_err;
  std::unique_ptr<RdKafka::Topic> topic(
      RdKafka::Topic::create(consumer_.get(), options_.topic, nullptr, topic_err));
  if (!topic) return arrow::Status::IOError("topic handle '", options_.topic, "': ", topic_err);
  bool warned = false;
  while (true) {
    RdKafka::Metadata* raw = nullptr;
    const auto err = consumer_->metadata(false, topic.get(), &raw, 5000);
    std::unique_ptr<RdKafka::Metadata> md(raw);
    if (err == RdKafka::ERR_NO_ERROR && md && !md->topics()->empty()) {
      const auto* t = md->topics()->front();
      if (t->err() == RdKafka::ERR_NO_ERROR && !t->partitions()->empty()) {
        std::vector<int32_t> ids;
        for (const auto* p : *t->partitions()) ids.push_back(p->id());
        std::sort(ids.begin(), ids.end());
        partitions_ = ids;
        return ids;
      }
      if (t->err() != RdKafka::ERR_UNKNOWN_TOPIC_OR_PART && t->err() != RdKafka::ERR_LEADER_NOT_AVAILABLE) {
        return arrow::Status::IOError("topic '", options_.topic, "': ", RdKafka::err2str(t->err()));
      }
      if (MillisSince(begin) >= timeout_ms) {
        return arrow::Status::IOError("topic '", options_.topic, "' does not exist on ",
                                      options_.brokers, " (create it, e.g. medallion produce "
                                      "--create-topic-partitions 4)");
      }
    } else if (MillisSince(begin) >= timeout_ms) {
      return arrow::Status::IOError("cannot reach Kafka at ", options_.brokers, ": ",
                                    RdKafka::err2str(err));
    } else if (!warned) {
      spdlog::warn("waiting for Kafka at {} ({})", options_.brokers, RdKafka::err2str(err));
      warned = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
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
  PartitionList list;
  for (const auto& [p, offset] : at) {
    list.items.push_back(RdKafka::TopicPartition::create(options_.topic, p, offset));
  }
  const auto err = consumer_->assign(list.items);
  if (err != RdKafka::ERR_NO_ERROR) {
    return arrow::Status::IOError("cannot assign partitions of ", options_.topic, ": ",
                                  RdKafka::err2str(err));
  }
  return arrow::Status::OK();
}

arrow::Status KafkaSource::Start(const std::map<int32_t, int64_t>& next) {
  positions_.clear();
  for (int32_t p : partitions_) {
    ARROW_ASSIGN_OR_RAISE(const auto span, OffsetSpan(p, kOffsetQueryMs));
    const auto [low, high] = span;
    auto it = next.find(p);
    if (it == next.end()) {
      positions_[p] = options_.starting_offsets == "latest" ? high : low;
    } else if (it->second >= low && it->second <= high) {
      positions_[p] = it->second;
    } else {
      ARROW_RETURN_NOT_OK(OnDataLoss(p, it->second, low, high));
      positions_[p] = low;
    }
  }
  return Assign(positions_);
}

arrow::Result<std::pair<int64_t, int64_t>> KafkaSource::OffsetSpan(int32_t partition, int timeout_ms) {
  const auto begin = Clock::now();
  while (true) {
    int64_t low = 0, high = 0;
    const auto err = consumer_->query_watermark_offsets(options_.topic, partition, &low, &high, 5000);
    if (err == RdKafka::ERR_NO_ERROR) return std::make_pair(low, high);
    if (!IsTransient(err) || MillisSince(begin) >= timeout_ms) {
      return arrow::Status::IOError("cannot read offsets of ", options_.topic, "/", partition, ": ",
                                    RdKafka::err2str(err));
    }
    spdlog::warn("waiting for offsets of {}/{}: {}", options_.topic, partition, RdKafka::err2str(err));
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

arrow::Status KafkaSource::Poll(const BatchLimits& limits, const std::map<int32_t, int64_t>* stop_at,
                                std::vector<std::unique_ptr<RdKafka::Message>>* messages,
                                BatchOffsets* offsets) {
  messages->clear();
  offsets->clear();
  const auto begin = Clock::now();
  int64_t bytes = 0;
  const std::map<int32_t, int64_t> batch_start = positions_;
  while (static_cast<int64_t>(messages->size()) < limits.max_records && bytes < limits.max_bytes) {
    if (stop_at != nullptr && Reached(positions_, *stop_at)) break;
    const int64_t left = limits.max_wait_ms - MillisSince(begin);
    if (left <= 0) break;
    std::unique_ptr<RdKafka::Message> msg(consumer_->consume(static_cast<int>(std::min<int64_t>(left, 100))));
    if (msg->err() != RdKafka::ERR_NO_ERROR) {
      if (IsTransient(msg->err())) {
        if (msg->err() != RdKafka::ERR__TIMED_OUT) {
          spdlog::warn("Kafka: {} (retrying)", msg->errstr());
        }
        continue;
      }
      if (msg->err() == RdKafka::ERR__AUTO_OFFSET_RESET) return ReadPastDeletedRecords(*msg);
      return arrow::Status::IOError("Kafka consume failed: ", msg->errstr());
    }
    events_->Recovered();
    const int32_t p = msg->partition();
    const int64_t off = msg->offset();
    if (stop_at != nullptr) {
      auto it = stop_at->find(p);
      if (it == stop_at->end() || off >= it->second) continue;
    }
    positions_[p] = off + 1;
    bytes += static_cast<int64_t>(msg->len() + (msg->key() ? msg->key()->size() : 0));
    messages->push_back(std::move(msg));
  }
  SortByPartitionOffset(messages);
  for (const auto& m : *messages) {
    auto [it, inserted] = offsets->try_emplace(m->partition(), OffsetRange{m->offset(), m->offset() + 1});
    if (!inserted) it->second.end = m->offset() + 1;
  }
  for (auto& [p, range] : *offsets) range.start = std::min(range.start, batch_start.at(p));
  return arrow::Status::OK();
}

arrow::Status KafkaSource::Replay(const BatchOffsets& offsets, int timeout_ms,
                                  std::vector<std::unique_ptr<RdKafka::Message>>* messages) {
  messages->clear();
  std::map<int32_t, int64_t> at;
  std::map<int32_t, int64_t> pending;  // partition → end, while not reached
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
      pending[p] = range.end;
    }
  }
  if (at.empty()) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(Assign(at));
  const auto begin = Clock::now();
  while (!pending.empty()) {
    if (MillisSince(begin) > timeout_ms) {
      return arrow::Status::IOError("replay of planned batch could not re-read all offsets of ",
                                    options_.topic, " within ", timeout_ms, " ms");
    }
    std::unique_ptr<RdKafka::Message> msg(consumer_->consume(200));
    if (msg->err() != RdKafka::ERR_NO_ERROR) {
      if (IsTransient(msg->err())) continue;
      if (msg->err() == RdKafka::ERR__AUTO_OFFSET_RESET) return ReadPastDeletedRecords(*msg);
      return arrow::Status::IOError("Kafka consume failed during replay: ", msg->errstr());
    }
    auto it = pending.find(msg->partition());
    if (it == pending.end() || msg->offset() >= it->second) continue;
    if (msg->offset() + 1 >= it->second) pending.erase(it);
    messages->push_back(std::move(msg));
  }
  SortByPartitionOffset(messages);
  return arrow::Status::OK();
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
