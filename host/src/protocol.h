// The framed protocol a task's child process speaks to the host over its channel pipe.
//
// Modelled on GStreamer's plugin scanner: every frame has a magic, a protocol version, a type and a
// length with a hard cap, so a plugin that writes garbage into the channel (it should not be able
// to: its stdout/stderr are a different pipe) is detected instead of trusted.
//
//   offset 0  u32 magic  "HBPF" (0x46504248 little-endian)
//          4  u8  protocol version (1)
//          5  u8  frame type
//          6  u16 reserved (0)
//          8  u32 payload length (<= kMaxPayload)
//         12  payload
// Integers are in host byte order (both ends are the same process image). Strings in payloads are a
// u32 length followed by that many bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "error.h"

namespace hb::protocol {

inline constexpr uint32_t kMagic = 0x46504248;  // "HBPF"
inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 12;
inline constexpr uint32_t kMaxPayload = 64 * 1024;

// The plugin loaded and accepted the host's ABI.
struct Descriptor {
    uint32_t abi_version = 0;
    uint32_t default_timeout_sec = 0;
    std::string name, version, description, default_schedule;
};

// Loading failed before run; kind is a LoadErrorKind value (outcome.h).
struct LoadFailure {
    int32_t kind = 0;
    std::string message;
};

struct Log {
    int32_t level = 0;
    std::string message;
};

struct Result {
    int32_t status = 0;
    std::string message;
};

using Message = std::variant<Descriptor, LoadFailure, Log, Result>;

// Encodes one message as a whole frame (payloads longer than the cap are cut to fit).
std::string encode(const Message& message);

// Incremental decoder: feed() whatever the pipe gave, then call next() until it returns nullopt.
// After an error the decoder stays failed (the channel is no longer trusted).
class Decoder {
public:
    void feed(std::string_view bytes);
    std::optional<hb::Result<Message>> next();
    [[nodiscard]] bool failed() const { return failed_; }
    [[nodiscard]] size_t buffered() const { return buffer_.size() - pos_; }

private:
    std::string buffer_;
    size_t pos_ = 0;
    bool failed_ = false;
};

}  // namespace hb::protocol
