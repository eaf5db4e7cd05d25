#include "http/stream.hpp"

namespace taskhub::http {

SendQueue::Push SendQueue::push(std::shared_ptr<const std::string> text) {
  std::lock_guard lk(mu_);
  if (closing_ || closed_) return Push::closed;
  if (size_locked() + 1 > max_messages_ || bytes_ + text->size() > max_bytes_) {
    closing_ = true;
    code_ = kCloseSlowConsumer;
    reason_ = "slow consumer";
    q_.reset();
    bytes_ = 0;
    return Push::overflow;
  }
  bytes_ += text->size();
  if (!q_) q_ = std::make_unique<std::deque<std::shared_ptr<const std::string>>>();
  q_->push_back(std::move(text));
  return Push::queued;
}

bool SendQueue::request_close(uint16_t code, std::string reason) {
  std::lock_guard lk(mu_);
  if (closing_ || closed_) return false;
  closing_ = true;
  code_ = code;
  reason_ = std::move(reason);
  return true;
}

SendQueue::Next SendQueue::next() {
  std::lock_guard lk(mu_);
  Next n;
  if (closed_) {
    n.closed = true;
  } else if (q_) {
    n.msg = std::move(q_->front());
    q_->pop_front();
    bytes_ -= n.msg->size();
    if (q_->empty()) q_.reset();
  } else if (closing_) {
    n.closing = true;
    n.code = code_;
    n.reason = reason_;
  }
  return n;
}

void SendQueue::mark_closed() {
  std::lock_guard lk(mu_);
  closed_ = true;
  q_.reset();
  bytes_ = 0;
}

bool SendQueue::closing() const {
  std::lock_guard lk(mu_);
  return closing_ || closed_;
}

std::size_t SendQueue::size() const {
  std::lock_guard lk(mu_);
  return size_locked();
}

std::size_t SendQueue::bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
}

}  // namespace taskhub::http
