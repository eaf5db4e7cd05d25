#pragma once
// Runs a program as a child process with a deadline, for work the server should not do in its
// own address space (image decoding for thumbnails: a crash or a decoder bug stays in the
// child, and the server does not load the ~100 libraries libvips links).
#include <chrono>
#include <string>
#include <vector>

namespace taskhub {

struct ProcessResult {
  int exit_code = -1;      // -1 when killed or not started
  bool timed_out = false;  // killed at the deadline
  std::string output;      // stdout, at most max_output bytes (the rest is dropped)
  std::string error;       // stderr, likewise
};

// argv[0] is looked up in PATH. The child gets an empty stdin, a minimal environment (PATH and
// LANG=C) and its own process group, killed (SIGKILL) at the deadline. Throws
// std::runtime_error only when the child cannot be started at all.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          std::size_t max_output = 64 * 1024);

}  // namespace taskhub
