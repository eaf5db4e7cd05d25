#pragma once
// The row the raw commit-rate baselines insert (bench/sqlite_commit_rate.cpp,
// bench/pg_commit_rate.cpp): shaped like a task, so the two databases commit the same job.
#include <cstddef>
#include <random>
#include <string>

namespace bench {

// A text id shaped like a UUID.
inline std::string fake_id(std::mt19937_64& rng) {
  static const char* hex = "0123456789abcdef";
  std::string s(36, '-');
  for (int i = 0; i < 36; ++i)
    if (i != 8 && i != 13 && i != 18 && i != 23) s[static_cast<std::size_t>(i)] = hex[rng() & 15];
  return s;
}

inline const std::string kTitle = "Benchmark task: a realistic title of some forty characters";
inline const std::string kDescription(300, 'd');

}  // namespace bench
