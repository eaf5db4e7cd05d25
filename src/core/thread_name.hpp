#pragma once
// Names the calling thread for `top -H`, `ps -L`, perf and gdb, so an operator can tell the
// event relay from a consumer or a request thread. Linux keeps at most 15 bytes: longer names
// are cut. Best effort: a failure changes nothing else.
#include <string_view>

namespace taskhub {

void set_thread_name(std::string_view name);

}  // namespace taskhub
