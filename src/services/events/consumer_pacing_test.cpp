#include "services/events/consumer_pacing.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace taskhub::events {
namespace {

using std::chrono::milliseconds;

TEST(ConsumerPacing, MoreRunsAtOnceIdlePollsFailuresBackOffAndHold) {
  ConsumerPacing p("test", milliseconds(250));
  auto fail = [] () -> bool { throw std::runtime_error("database away"); };
  EXPECT_EQ(p.run([] { return true; }).wait, milliseconds(0));
  EXPECT_EQ(p.run([] { return false; }).wait, milliseconds(250));
  auto first = p.run(fail);
  EXPECT_EQ(first.wait, milliseconds(500));
  EXPECT_FALSE(first.wake_cuts_short);  // commits waking the loop do not end a backoff
  EXPECT_EQ(p.run(fail).wait, milliseconds(1000));
  for (int i = 0; i < 10; ++i) p.run(fail);
  EXPECT_EQ(p.run(fail).wait, milliseconds(10'000));  // capped
  auto ok = p.run([] { return false; });
  EXPECT_EQ(ok.wait, milliseconds(250));  // a good pass ends the backoff
  EXPECT_TRUE(ok.wake_cuts_short);
  EXPECT_EQ(p.run(fail).wait, milliseconds(500));  // and the next failure starts over
}

}  // namespace
}  // namespace taskhub::events
