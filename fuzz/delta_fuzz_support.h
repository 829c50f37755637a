#pragma once
// What the two Delta fuzz targets (delta_log_fuzz, delta_checkpoint_fuzz) check of any snapshot
// medallion accepted from another writer.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sink/delta_actions.h"

namespace medallion::fuzz {

/// Reports a broken invariant of `target` and aborts (libFuzzer keeps the input).
[[noreturn]] inline void Fail(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s invariant broken: %s\n", target, what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// Everything in `s`, as medallion writes it to the JSON log: one action per line, every field
/// the snapshot holds, so equal text is an equal snapshot.
inline std::string Rewrite(const sink::DeltaSnapshot& s) {
  std::string out;
  if (s.protocol) out += sink::ProtocolActionJson(*s.protocol) + "\n";
  if (s.metadata) out += sink::MetadataActionJson(*s.metadata) + "\n";
  for (const auto& [app, txn] : s.txns) out += sink::TxnActionJson(app, txn) + "\n";
  for (const auto& [path, add] : s.live) out += sink::AddActionJson(add) + "\n";
  for (const auto& [path, remove] : s.tombstones) out += sink::RemoveActionJson(remove) + "\n";
  return out;
}

/// Sizes of at least zero, live_bytes the sum of the live sizes (modulo 2^64, as the snapshot
/// sums them), no path both live and removed.
inline void CheckFiles(const char* target, const sink::DeltaSnapshot& s) {
  uint64_t bytes = 0;
  for (const auto& [path, add] : s.live) {
    if (add.size < 0) Fail(target, "a live file of negative size was accepted");
    bytes += static_cast<uint64_t>(add.size);
    if (s.tombstones.count(path) != 0) Fail(target, "'" + path + "' is both live and removed");
  }
  for (const auto& [path, remove] : s.tombstones) {
    if (remove.size < 0) Fail(target, "a removed file of negative size was accepted");
  }
  if (bytes != static_cast<uint64_t>(s.live_bytes)) Fail(target, "live_bytes is not the sum of the live files' sizes");
}

}  // namespace medallion::fuzz
