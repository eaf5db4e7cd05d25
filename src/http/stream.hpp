#pragma once
// Long-lived connections (WebSocket and Server-Sent Events) without Beast in the interface.
//
// A route handler that wants a stream answers a Response whose `stream` is set:
//   - kind websocket: the request must be a WebSocket upgrade; the server completes the
//     handshake (101) and then calls the handler's on_open / on_message / on_close;
//   - kind sse: the server writes the status and headers of the Response (no length; the
//     body is delimited by the connection close) and then every text given to send().
// The server owns the bounds: incoming message size, the per-connection send queue
// (messages and bytes), WebSocket pings / SSE heartbeat comments, and the write deadline.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

namespace taskhub::http {

// Close codes used by the server itself (application codes are 4000-4999).
inline constexpr uint16_t kCloseSlowConsumer = 4008;  // the send queue bound was exceeded
inline constexpr uint16_t kCloseGoingAway = 1001;     // server shutting down

struct StreamLimits {
  std::size_t max_message_bytes = 64 * 1024;   // incoming WebSocket message; larger -> close 1009
  std::size_t max_queue_messages = 1024;       // outgoing messages not yet written
  std::size_t max_queue_bytes = 4 * 1024 * 1024;
  // WebSocket: a ping after this long without incoming data; a peer silent for twice this
  // (no pong) is dropped. SSE: a ": heartbeat" comment after this long without an event.
  std::chrono::milliseconds ping_interval{25'000};
  // A write (or the close of a slow consumer) that cannot finish within this drops the peer.
  std::chrono::milliseconds write_timeout{10'000};
};

// The server side of an open stream. Thread-safe; never blocks.
class StreamConnection {
 public:
  virtual ~StreamConnection() = default;
  // Queues one message (a WebSocket text frame, or raw SSE text). Returns false when the
  // connection is closing or closed; when the message would exceed the queue bounds the
  // connection is closed with kCloseSlowConsumer ("slow consumer") and false is returned.
  virtual bool send(std::shared_ptr<const std::string> text) = 0;
  bool send(std::string text) { return send(std::make_shared<const std::string>(std::move(text))); }
  // Sends what is queued, then closes (WebSocket close frame with code and reason; SSE:
  // the connection is closed). Idempotent.
  virtual void close(uint16_t code, std::string reason) = 0;
  virtual bool is_open() const = 0;
};

// The outgoing queue of one stream: bounded in messages and bytes; filled from any thread,
// drained by the connection's writer. Exceeding a bound never grows it: what is queued is
// dropped and the queue turns to "closing" with kCloseSlowConsumer.
class SendQueue {
 public:
  SendQueue(std::size_t max_messages, std::size_t max_bytes) : max_messages_(max_messages), max_bytes_(max_bytes) {}
  enum class Push { queued, overflow, closed };
  Push push(std::shared_ptr<const std::string> text);
  // Asks for a close after what is queued; false when already closing or closed.
  bool request_close(uint16_t code, std::string reason);
  struct Next {
    std::shared_ptr<const std::string> msg;  // set: write it
    bool closing = false;                    // nothing left and a close was asked for
    bool closed = false;
    uint16_t code = 1000;
    std::string reason;
  };
  Next next();
  void mark_closed();  // the connection is gone: drops everything, refuses more
  bool closing() const;  // closing or closed
  std::size_t size() const;
  std::size_t bytes() const;

 private:
  std::size_t size_locked() const { return q_ ? q_->size() : 0; }
  const std::size_t max_messages_, max_bytes_;
  mutable std::mutex mu_;
  // Made on the first push and dropped when drained: an empty std::deque still holds ~600
  // bytes, and most of the 10k streams a process holds are idle.
  std::unique_ptr<std::deque<std::shared_ptr<const std::string>>> q_;
  std::size_t bytes_ = 0;
  bool closing_ = false;
  bool closed_ = false;
  uint16_t code_ = 1000;
  std::string reason_;
};

enum class StreamKind { websocket, sse };

// Implemented by the application. Called on an I/O thread: must not block (hand work to
// another thread). on_close is called exactly once, after on_open, whatever ended the stream.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  virtual void on_open(std::shared_ptr<StreamConnection> conn) = 0;
  virtual void on_message(std::string text) { (void)text; }  // WebSocket text messages only
  virtual void on_close() = 0;
};

struct StreamUpgrade {
  StreamKind kind = StreamKind::websocket;
  std::shared_ptr<StreamHandler> handler;
  StreamLimits limits;
};

}  // namespace taskhub::http
