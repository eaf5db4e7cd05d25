#include "core/thread_name.hpp"

#include <pthread.h>

#include <algorithm>
#include <string>

namespace taskhub {

void set_thread_name(std::string_view name) {
  std::string n;
  for (char c : name) {
    if (c == ':') continue;  // "events: relay" -> "events-relay"
    n += c == ' ' ? '-' : c;
  }
  n.resize(std::min<std::size_t>(n.size(), 15));
  pthread_setname_np(pthread_self(), n.c_str());
}

}  // namespace taskhub
