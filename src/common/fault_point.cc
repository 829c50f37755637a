#include "common/fault_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

namespace medallion {
namespace {

struct FaultSpec {
  std::string name;
  long fire_on_hit = 1;
  bool armed = false;
  bool throws = false;  // ":throw": std::bad_alloc instead of SIGKILL
  bool stops = false;   // ":stop": SIGSTOP (the process pauses there until SIGCONT)
};

FaultSpec& Spec() {
  static FaultSpec spec = [] {
    FaultSpec s;
    const char* env = std::getenv("MEDALLION_FAULT_POINT");
    if (env == nullptr || *env == '\0') return s;
    std::string v(env);
    if (v.ends_with(":throw")) {
      s.throws = true;
      v.resize(v.size() - 6);
    } else if (v.ends_with(":stop")) {
      s.stops = true;
      v.resize(v.size() - 5);
    }
    const auto at = v.find('@');
    s.name = v.substr(0, at);
    if (at != std::string::npos) s.fire_on_hit = std::max(1L, std::strtol(v.c_str() + at + 1, nullptr, 10));
    s.armed = true;
    return s;
  }();
  return spec;
}

}  // namespace

void FaultPoint(std::string_view name) {
  static std::atomic<long> hits{0};  // tables are written from two threads
  FaultSpec& spec = Spec();
  if (!spec.armed || name != spec.name) return;
  const long hit = ++hits;
  if (hit < spec.fire_on_hit) return;
  if (spec.stops) {
    if (hit > spec.fire_on_hit) return;  // pauses once
    std::fprintf(stderr, "fault point '%s' hit %ld: stopping process (SIGSTOP)\n", spec.name.c_str(), hit);
    std::fflush(stderr);
    ::kill(::getpid(), SIGSTOP);
    return;
  }
  if (spec.throws) {
    std::fprintf(stderr, "fault point '%s' hit %ld: throwing std::bad_alloc\n", spec.name.c_str(), hit);
    std::fflush(stderr);
    throw std::bad_alloc();
  }
  std::fprintf(stderr, "fault point '%s' hit %ld: killing process\n", spec.name.c_str(), hit);
  std::fflush(stderr);
  ::kill(::getpid(), SIGKILL);
}

}  // namespace medallion
