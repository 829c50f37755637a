// The raw-consume ceiling: how fast can one librdkafka consumer on this machine drain a topic
// when it does nothing with the records? Assigns every partition from the beginning, counts
// records and payload bytes until each partition reaches the end offset it had at start-up,
// and prints one JSON object: {"events": N, "bytes": B, "seconds": S, "cpu_s": C,
// "events_per_s": ..., "mb_per_s": ...}; cpu_s is the process's user + system time.
//
// With --bronze-dir DIR it is the floor of any engine that keeps a Bronze table instead: every
// 48 MiB of records is copied into a Bronze batch and written as one Parquet file (the
// engine's own BronzeFromRecords, Parquet settings and WriteParquetFile), on a second thread
// while the next batch is read. No parsing, no other table, no Delta log. --compression and
// --compression-level choose the codec (default: the engine's default for Bronze); the JSON
// then also gives "bronze_bytes", the size of the files written; --writer arrow writes them
// with Arrow's Parquet writer instead of Bronze's own encoder, to compare the two.
//
// Usage: consume_ceiling --brokers 127.0.0.1:19092 --topic T
//            [--bronze-dir DIR [--compression C] [--compression-level L] [--writer medallion|arrow]]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

#include "common/process_memory.h"
#include "engine/bronze_batch.h"
#include "engine/tables.h"
#include "sink/parquet_file.h"
#include "source/kafka_records.h"
#include "source/kafka_source.h"

namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "consume_ceiling: %s\n", message.c_str());
  std::exit(1);
}

/// Sets one property or dies with its name.
void Set(RdKafka::Conf* conf, const std::string& key, const std::string& value) {
  std::string error;
  if (conf->set(key, value, error) != RdKafka::Conf::CONF_OK) Die(key + ": " + error);
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

/// Holds records until 48 MiB (the engine's batch size), copies them into a Bronze batch as
/// the engine does, and writes it as a Parquet file on another thread.
class BronzeWriter {
 public:
  BronzeWriter(std::string dir, std::string topic, medallion::sink::ParquetOptions options)
      : dir_(std::move(dir)), topic_(std::move(topic)), options_(std::move(options)) {
    std::filesystem::create_directories(dir_);
  }

  int64_t written_bytes() const { return written_bytes_; }

  void Add(std::unique_ptr<RdKafka::Message> m) {
    bytes_ += static_cast<int64_t>(m->len() + m->key_len());
    messages_.push_back(std::move(m));
    if (bytes_ >= medallion::source::BatchLimits{}.max_bytes) Flush();
  }

  void Flush() {
    if (messages_.empty()) return;
    auto batch = medallion::engine::BronzeFromRecords(
        medallion::source::FetchedFromMessages(std::move(messages_), {}), topic_, 0);
    Check(batch.status());
    messages_.clear();  // moved from: empty again
    bytes_ = 0;
    Wait();
    const std::string path = dir_ + "/part-" + std::to_string(files_++) + ".parquet";
    writing_ = std::async(std::launch::async, [this, path, b = *batch]() -> arrow::Status {
      ARROW_ASSIGN_OR_RAISE(int64_t size, medallion::sink::WriteParquetFile(path, *b, options_));
      written_bytes_ += size;
      return arrow::Status::OK();
    });
  }

  void Wait() {
    if (writing_.valid()) Check(writing_.get());
  }

 private:
  static void Check(const arrow::Status& st) {
    if (!st.ok()) Die("bronze: " + st.ToString());
  }
  std::string dir_, topic_;
  medallion::sink::ParquetOptions options_;
  std::vector<std::unique_ptr<RdKafka::Message>> messages_;
  int64_t bytes_ = 0;
  int files_ = 0;
  int64_t written_bytes_ = 0;  // only by the writing thread, read after Wait()
  std::future<arrow::Status> writing_;
};

}  // namespace

int main(int argc, char** argv) {
  medallion::DisableTransparentHugePages();  // as medallion does: the same build's floor
  std::string brokers = "127.0.0.1:19092";
  std::string topic, bronze_dir;
  medallion::sink::ParquetOptions bronze_options =
      medallion::engine::ParquetFor(medallion::engine::PipelineOptions{}, "bronze");
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--brokers") == 0) brokers = argv[i + 1];
    else if (std::strcmp(argv[i], "--topic") == 0) topic = argv[i + 1];
    else if (std::strcmp(argv[i], "--bronze-dir") == 0) bronze_dir = argv[i + 1];
    else if (std::strcmp(argv[i], "--compression") == 0) {
      bronze_options.compression = argv[i + 1];
      bronze_options.compression_level.reset();
    } else if (std::strcmp(argv[i], "--compression-level") == 0) {
      bronze_options.compression_level = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--writer") == 0) {
      // medallion (Bronze's, sink::EncodePlainParquet) or arrow (Arrow's Parquet writer, as
      // Bronze was written before 2026-12-05): the same rows, codec and level.
      const std::string writer = argv[i + 1];
      if (writer != "medallion" && writer != "arrow") Die("--writer: expected medallion or arrow, not " + writer);
      if (writer == "arrow") bronze_options.plain_below_rows = 0;
    } else Die(std::string("unknown flag ") + argv[i]);
  }
  if (topic.empty()) Die("--topic is required");
  const auto codec_ok = medallion::sink::CheckCompression(bronze_options.compression, bronze_options.compression_level);
  if (!codec_ok.ok()) Die(codec_ok.ToString());

  // Same fetch settings as medallion's KafkaSource, so the ceiling is the one it can reach.
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  Set(conf.get(), "bootstrap.servers", brokers);
  Set(conf.get(), "group.id", "bench-consume-ceiling");
  Set(conf.get(), "enable.auto.commit", "false");
  Set(conf.get(), "enable.partition.eof", "false");
  Set(conf.get(), "fetch.wait.max.ms", "100");
  // The engine's fetch-ahead: two batches' bytes (SourceOptions::prefetch_bytes).
  Set(conf.get(), "queued.max.messages.kbytes",
      std::to_string(medallion::source::SourceOptions{}.prefetch_bytes >> 10));
  Set(conf.get(), "queued.min.messages", "10000000");
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer) Die("cannot create consumer: " + error);

  // Partitions and their end offsets at start-up.
  RdKafka::Metadata* raw_metadata = nullptr;
  std::unique_ptr<RdKafka::Topic> topic_handle(
      RdKafka::Topic::create(consumer.get(), topic, nullptr, error));
  if (consumer->metadata(false, topic_handle.get(), &raw_metadata, 10000) != RdKafka::ERR_NO_ERROR) {
    Die("cannot read metadata of " + topic);
  }
  std::unique_ptr<RdKafka::Metadata> metadata(raw_metadata);
  if (metadata->topics()->empty()) Die("no such topic " + topic);
  std::vector<int64_t> end;
  std::vector<RdKafka::TopicPartition*> assignment;
  int64_t remaining_partitions = 0;
  for (const RdKafka::PartitionMetadata* p : *metadata->topics()->at(0)->partitions()) {
    int64_t low = 0, high = 0;
    if (consumer->query_watermark_offsets(topic, p->id(), &low, &high, 10000) != RdKafka::ERR_NO_ERROR) {
      Die("cannot read offsets of partition " + std::to_string(p->id()));
    }
    if (static_cast<size_t>(p->id()) >= end.size()) end.resize(p->id() + 1, 0);
    end[p->id()] = high;
    if (high > low) {
      ++remaining_partitions;
      assignment.push_back(RdKafka::TopicPartition::create(topic, p->id(), RdKafka::Topic::OFFSET_BEGINNING));
    }
  }

  std::unique_ptr<BronzeWriter> bronze;
  if (!bronze_dir.empty()) bronze = std::make_unique<BronzeWriter>(bronze_dir, topic, bronze_options);
  const double cpu_start = CpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  if (consumer->assign(assignment) != RdKafka::ERR_NO_ERROR) Die("assign failed");
  RdKafka::TopicPartition::destroy(assignment);
  int64_t events = 0, bytes = 0;
  while (remaining_partitions > 0) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(1000));
    if (m->err() == RdKafka::ERR__TIMED_OUT) continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) Die("consume: " + m->errstr());
    ++events;
    bytes += static_cast<int64_t>(m->len()) + static_cast<int64_t>(m->key_len());
    if (m->offset() + 1 == end[m->partition()]) --remaining_partitions;
    if (bronze) bronze->Add(std::move(m));
  }
  if (bronze) {
    bronze->Flush();
    bronze->Wait();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = CpuSeconds() - cpu_start;
  consumer->close();
  std::string bronze_bytes;
  if (bronze) bronze_bytes = ", \"bronze_bytes\": " + std::to_string(bronze->written_bytes());
  std::printf("{\"events\": %lld, \"bytes\": %lld, \"seconds\": %.3f, \"cpu_s\": %.3f, \"events_per_s\": %.0f, \"mb_per_s\": %.1f%s}\n",
              static_cast<long long>(events), static_cast<long long>(bytes), seconds, cpu, events / seconds,
              bytes / seconds / 1e6, bronze_bytes.c_str());
  return 0;
}
