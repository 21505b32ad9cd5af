#include "protocol.h"

#include <cstring>

namespace hb::protocol {

namespace {

enum : uint8_t { kDescriptor = 1, kLoadFailure = 2, kLog = 3, kResult = 4 };

void put_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put_i32(std::string& out, int32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put_str(std::string& out, std::string_view s) {
    put_u32(out, static_cast<uint32_t>(s.size()));
    out.append(s);
}

class Reader {
public:
    explicit Reader(std::string_view p) : p_(p) {}
    bool u32(uint32_t& v) { return raw(&v, sizeof v); }
    bool i32(int32_t& v) { return raw(&v, sizeof v); }
    bool str(std::string& s) {
        uint32_t n = 0;
        if (!u32(n) || n > p_.size() - pos_) return false;
        s.assign(p_.substr(pos_, n));
        pos_ += n;
        return true;
    }
    [[nodiscard]] bool done() const { return pos_ == p_.size(); }

private:
    bool raw(void* v, size_t n) {
        if (p_.size() - pos_ < n) return false;
        std::memcpy(v, p_.data() + pos_, n);
        pos_ += n;
        return true;
    }
    std::string_view p_;
    size_t pos_ = 0;
};

// Cuts strings so the whole payload stays under the cap.
std::string_view fit(std::string_view s, size_t room) { return s.size() > room ? s.substr(0, room) : s; }

}  // namespace

std::string encode(const Message& message) {
    std::string payload;
    uint8_t type = 0;
    constexpr size_t room = kMaxPayload - 64;
    if (const auto* d = std::get_if<Descriptor>(&message)) {
        type = kDescriptor;
        put_u32(payload, d->abi_version);
        put_u32(payload, d->default_timeout_sec);
        const size_t each = room / 4;
        put_str(payload, fit(d->name, each));
        put_str(payload, fit(d->version, each));
        put_str(payload, fit(d->description, each));
        put_str(payload, fit(d->default_schedule, each));
    } else if (const auto* f = std::get_if<LoadFailure>(&message)) {
        type = kLoadFailure;
        put_i32(payload, f->kind);
        put_str(payload, fit(f->message, room));
    } else if (const auto* l = std::get_if<Log>(&message)) {
        type = kLog;
        put_i32(payload, l->level);
        put_str(payload, fit(l->message, room));
    } else if (const auto* r = std::get_if<Result>(&message)) {
        type = kResult;
        put_i32(payload, r->status);
        put_str(payload, fit(r->message, room));
    }
    std::string frame;
    frame.reserve(kHeaderSize + payload.size());
    put_u32(frame, kMagic);
    frame.push_back(static_cast<char>(kVersion));
    frame.push_back(static_cast<char>(type));
    frame.append(2, '\0');
    put_u32(frame, static_cast<uint32_t>(payload.size()));
    frame += payload;
    return frame;
}

void Decoder::feed(std::string_view bytes) {
    if (failed_) return;
    if (pos_ > 0 && pos_ == buffer_.size()) {
        buffer_.clear();
        pos_ = 0;
    } else if (pos_ > 64 * 1024) {
        buffer_.erase(0, pos_);
        pos_ = 0;
    }
    buffer_.append(bytes);
}

std::optional<hb::Result<Message>> Decoder::next() {
    if (failed_) return std::nullopt;
    const std::string_view avail(buffer_.data() + pos_, buffer_.size() - pos_);
    if (avail.size() < kHeaderSize) return std::nullopt;
    uint32_t magic = 0, length = 0;
    std::memcpy(&magic, avail.data(), 4);
    const auto version = static_cast<uint8_t>(avail[4]);
    const auto type = static_cast<uint8_t>(avail[5]);
    std::memcpy(&length, avail.data() + 8, 4);
    auto bad = [this](std::string why) -> std::optional<hb::Result<Message>> {
        failed_ = true;
        return hb::Result<Message>(hb::fail("protocol error: " + std::move(why)));
    };
    if (magic != kMagic) return bad("bad frame magic");
    if (version != kVersion) return bad("unsupported protocol version " + std::to_string(version));
    if (length > kMaxPayload) return bad("frame of " + std::to_string(length) + " bytes exceeds the cap");
    if (avail.size() < kHeaderSize + length) return std::nullopt;
    Reader r(avail.substr(kHeaderSize, length));
    pos_ += kHeaderSize + length;

    bool ok = false;
    Message m;
    switch (type) {
        case kDescriptor: {
            Descriptor d;
            ok = r.u32(d.abi_version) && r.u32(d.default_timeout_sec) && r.str(d.name) && r.str(d.version) &&
                 r.str(d.description) && r.str(d.default_schedule);
            m = std::move(d);
            break;
        }
        case kLoadFailure: {
            LoadFailure f;
            ok = r.i32(f.kind) && r.str(f.message);
            m = std::move(f);
            break;
        }
        case kLog: {
            Log l;
            ok = r.i32(l.level) && r.str(l.message);
            m = std::move(l);
            break;
        }
        case kResult: {
            Result res;
            ok = r.i32(res.status) && r.str(res.message);
            m = std::move(res);
            break;
        }
        default:
            return bad("unknown frame type " + std::to_string(type));
    }
    if (!ok || !r.done()) return bad("malformed frame payload");
    return hb::Result<Message>(std::move(m));
}

}  // namespace hb::protocol
