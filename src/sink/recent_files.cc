#include "sink/recent_files.h"

#include <arrow/util/byte_size.h>

namespace medallion::sink {

void RecentFiles::Put(const std::string& path, std::shared_ptr<arrow::RecordBatch> rows) {
  if (rows == nullptr) return;
  auto measured = arrow::util::ReferencedBufferSize(*rows);
  const int64_t bytes = measured.ok() ? *measured : 0;
  if (!measured.ok() || bytes > max_bytes_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  EvictTo(max_bytes_ - bytes);
  auto [it, added] = entries_.try_emplace(path, Entry{std::move(rows), bytes});
  if (!added) return;  // a path is written once; a second put would be a caller's mistake
  order_.push_back(path);
  bytes_ += bytes;
}

std::shared_ptr<arrow::RecordBatch> RecentFiles::Take(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(path);
  if (it == entries_.end()) return nullptr;
  auto rows = std::move(it->second.rows);
  bytes_ -= it->second.bytes;
  entries_.erase(it);
  return rows;
}

int64_t RecentFiles::bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

void RecentFiles::EvictTo(int64_t max_bytes) {
  while (bytes_ > max_bytes && !order_.empty()) {
    auto it = entries_.find(order_.front());
    order_.pop_front();
    if (it == entries_.end()) continue;
    bytes_ -= it->second.bytes;
    entries_.erase(it);
  }
  // Paths taken already leave their names in order_; drop them once they outnumber the live.
  if (order_.size() > 2 * entries_.size() + 64) {
    std::deque<std::string> live;
    for (auto& path : order_) {
      if (entries_.count(path) != 0) live.push_back(std::move(path));
    }
    order_ = std::move(live);
  }
}

}  // namespace medallion::sink
